"""Confidence intervals for metrics, and paired comparisons of two models on the same rows or folds.

* On a test split, :func:`bootstrap_intervals` resamples the test rows (with replacement,
  ``RESAMPLES`` times, seeded) and takes the central ``CONFIDENCE`` share of each metric.
* Over cross-validation folds, :func:`fold_interval` is Student's t around the mean with
  Nadeau and Bengio's corrected variance ``(1/J + n_test/n_train) * s²``: the folds share
  their training rows, so the plain ``s²/J`` would be too narrow.
* :func:`paired_bootstrap` and :func:`paired_folds` compare two models on the same rows or
  folds; the gates use them so that a difference inside the noise promotes nothing.

Every interval contains its point estimate, and the same seed gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from training.metrics import RANGES, language_scores, prediction_scores
from training.task import Task

CONFIDENCE = 0.95
RESAMPLES = 100  # per metric interval: every metric is recomputed per resample
PAIRED_RESAMPLES = 400  # per gate: one metric, two models


@dataclass(frozen=True)
class Interval:
    """A ``CONFIDENCE`` interval around a metric's value, and how it was found."""

    low: float
    high: float
    method: str  # bootstrap | folds

    def to_json(self) -> dict[str, object]:
        return {"low": self.low, "high": self.high, "method": self.method}


@dataclass(frozen=True)
class Predictions:
    """What one model said about a set of rows: labels or values, and class probabilities."""

    y_pred: NDArray[Any]
    proba: NDArray[np.float64] | None = None
    classes: NDArray[Any] | None = None

    def take(self, rows: NDArray[np.intp]) -> Predictions:
        proba = self.proba[rows] if self.proba is not None else None
        return Predictions(self.y_pred[rows], proba, self.classes)


@dataclass(frozen=True)
class Comparison:
    """``a - b`` in a metric oriented so that higher is better, with its interval, and how
    sure it is that the difference is above zero (the share of resamples, or 1 - p)."""

    difference: float
    low: float
    high: float
    sure: float


def _resamples(rows: int, seed: int, times: int = RESAMPLES) -> NDArray[np.intp]:
    return np.random.default_rng(seed).integers(0, rows, size=(times, rows))


def _around(values: Sequence[float], point: float) -> tuple[float, float]:
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(finite) or not np.isfinite(point):
        return point, point
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return min(float(low), point), max(float(high), point)


def bootstrap_intervals(
    task: Task, y: NDArray[Any], predicted: Predictions, scores: Mapping[str, float], seed: int
) -> dict[str, Interval]:
    """A bootstrap interval around each of ``scores`` (the metrics of ``predicted`` on ``y``)."""
    if len(y) < 2:
        return {name: Interval(value, value, "bootstrap") for name, value in scores.items()}
    resampled: dict[str, list[float]] = {name: [] for name in scores}
    for rows in _resamples(len(y), seed):
        part = predicted.take(rows)
        values = prediction_scores(task, y[rows], part.y_pred, part.proba, part.classes)
        for name in scores:
            resampled[name].append(values.get(name, float("nan")))
    return {
        name: Interval(*_around(resampled[name], value), "bootstrap")
        for name, value in scores.items()
    }


def text_scores(documents: NDArray[np.float64]) -> dict[str, float]:
    """Perplexity and bits per byte of documents given as rows of (nats, bytes predicted)."""
    nats, count = documents.sum(axis=0) if len(documents) else (0.0, 0.0)
    return language_scores(math.exp(nats / count) if count else float("nan"))


def text_intervals(documents: NDArray[np.float64], seed: int) -> dict[str, Interval]:
    """A bootstrap interval around each language metric, resampling the evaluation texts
    (documents, not bytes: the bytes of one text are not independent of each other)."""
    scores = text_scores(documents)
    if len(documents) < 2:
        return {name: Interval(value, value, "bootstrap") for name, value in scores.items()}
    resampled = [text_scores(documents[rows]) for rows in _resamples(len(documents), seed)]
    return {
        name: Interval(*_around([r[name] for r in resampled], value), "bootstrap")
        for name, value in scores.items()
    }


def _corrected_scale(values: NDArray[np.float64], test_share: float) -> float:
    """Nadeau and Bengio's corrected standard error of the mean of ``values`` (fold scores)."""
    folds = len(values)
    if folds < 2:
        return 0.0
    ratio = test_share / max(1.0 - test_share, 1e-9)
    return float(np.sqrt((1.0 / folds + ratio) * np.var(values, ddof=1)))


def fold_interval(values: Sequence[float], test_share: float, metric: str = "") -> Interval:
    """A t interval around the mean of fold scores, with the corrected variance, within the
    values ``metric`` can take."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(finite):
        return Interval(float("nan"), float("nan"), "folds")
    mean = float(finite.mean())
    half = _corrected_scale(finite, test_share) * _t(len(finite))
    low, high = RANGES.get(metric, (-math.inf, math.inf))
    return Interval(max(mean - half, low), min(mean + half, high), "folds")


def _t(folds: int) -> float:
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, max(folds - 1, 1)))


def paired_folds(a: Sequence[float], b: Sequence[float], test_share: float) -> Comparison:
    """``a - b`` over the same folds (values oriented higher-is-better), corrected t test."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    differences = differences[np.isfinite(differences)]
    if not len(differences):
        return Comparison(float("nan"), float("nan"), float("nan"), 0.0)
    mean = float(differences.mean())
    scale = _corrected_scale(differences, test_share)
    if scale == 0.0:
        return Comparison(mean, mean, mean, 1.0 if mean > 0 else 0.0)
    half = scale * _t(len(differences))
    sure = float(stats.t.cdf(mean / scale, max(len(differences) - 1, 1)))
    return Comparison(mean, mean - half, mean + half, sure)


def paired_bootstrap(
    y: NDArray[Any], score: Callable[[NDArray[np.intp]], tuple[float, float]], seed: int
) -> Comparison:
    """``a - b`` over the same resampled rows; ``score(rows)`` gives both (higher is better)."""
    a, b = score(np.arange(len(y)))
    resamples = _resamples(len(y), seed, PAIRED_RESAMPLES)
    differences = [float(np.subtract(*score(rows))) for rows in resamples]
    point = a - b
    low, high = _around(differences, point)
    finite = np.asarray([d for d in differences if np.isfinite(d)], dtype=float)
    sure = float(np.mean(finite > 0)) if len(finite) else 0.0
    return Comparison(point, low, high, sure)
