"""The search: a leaderboard of every trial, a trial cap, failures recorded, the simplest near-best wins."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.training.conftest import bundled
from training.families import FamilyContext, families_for, family
from training.features import profile_columns
from training.metrics import METRICS
from training.search import Problem, TrialRecord, search
from training.task import Task


def problem(name: str = "iris", task: Task = Task.CLASSIFICATION, folds: int = 3) -> Problem:
    frame = bundled(name).sample(frac=1.0, random_state=0).reset_index(drop=True)
    X, y = frame.drop(columns=["row_id", "target"]), frame["target"].to_numpy()
    context = FamilyContext(task, profile_columns(X.assign(t=y), "t"), seed=0)
    metric = METRICS["accuracy" if task.is_classification else "r2"]
    return Problem(task, metric, X, y, X.head(0), y[:0], context, cv_folds=folds, seed=0)


def test_selection_then_capped_tuning_on_the_leaderboard() -> None:
    seen: list[TrialRecord] = []
    result = search(
        problem(),
        families_for(Task.CLASSIFICATION, ["linear", "tree"]),
        budget=60,
        max_trials=4,
        on_trial=seen.append,
    )
    assert [t.phase for t in result.trials] == ["selection"] * 3 + ["tuning"] * 4
    assert [t.number for t in result.trials] == list(range(7))
    assert seen == list(result.trials)
    selection = result.trials[:3]
    assert [t.family for t in selection] == ["dummy", "linear", "tree"]
    assert all(len(t.fold_scores) == 3 and t.state == "complete" for t in selection)
    assert {t.family for t in result.trials[3:]} <= {"linear", "tree"}
    tuned = [t for t in result.trials[3:] if t.state == "complete"]
    assert all(t.params for t in tuned)
    assert result.best.family != "dummy" and result.best.state == "complete"


def test_no_tuning_and_a_single_family_is_not_cross_validated() -> None:
    result = search(
        problem(), families_for(Task.CLASSIFICATION, ["forest"]), budget=60, max_trials=0
    )
    assert [(t.family, t.state, t.score) for t in result.trials][1] == ("forest", "complete", None)
    assert result.best.family == "forest"


def test_a_spent_budget_skips_the_remaining_families_but_runs_one() -> None:
    result = search(
        problem(), families_for(Task.CLASSIFICATION, ["linear", "tree", "forest"]), budget=1e-6
    )
    states = [(t.family, t.state) for t in result.trials]
    assert states == [
        ("dummy", "complete"),
        ("linear", "complete"),
        ("tree", "skipped"),
        ("forest", "skipped"),
    ]
    assert result.trials[2].message == "time budget spent"


def test_a_family_that_fails_is_a_failed_trial_not_a_crash() -> None:
    result = search(
        problem(),
        [family("dummy"), family("linear"), family("tree")],
        budget=30,
        max_trials=0,
        fixed={"tree": {"max_depth": -1}},
    )
    assert result.trials[2].state == "failed" and "max_depth" in result.trials[2].message
    assert result.best.family == "linear"


def test_one_standard_error_rule_prefers_the_simpler_family() -> None:
    from training.search import _one_standard_error

    families = families_for(Task.CLASSIFICATION, ["linear", "forest"])
    near = [
        TrialRecord(1, "selection", "linear", {}, "complete", score=0.95, std=0.02),
        TrialRecord(2, "selection", "forest", {}, "complete", score=0.96, std=0.04),
    ]
    assert _one_standard_error(near, families, METRICS["accuracy"], 5).family == "linear"  # type: ignore[union-attr]
    far = [near[0], TrialRecord(2, "selection", "forest", {}, "complete", score=0.99, std=0.01)]
    assert _one_standard_error(far, families, METRICS["accuracy"], 5).family == "forest"  # type: ignore[union-attr]


def test_regression_search_reports_r2() -> None:
    result = search(
        problem("diabetes", Task.REGRESSION),
        families_for(Task.REGRESSION, ["linear"]),
        budget=30,
        max_trials=2,
    )
    assert result.best.family == "linear"
    assert result.best.score is not None and 0.3 < result.best.score < 0.7
    assert pd.Series([t.phase for t in result.trials]).tolist().count("tuning") == 2


@pytest.mark.parametrize("state", ["complete", "pruned", "failed", "skipped"])
def test_trial_records_are_json(state: str) -> None:
    record = TrialRecord(0, "tuning", "svm", {"C": 1.0}, state, message="m")
    assert record.to_json()["state"] == state and record.to_json()["params"] == {"C": 1.0}
