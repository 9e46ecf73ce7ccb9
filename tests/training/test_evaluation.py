"""Permutation importance: the signal column matters, the noise column does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_importance
from sklearn.pipeline import Pipeline

from training.evaluation import permutation_importance
from training.metrics import METRICS
from training.spec import Task


def table(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "signal": rng.normal(size=rows),
            "weak": rng.normal(size=rows),
            "noise": rng.normal(size=rows),
        }
    )


def test_regression_importance_ranks_columns_like_scikit_learn() -> None:
    X = table()
    y = 3 * X["signal"].to_numpy() + 0.5 * X["weak"].to_numpy()
    model = Pipeline([("model", HistGradientBoostingRegressor(random_state=0))]).fit(X, y)
    ours = {
        i.feature: i for i in permutation_importance(Task.REGRESSION, METRICS["r2"], model, X, y, 0)
    }
    theirs = sk_importance(model, X, y, scoring="r2", n_repeats=3, random_state=0)
    assert ours["signal"].mean > ours["weak"].mean > ours["noise"].mean
    assert abs(ours["noise"].mean) < 0.02 and ours["signal"].mean > 1.0
    for column, mean in zip(X.columns, theirs.importances_mean, strict=True):
        assert ours[column].mean == pytest.approx(mean, abs=0.15)
    assert all(i.std >= 0 for i in ours.values())


def test_classification_importance_from_probabilities() -> None:
    X = table()
    y = np.where(X["signal"] > 0, "up", "down")
    model = Pipeline([("model", RandomForestClassifier(n_estimators=30, random_state=0))]).fit(X, y)
    scores = permutation_importance(Task.CLASSIFICATION, METRICS["log_loss"], model, X, y, 1)
    by_name = {i.feature: i.mean for i in scores}
    # log loss: lower is better, so the drop of the signed score is positive for a useful column
    assert by_name["signal"] > 0.5 and abs(by_name["noise"]) < 0.1
    assert [i.feature for i in scores] == ["signal", "weak", "noise"]
