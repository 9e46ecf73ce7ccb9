"""Gate arithmetic: margins on the error, both metric directions, and no champion yet."""

from __future__ import annotations

import math

import pytest

from training.gates import baseline_gate, champion_gate, champion_unscored
from training.intervals import Comparison
from training.metrics import METRICS, error


def test_error_of_bounded_and_unbounded_metrics() -> None:
    assert error(METRICS["accuracy"], 0.9) == pytest.approx(0.1)
    assert error(METRICS["r2"], 0.25) == pytest.approx(0.75)
    assert error(METRICS["rmse"], 3.0) == 3.0


def test_baseline_gate_needs_the_margin() -> None:
    accuracy = METRICS["accuracy"]
    passed = baseline_gate(accuracy, 0.70, 0.60, 0.05)
    assert passed.passed and passed.required == pytest.approx(0.62)
    assert "beats the baseline's 0.6 by the margin 5% (needed 0.62)" in passed.detail
    failed = baseline_gate(accuracy, 0.61, 0.60, 0.05)
    assert not failed.passed and "does not beat" in failed.detail
    rmse = METRICS["rmse"]
    assert baseline_gate(rmse, 9.4, 10.0, 0.05).passed
    assert not baseline_gate(rmse, 9.6, 10.0, 0.05).passed
    assert not baseline_gate(rmse, math.nan, 10.0, 0.05).passed


def test_champion_gate() -> None:
    r2 = METRICS["r2"]
    first = champion_gate(r2, 0.5, None, 0.0, None)
    assert first.passed and first.detail == "There is no champion yet."
    assert champion_gate(r2, 0.51, 0.5, 0.0, "m@1").passed
    tie = champion_gate(r2, 0.5, 0.5, 0.0, "m@1")
    assert (
        not tie.passed and "does not beat champion m@1's 0.5 on the same test split" in tie.detail
    )
    assert not champion_gate(METRICS["perplexity"], 5.0, 4.0, 0.0, "lm@2").passed
    assert champion_gate(METRICS["perplexity"], 3.0, 4.0, 0.1, "lm@2").passed
    unscored = champion_unscored(r2, 0.5, 0.0, "m@1", "it predicts 'x'")
    assert (
        not unscored.passed
        and "could not be scored on this test split (it predicts 'x')" in unscored.detail
    )
    assert unscored.to_json()["gate"] == "champion"


def test_a_challenger_better_only_within_noise_does_not_replace_the_champion() -> None:
    accuracy = METRICS["accuracy"]
    noisy = Comparison(difference=0.01, low=-0.02, high=0.04, sure=0.74)
    tie = champion_gate(accuracy, 0.92, 0.91, 0.0, "m@1", noisy, "paired bootstrap of 40 rows")
    assert not tie.passed and tie.sure == 0.74 and tie.difference == (-0.02, 0.04)
    assert (
        "74% sure by a paired bootstrap of 40 rows" in tie.detail and "within noise" in tie.detail
    )
    clear = Comparison(difference=0.08, low=0.03, high=0.12, sure=0.998)
    won = champion_gate(accuracy, 0.99, 0.91, 0.0, "m@1", clear, "paired bootstrap of 40 rows")
    assert won.passed and "100% sure" in won.detail and "does not" not in won.detail
    worse = baseline_gate(accuracy, 0.5, 0.6, 0.0, clear, "paired t test")
    assert not worse.passed  # sure or not, a model below the baseline's point never passes
    assert won.to_json()["sure"] == 0.998 and won.to_json()["difference"] == [0.03, 0.12]
