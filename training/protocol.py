"""Which evaluation protocol a run uses, and repeated cross-validation for small data.

Below ``CV_PROTOCOL_ROWS`` labelled rows one test split is too noisy to judge a model by:
on a 20-feature synthetic problem the standard deviation of a 15% test split's accuracy
over 20 random splits is 0.033 at 750 rows, 0.021 at 3,000, 0.014 at 6,000 and first falls
under 0.01 (one point) at 10,000 rows (0.0073; ROC AUC 0.0087), see ``docs/training.md``.
So below it, a tabular model's reported scores are the mean over repeated stratified
``CV_FOLDS``-fold cross-validation (``CV_REPEATS`` times) on *all* labelled rows, with the
dummy baseline (and a champion's recipe) fit on the same folds, and the saved model is
refit on all of them. Above it, the test split is used as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline

from training.evaluation import Splits
from training.intervals import Interval, fold_interval
from training.metrics import prediction_scores
from training.task import Task

CV_PROTOCOL_ROWS = 10_000
CV_FOLDS = 5
CV_REPEATS = 2
TEST_SPLIT = "test_split"
REPEATED_CV = "repeated_cv"

Fold = tuple[NDArray[np.intp], NDArray[np.intp]]


def choose_protocol(task: Task, rows: int, uses_torch: bool) -> str:
    """``repeated_cv`` for small tabular data fit by scikit-learn, else ``test_split``."""
    tabular = task in (Task.CLASSIFICATION, Task.REGRESSION)
    return REPEATED_CV if tabular and not uses_torch and rows < CV_PROTOCOL_ROWS else TEST_SPLIT


def describe(protocol: str, rows: int) -> str:
    """The protocol in one sentence, for the card and the command line."""
    if protocol == REPEATED_CV:
        return (
            f"Scores are the mean over {CV_REPEATS} x {CV_FOLDS}-fold cross-validation "
            f"(stratified for classes) on all {rows} labelled rows, with 95% intervals from the "
            "spread over folds; the saved model is refit on all of them. Per-class figures, "
            "plots and importance come from a fit on the training split, scored on the test split."
        )
    return (
        "Scores are from the held-out test split, with 95% bootstrap intervals over its rows; "
        "the saved model is fit on the training split."
    )


def all_rows(splits: Splits) -> tuple[pd.DataFrame, NDArray[Any]]:
    """Features and targets of every labelled row (training, validation and test splits)."""
    assert splits.y_train is not None and splits.y_val is not None and splits.y_test is not None
    X = pd.concat([splits.X_train, splits.X_val, splits.X_test], ignore_index=True)
    return X, np.concatenate([splits.y_train, splits.y_val, splits.y_test])


def repeated_folds(task: Task, y: NDArray[Any], seed: int) -> list[Fold]:
    """``CV_REPEATS`` x ``CV_FOLDS`` folds, stratified when every class has enough rows."""
    rows = np.zeros(len(y))
    if task.is_classification and pd.Series(y).value_counts().min() >= CV_FOLDS:
        stratified = RepeatedStratifiedKFold(
            n_splits=CV_FOLDS, n_repeats=CV_REPEATS, random_state=seed % 2**32
        )
        return list(stratified.split(rows, y))
    plain = RepeatedKFold(n_splits=CV_FOLDS, n_repeats=CV_REPEATS, random_state=seed % 2**32)
    return list(plain.split(rows))


@dataclass(frozen=True)
class FoldScores:
    """Every metric on every fold, for one model recipe."""

    folds: tuple[Mapping[str, float], ...]
    test_share: float  # held-out rows per fold / all rows

    def of(self, name: str) -> list[float]:
        return [f.get(name, float("nan")) for f in self.folds]

    def means(self) -> dict[str, float]:
        return {name: float(np.nanmean(self.of(name))) for name in self.folds[0]}

    def intervals(self) -> dict[str, Interval]:
        return {name: fold_interval(self.of(name), self.test_share, name) for name in self.folds[0]}


def cross_validate(
    task: Task,
    build: Callable[[], Pipeline],
    X: pd.DataFrame,
    y: NDArray[Any],
    folds: Sequence[Fold],
) -> FoldScores:
    """Fit a fresh ``build()`` on each fold's training rows and score every metric on the rest."""
    scores = []
    for fit_rows, held_out in folds:
        model = build().fit(X.iloc[fit_rows], y[fit_rows])
        X_out = X.iloc[held_out]
        has_proba = task.is_classification and hasattr(model, "predict_proba")
        proba = model.predict_proba(X_out) if has_proba else None
        classes = getattr(model, "classes_", None)
        scores.append(prediction_scores(task, y[held_out], model.predict(X_out), proba, classes))
    return FoldScores(tuple(scores), 1.0 / CV_FOLDS)
