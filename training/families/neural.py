"""The PyTorch families: MLP for tables, CNN for images, GRU and transformer encoders for text, a GPT for language.

The estimators live in :mod:`training.families.nets` (they need PyTorch when their classes
are defined) and are imported only when a family is built. A saved model is its feature
pipeline in skops plus the network's ``state_dict`` and a JSON config, so these families
add no skops types of their own; the classes in ``estimators`` are the ones a saved config
may name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from training.families import (
    TABLE_TASKS,
    Family,
    FamilyContext,
    feature_step,
    image_loader,
    init_names,
    merged,
)
from training.features import Kind, TextJoiner, with_model
from training.task import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna

NETS = "training.families.nets"


def _torch_common(ctx: FamilyContext, p: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    common = {"random_state": ctx.seed, "max_time": ctx.max_time}
    return {**common, **{k: v for k, v in p.items() if k not in ("hidden", "layers")}}


def build_mlp(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.nets.tabular import MLPClassifier, MLPRegressor

    cls = MLPClassifier if ctx.task.is_classification else MLPRegressor
    p = merged(
        {"hidden": 128, "layers": 2, "dropout": 0.1, "lr": 3e-3, "weight_decay": 1e-4},
        params,
        [n for n in init_names(cls) if n != "hidden_layer_sizes"],
    )
    width, depth = int(p["hidden"] or 128), int(p["layers"] or 2)
    sizes = tuple(max(8, width // (2**i)) for i in range(depth))
    model = cls(hidden_layer_sizes=sizes, **_torch_common(ctx, p))  # type: ignore[arg-type]
    return with_model(feature_step(ctx, dense=True, text_features=2000), model)


def space_mlp(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "hidden": trial.suggest_int("mlp.hidden", 32, 512, log=True),
        "layers": trial.suggest_int("mlp.layers", 1, 3),
        "dropout": trial.suggest_float("mlp.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("mlp.lr", 3e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("mlp.weight_decay", 1e-6, 1e-2, log=True),
    }


def build_cnn(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.compose import ColumnTransformer

    from training.families.nets.tabular import CNNClassifier

    loader = image_loader(ctx)
    p = merged(
        {"channels": 16, "dropout": 0.2, "lr": 3e-3},
        params,
        [n for n in init_names(CNNClassifier) if n != "image_shape"],
    )
    model = CNNClassifier(image_shape=loader.image_shape, **_torch_common(ctx, p))  # type: ignore[arg-type]
    images = ctx.profile.of(Kind.IMAGE)[:1]
    return with_model(ColumnTransformer([("images", loader, images)]), model)


def space_cnn(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "channels": trial.suggest_categorical("cnn.channels", [8, 16, 32]),
        "dropout": trial.suggest_float("cnn.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("cnn.lr", 3e-4, 1e-2, log=True),
    }


def _text_pipeline(ctx: FamilyContext, model: BaseEstimator) -> Pipeline:
    lm = ctx.task is Task.LANGUAGE_MODELLING
    columns = ctx.profile.names if lm else ctx.profile.of(Kind.TEXT)
    return with_model(TextJoiner(tuple(columns)), model)


def build_gru(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.nets.text import GRUClassifier

    p = merged(
        {"embed_dim": 64, "hidden_size": 64, "dropout": 0.2, "lr": 3e-3},
        params,
        init_names(GRUClassifier),
    )
    return _text_pipeline(ctx, GRUClassifier(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def space_gru(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "embed_dim": trial.suggest_categorical("gru.embed_dim", [32, 64, 128]),
        "hidden_size": trial.suggest_categorical("gru.hidden_size", [32, 64, 128]),
        "dropout": trial.suggest_float("gru.dropout", 0.0, 0.5),
        "lr": trial.suggest_float("gru.lr", 3e-4, 1e-2, log=True),
    }


def build_transformer(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.nets.text import TransformerClassifier

    p = merged(
        {"d_model": 64, "n_layers": 2, "dropout": 0.1, "lr": 1e-3},
        params,
        init_names(TransformerClassifier),
    )
    return _text_pipeline(ctx, TransformerClassifier(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def space_transformer(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "d_model": trial.suggest_categorical("transformer.d_model", [32, 64, 128]),
        "n_layers": trial.suggest_int("transformer.n_layers", 1, 3),
        "dropout": trial.suggest_float("transformer.dropout", 0.0, 0.3),
        "lr": trial.suggest_float("transformer.lr", 1e-4, 3e-3, log=True),
    }


def build_gpt(ctx: FamilyContext, params: Params) -> Pipeline:
    from training.families.nets.language import GPTLanguageModel

    p = merged(
        {"n_layer": 2, "n_embd": 64, "dropout": 0.1, "lr": 2e-3},
        params,
        init_names(GPTLanguageModel),
    )
    return _text_pipeline(ctx, GPTLanguageModel(**_torch_common(ctx, p)))  # type: ignore[arg-type]


def space_gpt(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "n_layer": trial.suggest_int("gpt.n_layer", 1, 4),
        "n_embd": trial.suggest_categorical("gpt.n_embd", [32, 64, 128]),
        "dropout": trial.suggest_float("gpt.dropout", 0.0, 0.3),
        "lr": trial.suggest_float("gpt.lr", 3e-4, 5e-3, log=True),
    }


FAMILIES = (
    Family(
        name="mlp",
        description="PyTorch MLP (layer norm, dropout)",
        tasks=TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        default_for=TABLE_TASKS,
        build=build_mlp,
        space=space_mlp,
        estimators=(f"{NETS}.tabular.MLPClassifier", f"{NETS}.tabular.MLPRegressor"),
        rank=60,
        uses_torch=True,
    ),
    Family(
        name="cnn",
        description="PyTorch two-block CNN",
        tasks=frozenset({Task.IMAGE_CLASSIFICATION}),
        default_for=frozenset({Task.IMAGE_CLASSIFICATION}),
        build=build_cnn,
        space=space_cnn,
        estimators=(f"{NETS}.tabular.CNNClassifier",),
        rank=70,
        uses_torch=True,
    ),
    Family(
        name="gru",
        description="PyTorch bidirectional GRU over words",
        tasks=frozenset({Task.TEXT_CLASSIFICATION}),
        default_for=frozenset({Task.TEXT_CLASSIFICATION}),
        build=build_gru,
        space=space_gru,
        estimators=(f"{NETS}.text.GRUClassifier",),
        rank=80,
        uses_torch=True,
    ),
    Family(
        name="transformer",
        description="PyTorch pre-norm transformer encoder over words",
        tasks=frozenset({Task.TEXT_CLASSIFICATION}),
        default_for=frozenset({Task.TEXT_CLASSIFICATION}),
        build=build_transformer,
        space=space_transformer,
        estimators=(f"{NETS}.text.TransformerClassifier",),
        rank=90,
        uses_torch=True,
    ),
    Family(
        name="gpt",
        description="PyTorch byte-level GPT-style causal LM (perplexity, generation)",
        tasks=frozenset({Task.LANGUAGE_MODELLING}),
        default_for=frozenset({Task.LANGUAGE_MODELLING}),
        build=build_gpt,
        space=space_gpt,
        estimators=(f"{NETS}.language.GPTLanguageModel",),
        rank=100,
        uses_torch=True,
        aliases=("lm",),
    ),
)
