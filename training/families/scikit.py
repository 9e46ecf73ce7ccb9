"""The scikit-learn families: linear models, the support vector machine and the tree ensembles.

Each builds :func:`training.families.feature_step` (sparse where the model takes it,
dense for histogram gradient boosting; trees skip scaling) followed by the estimator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from training.families import ALL_BUT_LM, TABLE_TASKS, Family, FamilyContext, feature_step, merged
from training.features import with_model
from training.task import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna


def build_linear(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.linear_model import LogisticRegression, Ridge

    if ctx.task.is_classification:
        p = merged({"C": 1.0}, params)
        model: BaseEstimator = LogisticRegression(C=p["C"], max_iter=3000, random_state=ctx.seed)
    else:
        p = merged({"alpha": 1.0}, params)
        model = Ridge(alpha=p["alpha"])
    return with_model(feature_step(ctx, dense=False, text_features=20000), model)


def space_linear(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    if task.is_classification:
        return {"C": trial.suggest_float("linear.C", 1e-3, 1e3, log=True)}
    return {"alpha": trial.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}


def build_svm(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC, SVR

    p = merged({"C": 10.0, "gamma": "scale"}, params)
    model: BaseEstimator
    if ctx.task.is_classification:  # calibrated on 3 folds so that it has predict_proba
        model = CalibratedClassifierCV(SVC(C=p["C"], gamma=p["gamma"]), ensemble=False, cv=3)
    else:
        model = SVR(C=p["C"], gamma=p["gamma"])
    return with_model(feature_step(ctx, dense=False, text_features=20000), model)


def space_svm(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "C": trial.suggest_float("svm.C", 1e-2, 1e3, log=True),
        "gamma": trial.suggest_float("svm.gamma", 1e-4, 1.0, log=True),
    }


def build_tree(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    p = merged({"max_depth": None, "min_samples_leaf": 1}, params)
    cls = DecisionTreeClassifier if ctx.task.is_classification else DecisionTreeRegressor
    model = cls(
        max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"], random_state=ctx.seed
    )
    return with_model(feature_step(ctx, dense=False, text_features=2000, scale=False), model)


def space_tree(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "max_depth": trial.suggest_int("tree.max_depth", 2, 24),
        "min_samples_leaf": trial.suggest_int("tree.min_samples_leaf", 1, 32, log=True),
    }


def build_forest(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    default_features = "sqrt" if ctx.task.is_classification else 1.0
    p = merged(
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
    return with_model(feature_step(ctx, dense=False, text_features=2000, scale=False), model)


def space_forest(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "n_estimators": trial.suggest_int("forest.n_estimators", 50, 400, step=50),
        "max_features": trial.suggest_categorical("forest.max_features", ["sqrt", 0.3, 0.6, 1.0]),
        "min_samples_leaf": trial.suggest_int("forest.min_samples_leaf", 1, 16, log=True),
    }


def build_hgb(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    p = merged(
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
    return with_model(feature_step(ctx, dense=True, text_features=300, scale=False), model)


def space_hgb(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "learning_rate": trial.suggest_float("hgb.learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("hgb.max_leaf_nodes", 8, 64, log=True),
        "min_samples_leaf": trial.suggest_int("hgb.min_samples_leaf", 2, 50, log=True),
        "l2_regularization": trial.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
    }


def _objects(*names: str) -> frozenset[tuple[str, str]]:
    """skops object nodes of the given classes."""
    return frozenset(("ObjectNode", name) for name in names)


_TREES = (
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
)
_TREE_NODES = _objects(*_TREES) | {("TreeNode", "sklearn.tree._tree.Tree")}
_FORESTS = (
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
)
_HGB = "sklearn.ensemble._hist_gradient_boosting."
_BOOSTERS = (
    f"{_HGB}gradient_boosting.HistGradientBoostingClassifier",
    f"{_HGB}gradient_boosting.HistGradientBoostingRegressor",
)
_LOSSES = ("CyHalfBinomialLoss", "CyHalfMultinomialLoss", "CyHalfSquaredError")
_LINEAR = ("sklearn.linear_model._logistic.LogisticRegression", "sklearn.linear_model._ridge.Ridge")
_SVMS = ("sklearn.calibration.CalibratedClassifierCV", "sklearn.svm._classes.SVR")

FAMILIES = (
    Family(
        name="linear",
        description="logistic regression / ridge",
        tasks=ALL_BUT_LM,
        default_for=ALL_BUT_LM,
        build=build_linear,
        space=space_linear,
        estimators=_LINEAR,
        saved_nodes=_objects(*_LINEAR),
        rank=10,
        aliases=("logistic", "ridge"),
    ),
    Family(
        name="svm",
        description="RBF support vector machine (calibrated probabilities)",
        tasks=ALL_BUT_LM,
        default_for=TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        build=build_svm,
        space=space_svm,
        estimators=_SVMS,
        saved_nodes=_objects(
            *_SVMS,
            "sklearn.calibration._CalibratedClassifier",
            "sklearn.calibration._SigmoidCalibration",
            "sklearn.svm._classes.SVC",
        )
        | {("SparseMatrixNode", "scipy.sparse._csr.csr_matrix")},  # sparse support vectors
        rank=20,
        aliases=("svc", "svr"),
        max_default_rows=10_000,
    ),
    Family(
        name="hist_gradient_boosting",
        description="histogram gradient boosting with early stopping",
        tasks=ALL_BUT_LM,
        default_for=TABLE_TASKS,
        build=build_hgb,
        space=space_hgb,
        estimators=_BOOSTERS,
        saved_nodes=_objects(
            *_BOOSTERS,
            f"{_HGB}binning._BinMapper",
            f"{_HGB}predictor.TreePredictor",
            "sklearn.preprocessing._label.LabelEncoder",
            "sklearn._loss.loss.HalfBinomialLoss",
            "sklearn._loss.loss.HalfMultinomialLoss",
            "sklearn._loss.loss.HalfSquaredError",
            "sklearn._loss.link.IdentityLink",
            "sklearn._loss.link.LogitLink",
            "sklearn._loss.link.MultinomialLogit",
            "sklearn._loss.link.Interval",
        )
        | {("LossNode", f"sklearn._loss._loss.{name}") for name in _LOSSES}
        | {("RandomGeneratorNode", "numpy.random._generator.Generator")},
        rank=30,
        aliases=("hgb", "gradient_boosting"),
    ),
    Family(
        name="forest",
        description="random forest",
        tasks=ALL_BUT_LM,
        default_for=TABLE_TASKS | {Task.IMAGE_CLASSIFICATION},
        build=build_forest,
        space=space_forest,
        estimators=_FORESTS,
        saved_nodes=_objects(*_FORESTS) | _TREE_NODES,
        rank=40,
        aliases=("random_forest",),
    ),
    Family(
        name="tree",
        description="decision tree",
        tasks=ALL_BUT_LM,
        default_for=TABLE_TASKS,
        build=build_tree,
        space=space_tree,
        estimators=_TREES,
        saved_nodes=_TREE_NODES,
        rank=50,
        aliases=("decision_tree",),
    ),
)
