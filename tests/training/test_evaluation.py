"""Permutation importance: the signal column matters, the noise column does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_importance
from sklearn.pipeline import Pipeline

from training.evaluation import (
    IMPORTANCE_REPEATS,
    Splits,
    _shuffled_copies,
    evaluate,
    permutation_importance,
)
from training.metrics import METRICS, labels_of
from training.task import Task


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


def test_a_test_class_the_model_never_saw_is_scored_as_a_miss(tmp_path: Path) -> None:
    """Small scrapes can put a whole class in the test split only: scored, never a crash."""
    X = table(rows=300)
    y = np.where(X["signal"] > 0, "up", "down")
    model = Pipeline([("model", RandomForestClassifier(n_estimators=20, random_state=0))]).fit(X, y)
    X_test = table(rows=40, seed=5)
    y_test = np.where(X_test["signal"] > 0, "up", "down").astype(object)
    y_test[:10] = "sideways"  # a class absent from training

    splits = Splits(X, y, X_test.iloc[:0], y[:0], X_test, y_test)
    result = evaluate(
        Task.CLASSIFICATION,
        METRICS["log_loss"],
        model,
        splits,
        refit=None,
        plot_dir=tmp_path,
        seed=0,
    )

    predicted = model.predict(X_test)
    assert result.test["accuracy"] == pytest.approx(np.mean(predicted == y_test))
    assert result.test["accuracy"] <= 0.75, "the unseen rows can never be right"
    # probability ~1e-15 for the true class of each unseen row: log loss is large, not infinite
    assert 8 < result.test["log_loss"] < 35
    assert "roc_auc" not in result.test, "AUC is undefined with a class the model cannot score"
    assert result.per_class["sideways"]["support"] == 10
    assert result.per_class["sideways"]["recall"] == 0
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000


def test_labels_of_puts_unseen_classes_after_the_models() -> None:
    labels = labels_of(np.array(["b", "a"]), np.array(["a", "z", "c", "b", "z"]))
    assert list(labels) == ["b", "a", "c", "z"]
    assert list(labels_of(np.array([0, 1]), np.array([1, 0, 1]))) == [0, 1]


def test_shuffled_copies_shuffle_one_column_each_and_keep_dtypes() -> None:
    rng = np.random.default_rng(3)
    sample = pd.DataFrame(
        {
            "number": rng.normal(size=50),
            "level": pd.Categorical(rng.choice(["low", "high"], 50)),
            "count": pd.Series(rng.integers(0, 9, 50), dtype="Int64"),
        }
    )
    together = _shuffled_copies(sample, np.random.default_rng(0))
    assert together.dtypes.tolist() == sample.dtypes.tolist()
    blocks = [together.iloc[i * 50 : (i + 1) * 50].reset_index(drop=True) for i in range(10)]
    assert len(together) == 50 * (1 + 3 * IMPORTANCE_REPEATS) and blocks[0].equals(sample)
    for number, column in enumerate(sample.columns):
        for repeat in range(IMPORTANCE_REPEATS):
            block = blocks[1 + number * IMPORTANCE_REPEATS + repeat]
            others = [c for c in sample.columns if c != column]
            assert block[others].equals(sample[others])
            assert not block[column].equals(sample[column])
            assert sorted(block[column].astype(str)) == sorted(sample[column].astype(str))
