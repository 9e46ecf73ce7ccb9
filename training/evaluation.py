"""Evaluate a refit model once on the test split: metrics, per-class report, importance, plots.

:func:`evaluate` computes every metric of the task on the validation and test splits,
the per-class report, permutation importance of the input columns (on at most
``IMPORTANCE_ROWS`` test rows), a learning curve (loss per epoch for PyTorch models;
for gradient boosting the loss per iteration; for other scikit-learn models the metric on
the validation split after fitting on growing subsets of at most ``CURVE_ROWS`` training
rows, within a quarter of the refit's time) and writes the PNG plots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from training import plots
from training.intervals import (
    Interval,
    Predictions,
    bootstrap_intervals,
    text_intervals,
    text_scores,
)
from training.metrics import (
    Metric,
    document_losses,
    labels_of,
    metric_score,
    model_scores,
    needs_proba,
    per_class_report,
    prediction_score,
    prediction_scores,
    signed,
)
from training.task import Task

IMPORTANCE_ROWS = 400
IMPORTANCE_REPEATS = 3
IMPORTANCE_CELLS = 12_000  # rows x columns x repeats scored at most (fewer rows for wide data)
CURVE_ROWS = 1000
CURVE_FRACTIONS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Importance:
    feature: str
    mean: float
    std: float


@dataclass(frozen=True)
class Evaluation:
    """What the test (and validation) split says about a model."""

    test: Mapping[str, float]
    validation: Mapping[str, float]
    per_class: Mapping[str, Mapping[str, float]]
    importance: tuple[Importance, ...]
    plots: tuple[str, ...]  # PNG file names, relative to the model folder
    intervals: Mapping[str, Interval] = field(default_factory=dict)  # around each test metric
    protocol: str = "test_split"  # test_split | repeated_cv (see training.protocol)
    predicted: Predictions | None = None  # the model's test-split predictions (for the gates)
    documents: NDArray[np.float64] | None = None  # a language model's (nats, bytes) per test text


@dataclass(frozen=True)
class Splits:
    """Features and targets of the three splits."""

    X_train: pd.DataFrame
    y_train: NDArray[Any] | None
    X_val: pd.DataFrame
    y_val: NDArray[Any] | None
    X_test: pd.DataFrame
    y_test: NDArray[Any] | None


Refit = Callable[[pd.DataFrame, NDArray[Any] | None], Pipeline]


def _subsample(n: int, limit: int, seed: int) -> NDArray[np.intp]:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def permutation_importance(
    task: Task, metric: Metric, model: Pipeline, X: pd.DataFrame, y: NDArray[Any], seed: int
) -> tuple[Importance, ...]:
    """Drop of the metric when each input column is shuffled (mean and spread over repeats).

    The method of :func:`sklearn.inspection.permutation_importance`, but every shuffled copy
    is predicted in one call: a model's fixed cost per call (a boosted model walks each of
    its trees in Python) then comes once, not once per column and repeat.
    """
    limit = max(
        100, min(IMPORTANCE_ROWS, IMPORTANCE_CELLS // (IMPORTANCE_REPEATS * max(X.shape[1], 1)))
    )
    rows = _subsample(len(X), limit, seed)
    sample, truth = X.iloc[rows].reset_index(drop=True), y[rows]
    together = _shuffled_copies(sample, np.random.default_rng(seed))
    predicted = model.predict(together)
    proba = model.predict_proba(together) if needs_proba(metric) else None
    classes = getattr(model, "classes_", None)

    def score(copy: int) -> float:
        part = slice(copy * len(sample), (copy + 1) * len(sample))
        chunk = proba[part] if proba is not None else None
        value = prediction_score(task, metric, truth, predicted[part], chunk, classes)
        return signed(metric, value)

    baseline = score(0)
    drops = np.array([baseline - score(copy) for copy in range(1, len(together) // len(sample))])
    drops = drops.reshape(len(sample.columns), IMPORTANCE_REPEATS)
    return tuple(
        Importance(str(name), float(d.mean()), float(d.std()))
        for name, d in zip(sample.columns, drops, strict=True)
    )


def _shuffled_copies(sample: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``sample``, then per column ``IMPORTANCE_REPEATS`` copies with that column shuffled.

    Built a column at a time by row positions (one take per column keeps its dtype), not
    by copying the whole sample for every copy.
    """
    rows = len(sample)
    copies = 1 + IMPORTANCE_REPEATS * sample.shape[1]
    unshuffled = np.tile(np.arange(rows), copies)
    columns = {}
    for number, name in enumerate(sample.columns):
        positions = unshuffled.copy()
        for repeat in range(IMPORTANCE_REPEATS):
            start = (1 + number * IMPORTANCE_REPEATS + repeat) * rows
            positions[start : start + rows] = rng.permutation(rows)
        columns[name] = sample[name].iloc[positions].reset_index(drop=True)
    return pd.DataFrame(columns)


def boosting_history(estimator: object) -> list[list[float]]:
    """Training and early-stopping validation loss per boosting iteration, when recorded."""
    train = getattr(estimator, "train_score_", None)
    validation = getattr(estimator, "validation_score_", None)
    if train is None or validation is None or len(validation) < 2:
        return []
    return [
        [float(i), -float(t), -float(v)]
        for i, (t, v) in enumerate(zip(train, validation, strict=True))
    ]


def learning_points(
    task: Task, metric: Metric, refit: Refit, splits: Splits, seed: int, budget: float = 5.0
) -> tuple[list[int], list[float], list[float]]:
    """(training rows, training score, validation score) as the training subset grows.

    Stops adding points once ``budget`` seconds are spent.
    """
    rows = _subsample(len(splits.X_train), CURVE_ROWS, seed)
    sizes, train_scores, val_scores = [], [], []
    started = time.perf_counter()
    for fraction in CURVE_FRACTIONS:
        if time.perf_counter() - started > budget:
            break
        chosen = rows[: max(int(len(rows) * fraction), 10)]
        X_fit = splits.X_train.iloc[chosen]
        y_fit = splits.y_train[chosen] if splits.y_train is not None else None
        if task.is_classification and y_fit is not None and len(np.unique(y_fit)) < 2:
            continue
        try:
            model = refit(X_fit, y_fit)
        except ValueError:
            continue
        sizes.append(len(chosen))
        train_scores.append(metric_score(task, metric, model, X_fit, y_fit))
        val_scores.append(metric_score(task, metric, model, splits.X_val, splits.y_val))
    return sizes, train_scores, val_scores


def evaluate(
    task: Task,
    metric: Metric,
    model: Pipeline,
    splits: Splits,
    *,
    refit: Refit | None,
    plot_dir: Path,
    seed: int,
    fit_seconds: float = 4.0,
    drawing: plots.Drawing | None = None,
) -> Evaluation:
    """Score ``model`` on validation and test, explain it, and draw the plots into ``plot_dir``.

    With ``drawing``, the plots may still be drawing when this returns (``drawing.wait()``);
    without, they are written when it returns.
    """
    own_drawing = drawing is None
    drawing = drawing or plots.Drawing()
    written: list[Path] = []
    per_class: dict[str, dict[str, float]] = {}
    importance: tuple[Importance, ...] = ()
    intervals: dict[str, Interval] = {}
    predicted: Predictions | None = None
    estimator = model[-1]
    documents = document_losses(model, splits.X_test) if task is Task.LANGUAGE_MODELLING else None
    if documents is not None and len(documents):  # scored once, by text, with its interval
        test = text_scores(documents)
        intervals = text_intervals(documents, seed)
    elif task is Task.LANGUAGE_MODELLING or splits.y_test is None:
        test = model_scores(task, model, splits.X_test, splits.y_test)
    else:  # predicted once, then scored, reported and plotted
        y_pred = model.predict(splits.X_test)
        has_proba = task.is_classification and hasattr(model, "predict_proba")
        proba = model.predict_proba(splits.X_test) if has_proba else None
        classes = getattr(model, "classes_", None)
        test = prediction_scores(task, splits.y_test, y_pred, proba, classes)
        predicted = Predictions(y_pred, proba, classes)
        intervals = bootstrap_intervals(task, splits.y_test, predicted, test, seed)
        if classes is not None:
            labels = list(labels_of(np.asarray(classes), splits.y_test))
            per_class = per_class_report(splits.y_test, y_pred, labels)
            written.append(
                drawing.draw(
                    plots.confusion_matrix,
                    splits.y_test,
                    y_pred,
                    labels,
                    plot_dir / "confusion_matrix.png",
                )
            )
        if proba is not None and classes is not None:
            written.append(
                drawing.draw(
                    plots.calibration,
                    splits.y_test,
                    proba,
                    list(classes),
                    plot_dir / "calibration.png",
                )
            )
        if task is Task.REGRESSION:
            written.append(
                drawing.draw(plots.residuals, splits.y_test, y_pred, plot_dir / "residuals.png")
            )
    # the loss history is drawn while the validation split is scored and importance computed
    history = getattr(estimator, "history_", None) or boosting_history(estimator)
    curve: Path | None = None
    if history:
        unit = {Task.LANGUAGE_MODELLING: "step"}.get(task, "epoch")
        unit = "iteration" if not hasattr(estimator, "history_") else unit
        curve = drawing.draw(plots.loss_history, history, unit, plot_dir / "learning_curve.png")
    validation = model_scores(task, model, splits.X_val, splits.y_val) if len(splits.X_val) else {}
    if (
        task is not Task.LANGUAGE_MODELLING
        and splits.y_test is not None
        and splits.X_test.shape[1] > 0
    ):
        importance = permutation_importance(task, metric, model, splits.X_test, splits.y_test, seed)
        written.append(
            drawing.draw(
                plots.importance,
                [i.feature for i in importance],
                [i.mean for i in importance],
                [i.std for i in importance],
                metric.name,
                plot_dir / "permutation_importance.png",
            )
        )
    if curve is None and refit is not None and len(splits.X_val):
        sizes, train_scores, val_scores = learning_points(
            task, metric, refit, splits, seed, budget=max(1.0, 0.25 * fit_seconds)
        )
        if sizes:
            curve = drawing.draw(
                plots.learning_curve,
                sizes,
                train_scores,
                val_scores,
                metric.name,
                plot_dir / "learning_curve.png",
            )
    if curve is not None:
        written.append(curve)
    if own_drawing:
        drawing.wait()
    return Evaluation(
        test=test,
        validation=validation,
        per_class=per_class,
        importance=importance,
        plots=tuple(str(p.relative_to(plot_dir.parent)) for p in written),
        intervals=intervals,
        predicted=predicted,
        documents=documents,
    )
