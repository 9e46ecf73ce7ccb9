"""The model families a search can try, each a pipeline builder and a tuning space.

Every family builds a scikit-learn ``Pipeline`` (``features`` then ``model``) for a
:class:`FamilyContext` and a mapping of parameters, so search, evaluation, the registry
and prediction treat scikit-learn and PyTorch models the same way.

==========================  ===================================================  =====================
family                      model                                                tasks
==========================  ===================================================  =====================
``dummy``                   prior / mean / byte-unigram baseline                 all
``linear``                  logistic regression / ridge                          tables, text, images
``svm``                     support vector machine, RBF kernel (default <=10k rows) tables, images
``tree``                    decision tree                                        tables, text, images
``forest``                  random forest                                        tables, text, images
``hist_gradient_boosting``  histogram gradient boosting                          tables, text, images
``mlp``                     PyTorch multi-layer perceptron                       tables, images
``cnn``                     PyTorch small convolutional network                  images
``gru``                     PyTorch bidirectional GRU over words                 text classification
``transformer``             PyTorch transformer encoder over words               text classification
``gpt``                     PyTorch byte-level GPT-style causal language model   language modelling
==========================  ===================================================  =====================

PyTorch modules are imported only when a PyTorch family is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from harvest.errors import InvalidInputError
from training.features import (
    FeatureProfile,
    ImageLoader,
    Kind,
    TextJoiner,
    preprocessor,
    with_model,
)
from training.spec import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna

TABLE_TASKS = frozenset({Task.CLASSIFICATION, Task.REGRESSION})
CLASSIFY = frozenset({Task.CLASSIFICATION, Task.TEXT_CLASSIFICATION, Task.IMAGE_CLASSIFICATION})
ALL_BUT_LM = frozenset(Task) - {Task.LANGUAGE_MODELLING}


@dataclass(frozen=True)
class FamilyContext:
    """What a family needs to know to build a pipeline for one problem."""

    task: Task
    profile: FeatureProfile
    seed: int = 0
    image_root: str = ""
    image_size: tuple[int, int] = (32, 32)
    image_mode: str = "RGB"
    max_time: float | None = None  # seconds a PyTorch fit may take before it stops early


Space = Callable[["optuna.Trial", Task], dict[str, ParamValue]]
Builder = Callable[[FamilyContext, Params], Pipeline]


@dataclass(frozen=True)
class Family:
    """One kind of model: how to build it, what to tune, where it applies."""

    name: str
    description: str
    tasks: frozenset[Task]
    build: Builder
    space: Space
    default_for: frozenset[Task]
    uses_torch: bool = False
    aliases: tuple[str, ...] = ()
    max_default_rows: int | None = None  # above this many training rows, only when asked for
    estimators: tuple[str, ...] = ()  # the classes (module.Class) its pipelines end in


def _merged(
    defaults: Mapping[str, ParamValue], params: Params, accepted: Sequence[str] = ()
) -> dict[str, ParamValue]:
    """``params`` over ``defaults``; a key in neither (nor in ``accepted``) is an error."""
    unknown = sorted(set(params) - set(defaults) - set(accepted))
    if unknown:
        known = ", ".join(sorted({*defaults, *accepted}))
        raise InvalidInputError(
            f"Unknown model parameter {unknown[0]!r}; the parameters are {known}."
        )
    return {**defaults, **params}


def _init_names(cls: type) -> list[str]:
    import inspect

    return [n for n in inspect.signature(cls).parameters if n != "self"]


def _images(ctx: FamilyContext) -> ImageLoader:
    return ImageLoader(root=ctx.image_root, size=ctx.image_size, mode=ctx.image_mode)


def _text_columns(ctx: FamilyContext) -> list[str]:
    return ctx.profile.of(Kind.TEXT)


def _features(ctx: FamilyContext, *, dense: bool, text_features: int, scale: bool = True):  # type: ignore[no-untyped-def]
    return preprocessor(
        ctx.profile,
        dense=dense,
        text_features=text_features,
        image_root=ctx.image_root,
        image_size=ctx.image_size,
        image_mode=ctx.image_mode,
        scale=scale,
    )


# -- scikit-learn families -----------------------------------------------------


def _build_dummy(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if ctx.task is Task.LANGUAGE_MODELLING:
        from training.families.language import UnigramLanguageModel

        return with_model(TextJoiner(tuple(ctx.profile.names)), UnigramLanguageModel())
    model: BaseEstimator = (
        DummyClassifier(strategy="prior") if ctx.task.is_classification else DummyRegressor()
    )
    return Pipeline([("features", "passthrough"), ("model", model)])


def _build_linear(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.linear_model import LogisticRegression, Ridge

    if ctx.task.is_classification:
        p = _merged({"C": 1.0}, params)
        model: BaseEstimator = LogisticRegression(C=p["C"], max_iter=3000, random_state=ctx.seed)
    else:
        p = _merged({"alpha": 1.0}, params)
        model = Ridge(alpha=p["alpha"])
    return with_model(_features(ctx, dense=False, text_features=20000), model)


def _space_linear(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    if task.is_classification:
        return {"C": trial.suggest_float("linear.C", 1e-3, 1e3, log=True)}
    return {"alpha": trial.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}


def _build_svm(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    p = _merged({"C": 10.0, "gamma": "scale"}, params)
    model: BaseEstimator
    if ctx.task.is_classification:  # calibrated on 3 folds so that it has predict_proba
        model = CalibratedClassifierCV(SVC(C=p["C"], gamma=p["gamma"]), ensemble=False, cv=3)
    else:
        model = SVR(C=p["C"], gamma=p["gamma"])
    return with_model(_features(ctx, dense=False, text_features=20000), model)


def _space_svm(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "C": trial.suggest_float("svm.C", 1e-2, 1e3, log=True),
        "gamma": trial.suggest_float("svm.gamma", 1e-4, 1.0, log=True),
    }


def _build_tree(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    p = _merged({"max_depth": None, "min_samples_leaf": 1}, params)
    cls = DecisionTreeClassifier if ctx.task.is_classification else DecisionTreeRegressor
    model = cls(
        max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"], random_state=ctx.seed
    )
    return with_model(_features(ctx, dense=False, text_features=2000, scale=False), model)


def _space_tree(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "max_depth": trial.suggest_int("tree.max_depth", 2, 24),
        "min_samples_leaf": trial.suggest_int("tree.min_samples_leaf", 1, 32, log=True),
    }


def _build_forest(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    default_features = "sqrt" if ctx.task.is_classification else 1.0
    p = _merged(
        {"n_estimators": 100, "max_features": default_features, "min_samples_leaf": 1}, params
    )
    cls = RandomForestClassifier if ctx.task.is_classification else RandomForestRegressor
    model = cls(
        n_estimators=p["n_estimators"],
        max_features=p["max_features"],
        min_samples_leaf=p["min_samples_leaf"],
        n_jobs=-1,
        random_state=ctx.seed,
    )
    return with_model(_features(ctx, dense=False, text_features=2000, scale=False), model)


def _space_forest(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "n_estimators": trial.suggest_int("forest.n_estimators", 50, 400, step=50),
        "max_features": trial.suggest_categorical("forest.max_features", ["sqrt", 0.3, 0.6, 1.0]),
        "min_samples_leaf": trial.suggest_int("forest.min_samples_leaf", 1, 16, log=True),
    }


def _build_hgb(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    p = _merged(
        {
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
        },
        params,
    )
    cls = (
        HistGradientBoostingClassifier
        if ctx.task.is_classification
        else HistGradientBoostingRegressor
    )
    model = cls(
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        max_iter=300,
        early_stopping=True,  # stops when 10% held-out rows stop improving, at any data size
        random_state=ctx.seed,
    )
    return with_model(_features(ctx, dense=True, text_features=300, scale=False), model)


def _space_hgb(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "learning_rate": trial.suggest_float("hgb.learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 8, 64, log=True),
        "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 2, 50, log=True),
        "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
    }


def _no_space(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {}


# -- PyTorch families ------------------------------------------------------------


def _torch_common(ctx: FamilyContext, p: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    common = {"random_state": ctx.seed, "max_time": ctx.max_time}
    return {**common, **{k: v for k, v in p.items() if k not in ("hidden", "layers")}}


def _build_mlp(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.tabular import MLPClassifier, MLPRegressor

    cls = MLPClassifier if ctx.task.is_classification else MLPRegressor
    p = _merged(
        {"hidden": 128, "layers": 2, "dropout": 0.1, "lr": 3e-3, "weight_decay": 1e-4},
        params,
        [n for n in _init_names(cls) if n != "hidden_layer_sizes"],
    )
    width, depth = int(p["hidden"] or 128), int(p["layers"] or 2)
    sizes = tuple(max(8, width // (2**i)) for i in range(depth))
    model = cls(hidden_layer_sizes=sizes, **_torch_common(ctx, p))  # type: ignore[arg-type]
    return with_model(_features(ctx, dense=True, text_features=2000), model)


def _space_mlp(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "hidden": trial.suggest_int("mlp.hidden", 32, 512, log=True),
        "layers": trial.suggest_int("mlp.layers", 1, 3),
        "dropout": trial.suggest_float("mlp.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("mlp.lr", 3e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("mlp.weight_decay", 1e-6, 1e-2, log=True),
    }


def _build_cnn(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.tabular import CNNClassifier

    loader = _images(ctx)
    p = _merged(
        {"channels": 16, "dropout": 0.2, "lr": 3e-3},
        params,
        [n for n in _init_names(CNNClassifier) if n != "image_shape"],
    )
    model = CNNClassifier(image_shape=loader.image_shape, **_torch_common(ctx, p))  # type: ignore[arg-type]
    images = ctx.profile.of(Kind.IMAGE)[:1]
    from sklearn.compose import ColumnTransformer

    return with_model(ColumnTransformer([("images", loader, images)]), model)


def _space_cnn(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "channels": trial.suggest_categorical("cnn.channels", [8, 16, 32]),
        "dropout": trial.suggest_float("cnn.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("cnn.lr", 3e-4, 1e-2, log=True),
    }


def _text_pipeline(ctx: FamilyContext, model: BaseEstimator) -> Pipeline:
    columns = _text_columns(ctx) if ctx.task is not Task.LANGUAGE_MODELLING else ctx.profile.names
    return with_model(TextJoiner(tuple(columns)), model)


def _build_gru(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.text import GRUClassifier

    p = _merged(
        {"embed_dim": 64, "hidden_size": 64, "dropout": 0.2, "lr": 3e-3},
        params,
        _init_names(GRUClassifier),
    )
    return _text_pipeline(ctx, GRUClassifier(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def _space_gru(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "embed_dim": trial.suggest_categorical("gru.embed_dim", [32, 64, 128]),
        "hidden_size": trial.suggest_categorical("gru.hidden_size", [32, 64, 128]),
        "dropout": trial.suggest_float("gru.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("gru.lr", 3e-4, 1e-2, log=True),
    }


def _build_transformer(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.text import TransformerClassifier

    p = _merged(
        {"d_model": 64, "n_layers": 2, "dropout": 0.1, "lr": 1e-3},
        params,
        _init_names(TransformerClassifier),
    )
    return _text_pipeline(ctx, TransformerClassifier(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def _space_transformer(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "d_model": trial.suggest_categorical("transformer.d_model", [32, 64, 128]),
        "n_layers": trial.suggest_int("transformer.n_layers", 1, 3),
        "dropout": trial.suggest_float("transformer.dropout", 0.0, 0.3),
        "lr": trial.suggest_float("transformer.lr", 1e-4, 3e-3, log=True),
    }


def _build_gpt(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.language import GPTLanguageModel

    p = _merged(
        {"n_layer": 2, "n_embd": 64, "dropout": 0.1, "lr": 2e-3},
        params,
        _init_names(GPTLanguageModel),
    )
    return _text_pipeline(ctx, GPTLanguageModel(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def _space_gpt(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "n_layer": trial.suggest_int("gpt.n_layer", 1, 4),
        "n_embd": trial.suggest_categorical("gpt.n_embd", [32, 64, 128]),
        "dropout": trial.suggest_float("gpt.dropout", 0.0, 0.3),
        "lr": trial.suggest_float("gpt.lr", 3e-4, 5e-3, log=True),
    }


FAMILIES: tuple[Family, ...] = (
    Family(
        "dummy",
        "baseline: class prior, mean, or byte unigram",
        frozenset(Task),
        _build_dummy,
        _no_space,
        frozenset(Task),
        estimators=(
            "sklearn.dummy.DummyClassifier",
            "sklearn.dummy.DummyRegressor",
            "training.families.language.UnigramLanguageModel",
        ),
    ),
    Family(
        "linear",
        "logistic regression or ridge",
        ALL_BUT_LM,
        _build_linear,
        _space_linear,
        ALL_BUT_LM,
        aliases=("logistic", "ridge"),
        estimators=(
            "sklearn.linear_model._logistic.LogisticRegression",
            "sklearn.linear_model._ridge.Ridge",
        ),
    ),
    Family(
        "svm",
        "support vector machine, RBF kernel",
        ALL_BUT_LM,
        _build_svm,
        _space_svm,
        TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        aliases=("svc", "svr"),
        max_default_rows=10_000,
        estimators=(
            "sklearn.calibration.CalibratedClassifierCV",
            "sklearn.svm._classes.SVR",
        ),
    ),
    Family(
        "hist_gradient_boosting",
        "histogram gradient boosting",
        ALL_BUT_LM,
        _build_hgb,
        _space_hgb,
        TABLE_TASKS,
        aliases=("hgb", "gradient_boosting"),
        estimators=(
            "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
            "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        ),
    ),
    Family(
        "forest",
        "random forest",
        ALL_BUT_LM,
        _build_forest,
        _space_forest,
        TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        aliases=("random_forest",),
        estimators=(
            "sklearn.ensemble._forest.RandomForestClassifier",
            "sklearn.ensemble._forest.RandomForestRegressor",
        ),
    ),
    Family(
        "tree",
        "decision tree",
        ALL_BUT_LM,
        _build_tree,
        _space_tree,
        TABLE_TASKS,
        aliases=("decision_tree",),
        estimators=(
            "sklearn.tree._classes.DecisionTreeClassifier",
            "sklearn.tree._classes.DecisionTreeRegressor",
        ),
    ),
    Family(
        "mlp",
        "PyTorch multi-layer perceptron",
        TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        _build_mlp,
        _space_mlp,
        TABLE_TASKS,
        uses_torch=True,
        estimators=(
            "training.families.tabular.MLPClassifier",
            "training.families.tabular.MLPRegressor",
        ),
    ),
    Family(
        "cnn",
        "PyTorch small convolutional network",
        frozenset({Task.IMAGE_CLASSIFICATION}),
        _build_cnn,
        _space_cnn,
        frozenset({Task.IMAGE_CLASSIFICATION}),
        uses_torch=True,
        estimators=("training.families.tabular.CNNClassifier",),
    ),
    Family(
        "gru",
        "PyTorch bidirectional GRU text classifier",
        frozenset({Task.TEXT_CLASSIFICATION}),
        _build_gru,
        _space_gru,
        frozenset({Task.TEXT_CLASSIFICATION}),
        uses_torch=True,
        estimators=("training.families.text.GRUClassifier",),
    ),
    Family(
        "transformer",
        "PyTorch transformer encoder text classifier",
        frozenset({Task.TEXT_CLASSIFICATION}),
        _build_transformer,
        _space_transformer,
        frozenset({Task.TEXT_CLASSIFICATION}),
        uses_torch=True,
        estimators=("training.families.text.TransformerClassifier",),
    ),
    Family(
        "gpt",
        "PyTorch byte-level GPT-style language model",
        frozenset({Task.LANGUAGE_MODELLING}),
        _build_gpt,
        _space_gpt,
        frozenset({Task.LANGUAGE_MODELLING}),
        uses_torch=True,
        aliases=("lm",),
        estimators=("training.families.language.GPTLanguageModel",),
    ),
)

_BY_NAME = {alias: family for family in FAMILIES for alias in (family.name, *family.aliases)}


def family(name: str) -> Family:
    """The family called ``name`` (or one of its aliases)."""
    try:
        return _BY_NAME[name.strip().lower().replace("-", "_")]
    except KeyError:
        raise InvalidInputError(
            f"Unknown model family {name!r}; choose from {', '.join(f.name for f in FAMILIES)}."
        ) from None


def check_family_names(names: Sequence[str]) -> None:
    """Raise a clear error for any unknown family name."""
    for name in names:
        family(name)


def families_for(task: Task, names: Sequence[str] | None, rows: int = 0) -> list[Family]:
    """The families to try for ``task``: the named ones (checked) or the task's defaults.

    Defaults leave out families that do not scale to ``rows`` training rows. The dummy
    baseline is always first, so every search measures what there is to beat.
    """
    if names is None:
        chosen = [
            f
            for f in FAMILIES
            if task in f.default_for and (f.max_default_rows is None or rows <= f.max_default_rows)
        ]
    else:
        chosen = []
        for name in names:
            f = family(name)
            if task not in f.tasks:
                raise InvalidInputError(
                    f"Family {f.name!r} cannot do {task.value}; families for it are "
                    f"{', '.join(g.name for g in FAMILIES if task in g.tasks)}."
                )
            if f not in chosen:
                chosen.append(f)
    dummy = _BY_NAME["dummy"]
    return [dummy, *[f for f in chosen if f is not dummy]]
