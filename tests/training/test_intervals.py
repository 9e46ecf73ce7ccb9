"""Confidence intervals: they contain the point estimate, shrink with more data, and repeat with the seed."""

from __future__ import annotations

import numpy as np
import pytest

from training.intervals import Predictions, bootstrap_intervals, fold_interval, paired_folds
from training.metrics import prediction_scores
from training.task import Task


def noisy_classifier(rows: int, seed: int = 0) -> tuple[np.ndarray, Predictions]:
    """A binary classifier right about 80% of the time, with probabilities."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    right = rng.random(rows) < 0.8
    y_pred = np.where(right, y, 1 - y)
    p1 = np.clip(np.where(y_pred == 1, 0.75, 0.25) + rng.normal(0, 0.1, rows), 0.01, 0.99)
    return y, Predictions(y_pred, np.column_stack([1 - p1, p1]), np.array([0, 1]))


def intervals(rows: int, seed: int = 0) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    y, predicted = noisy_classifier(rows)
    scores = prediction_scores(
        Task.CLASSIFICATION, y, predicted.y_pred, predicted.proba, predicted.classes
    )
    found = bootstrap_intervals(Task.CLASSIFICATION, y, predicted, scores, seed)
    return scores, {name: (i.low, i.high) for name, i in found.items()}


def test_bootstrap_intervals_contain_the_score_shrink_with_rows_and_repeat_with_the_seed() -> None:
    small_scores, small = intervals(100)
    large_scores, large = intervals(2000)
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert small[name][0] <= small_scores[name] <= small[name][1], name
        assert large[name][0] <= large_scores[name] <= large[name][1], name
        assert large[name][1] - large[name][0] < 0.5 * (small[name][1] - small[name][0]), name
    assert 0.05 < small["accuracy"][1] - small["accuracy"][0] < 0.25  # ~ 4 x sqrt(.16 / 100)
    assert intervals(100, seed=3)[1] == intervals(100, seed=3)[1]
    assert intervals(100, seed=3)[1] != intervals(100, seed=4)[1]


def test_fold_intervals_use_the_corrected_variance() -> None:
    scores = [0.80, 0.84, 0.78, 0.82, 0.81, 0.83, 0.79, 0.80, 0.85, 0.78]
    corrected = fold_interval(scores, 0.2)
    naive_half = 2.262 * np.std(scores, ddof=1) / np.sqrt(10)  # t(9) x s / sqrt(J)
    assert corrected.low < np.mean(scores) < corrected.high
    half = (corrected.high - corrected.low) / 2
    ratio = np.sqrt(1 / 10 + 0.25) / np.sqrt(1 / 10)  # wider by the correction
    assert half == pytest.approx(ratio * naive_half, rel=1e-3)
    assert half > 1.8 * naive_half


def test_fold_intervals_stay_within_what_the_metric_can_take() -> None:
    scores = [1.0, 0.9, 1.0, 1.0, 0.95, 1.0, 1.0, 0.9, 1.0, 1.0]
    unbounded = fold_interval(scores, 0.1)
    assert unbounded.high > 1.0  # the t interval alone reaches past a perfect score
    accuracy = fold_interval(scores, 0.1, "accuracy")
    assert accuracy.high == 1.0 and accuracy.low == unbounded.low
    assert fold_interval([1.1, 1.0, 1.3], 0.1, "perplexity").low == 1.0
    assert fold_interval([0.02, 0.0, 0.01], 0.1, "rmse").low == 0.0


def test_a_paired_difference_inside_the_noise_is_not_sure() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.80, 0.03, 10)
    tie = paired_folds(a, a + rng.normal(0.0, 0.01, 10), 0.2)
    assert tie.low < 0 < tie.high and tie.sure < 0.95
    better = paired_folds(a + 0.05, a + rng.normal(0.0, 0.01, 10), 0.2)
    assert better.low > 0 and better.sure > 0.99
