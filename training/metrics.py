"""Metrics per task, which way is better, and how far a model is from perfect.

Classification: accuracy, balanced accuracy, F1 macro, ROC AUC (one-vs-rest for more
than two classes), log loss, and a per-class report. Regression: RMSE, MAE, R².
Language modelling: perplexity and bits per byte. :func:`error` turns any metric into
an error to minimise (``1 - score`` for scores bounded by 1, the value otherwise), which
is what the gates compare.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn import metrics as skm

from core.errors import InvalidInputError
from training.task import Task


@dataclass(frozen=True)
class Metric:
    """A metric's name, direction and whether its best value is 1."""

    name: str
    greater_is_better: bool
    bounded: bool  # best value 1.0 (accuracy, R²): the error is 1 - value


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", True, True),
        Metric("balanced_accuracy", True, True),
        Metric("f1_macro", True, True),
        Metric("roc_auc", True, True),
        Metric("log_loss", False, False),
        Metric("rmse", False, False),
        Metric("mae", False, False),
        Metric("r2", True, True),
        Metric("perplexity", False, False),
        Metric("bits_per_byte", False, False),
        Metric("mean_return", True, False),  # reinforcement learning: episode return
        Metric("std_return", False, False),
    )
}

# The values each metric can take; an interval is clipped to them (a t interval around a
# mean accuracy of 0.98 would otherwise reach past 1).
RANGES: dict[str, tuple[float, float]] = {
    **{name: (0.0, 1.0) for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")},
    "r2": (-math.inf, 1.0),
    **{name: (0.0, math.inf) for name in ("log_loss", "rmse", "mae", "bits_per_byte")},
    "perplexity": (1.0, math.inf),
    "std_return": (0.0, math.inf),
}

TASK_METRICS: dict[Task, tuple[str, ...]] = {
    Task.CLASSIFICATION: ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"),
    Task.TEXT_CLASSIFICATION: ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"),
    Task.IMAGE_CLASSIFICATION: ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"),
    Task.REGRESSION: ("r2", "rmse", "mae"),
    Task.LANGUAGE_MODELLING: ("perplexity", "bits_per_byte"),
    Task.REINFORCEMENT_LEARNING: ("mean_return",),
}


# The metrics computed from predicted labels or values alone, by name.
_LABEL_SCORES: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": lambda y, p: float(skm.accuracy_score(y, p)),
    "balanced_accuracy": lambda y, p: float(_quiet(skm.balanced_accuracy_score, y, p)),
    "f1_macro": lambda y, p: float(skm.f1_score(y, p, average="macro", zero_division=0)),
    "r2": lambda y, p: float(skm.r2_score(y, p)),
    "rmse": lambda y, p: float(math.sqrt(skm.mean_squared_error(y, p))),
    "mae": lambda y, p: float(skm.mean_absolute_error(y, p)),
}


def metric_for(task: Task, name: str) -> Metric:
    """The metric called ``name``, checked against the task."""
    if name not in TASK_METRICS[task]:
        raise InvalidInputError(
            f"Metric {name!r} does not apply to {task.value}; choose from "
            f"{', '.join(TASK_METRICS[task])}."
        )
    return METRICS[name]


def error(metric: Metric, value: float) -> float:
    """How far ``value`` is from perfect (lower is better)."""
    return 1.0 - value if metric.bounded else value


def signed(metric: Metric, value: float) -> float:
    """``value`` oriented so that higher is better (what a search maximises)."""
    return value if metric.greater_is_better else -value


def classification_scores(
    y_true: NDArray[Any],
    y_pred: NDArray[Any],
    proba: NDArray[np.float64] | None,
    classes: NDArray[Any],
) -> dict[str, float]:
    """Accuracy, balanced accuracy, F1 macro and, with probabilities, ROC AUC and log loss."""
    out = {
        name: _LABEL_SCORES[name](y_true, y_pred)
        for name in TASK_METRICS[Task.CLASSIFICATION]
        if name in _LABEL_SCORES
    }
    if proba is not None:
        proba = np.clip(proba, 1e-15, 1.0)
        proba = proba / proba.sum(axis=1, keepdims=True)
        labels = labels_of(classes, y_true)
        # a class the model never saw gets probability ~0, which log loss rightly punishes
        padded = np.hstack([proba, np.full((len(proba), len(labels) - len(classes)), 1e-15)])
        order = np.argsort(labels, kind="stable")  # log_loss reads columns in sorted label order
        out["log_loss"] = float(skm.log_loss(y_true, padded[:, order], labels=labels[order]))
        present = np.unique(y_true)
        if len(present) >= 2 and len(labels) == len(classes):  # AUC needs every class known
            if len(classes) == 2:
                out["roc_auc"] = float(skm.roc_auc_score(y_true == classes[1], proba[:, 1]))
            elif len(present) == len(classes):
                out["roc_auc"] = float(
                    skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
                )
    return out


def labels_of(classes: NDArray[Any], y_true: NDArray[Any]) -> NDArray[Any]:
    """The model's classes, then any class in ``y_true`` it never saw in training (sorted)."""
    known = set(classes)
    unseen = sorted({label for label in np.unique(y_true) if label not in known}, key=str)
    return np.asarray([*classes, *unseen])


def regression_scores(y_true: NDArray[Any], y_pred: NDArray[Any]) -> dict[str, float]:
    """R², RMSE and MAE."""
    return {name: _LABEL_SCORES[name](y_true, y_pred) for name in TASK_METRICS[Task.REGRESSION]}


def language_scores(perplexity: float) -> dict[str, float]:
    """Perplexity per byte and the same as bits per byte."""
    return {"perplexity": float(perplexity), "bits_per_byte": float(math.log2(perplexity))}


def per_class_report(
    y_true: NDArray[Any], y_pred: NDArray[Any], classes: Sequence[Any]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class."""
    report = skm.classification_report(
        y_true, y_pred, labels=classes, output_dict=True, zero_division=0
    )
    return {
        str(label): {k: float(v) for k, v in report[str(label)].items()}
        for label in classes
        if str(label) in report
    }


def _texts(model: Any, X: Any) -> Any:
    """``X`` as a language-model pipeline's last step reads it."""
    return model[:-1].transform(X) if len(model.steps) > 1 else X


def document_losses(model: Any, X: Any) -> NDArray[np.float64] | None:
    """Per text of ``X``, a language-model pipeline's (nats, bytes predicted), or None when its
    model cannot say (see ``training.families.nets.language.per_document``)."""
    losses = getattr(model[-1], "document_losses", None)
    return None if losses is None else np.asarray(losses(_texts(model, X)), dtype=np.float64)


def model_scores(task: Task, model: Any, X: Any, y: NDArray[Any] | None) -> dict[str, float]:
    """Every metric of ``task`` for a fitted pipeline on ``X`` (and ``y``)."""
    if task is Task.LANGUAGE_MODELLING:
        return language_scores(model[-1].perplexity(_texts(model, X)))
    assert y is not None
    y_pred = model.predict(X)
    proba = (
        model.predict_proba(X)
        if task.is_classification and hasattr(model, "predict_proba")
        else None
    )
    return prediction_scores(task, y, y_pred, proba, getattr(model, "classes_", None))


def prediction_scores(
    task: Task,
    y: NDArray[Any],
    y_pred: NDArray[Any],
    proba: NDArray[np.float64] | None,
    classes: NDArray[Any] | None,
) -> dict[str, float]:
    """Every metric of ``task`` from predictions already made."""
    if task.is_classification:
        assert classes is not None
        return classification_scores(y, y_pred, proba, classes)
    return regression_scores(y, y_pred)


def pick(scores: Mapping[str, float], metric: Metric) -> float:
    """The value of ``metric`` in ``scores`` (NaN when it could not be computed)."""
    return float(scores.get(metric.name, float("nan")))


def _quiet(fn: Any, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def needs_proba(metric: Metric) -> bool:
    """Whether ``metric`` is computed from class probabilities."""
    return metric.name in ("roc_auc", "log_loss")


def prediction_score(
    task: Task,
    metric: Metric,
    y: NDArray[Any],
    y_pred: NDArray[Any],
    proba: NDArray[np.float64] | None,
    classes: NDArray[Any] | None,
) -> float:
    """``metric`` from predictions already made (``proba`` when :func:`needs_proba`).

    Only that metric is computed: permutation importance scores dozens of copies.
    """
    if metric.name in _LABEL_SCORES:
        return _LABEL_SCORES[metric.name](y, y_pred)
    return pick(prediction_scores(task, y, y_pred, proba, classes), metric)


def metric_score(task: Task, metric: Metric, model: Any, X: Any, y: NDArray[Any] | None) -> float:
    """Just ``metric`` for a fitted pipeline (cheaper than :func:`model_scores` in a search)."""
    if task is Task.LANGUAGE_MODELLING or needs_proba(metric):
        return pick(model_scores(task, model, X, y), metric)
    assert y is not None
    return prediction_score(
        task, metric, y, model.predict(X), None, getattr(model, "classes_", None)
    )
