"""The gates a model passes before it may be promoted, and the record of each verdict.

* **baseline**: the model's error on the test split must be at most ``1 - margin`` times
  the dummy baseline's error on the same rows (``error`` is ``1 - score`` for accuracy,
  R² and friends, the value itself for RMSE, log loss or perplexity).
* **champion**: a challenger's error must be at most ``1 - margin`` times the current
  champion's error on the challenger's test split (rows neither has trained on, since
  splits are by key hash). With no champion the gate passes.

Both gates know about noise when given a paired :class:`~training.intervals.Comparison`
of ``(1 - margin) x reference error - model error`` on the same test rows (paired
bootstrap) or the same folds (corrected paired t test): they then pass only when at least
``GATE_SURE`` of the evidence says that difference is above zero, and the verdict says how
sure it is. A challenger that ties with the champion within noise does not replace it.

Every verdict is a :class:`GateResult` written to the model card whether it passes or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from training.intervals import (
    Comparison,
    Predictions,
    paired_bootstrap,
    paired_folds,
    text_scores,
)
from training.metrics import Metric, error, prediction_score
from training.task import Task

GATE_SURE = 0.95


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with the numbers that decided it."""

    gate: str  # baseline | champion
    passed: bool
    metric: str
    value: float
    reference: float | None
    required: float | None  # the value the model had to reach (None: nothing to beat)
    margin: float
    detail: str
    sure: float | None = None  # how sure the model beats the reference by the margin (0-1)
    difference: tuple[float, float] | None = None  # 95% interval of that error difference

    def to_json(self) -> dict[str, object]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "metric": self.metric,
            "value": self.value,
            "reference": self.reference,
            "required": self.required,
            "margin": self.margin,
            "detail": self.detail,
            "sure": self.sure,
            "difference": list(self.difference) if self.difference else None,
        }


def _threshold(metric: Metric, reference: float, margin: float) -> float:
    """The metric value whose error is ``(1 - margin)`` times the reference's error."""
    allowed = error(metric, reference) * (1.0 - margin)
    return 1.0 - allowed if metric.bounded else allowed


def _beats(metric: Metric, value: float, required: float, strictly: bool) -> bool:
    if not math.isfinite(value):
        return False
    if metric.greater_is_better:
        return value > required if strictly else value >= required
    return value < required if strictly else value <= required


def _noise(
    passed: bool, comparison: Comparison | None, how: str
) -> tuple[bool, str, float | None, tuple[float, float] | None]:
    """The verdict with the comparison's noise taken into account, and its sentence."""
    if comparison is None:
        return passed, "", None, None
    beyond = comparison.sure >= GATE_SURE
    sentence = (
        f" {comparison.sure:.0%} sure by a {how} (error difference {comparison.difference:.3g}, "
        f"95% interval {comparison.low:.3g} to {comparison.high:.3g}; needed {GATE_SURE:.0%})"
        + ("." if beyond or not passed else ": within noise.")
    )
    return passed and beyond, sentence, comparison.sure, (comparison.low, comparison.high)


def baseline_gate(
    metric: Metric,
    value: float,
    baseline: float,
    margin: float,
    comparison: Comparison | None = None,
    how: str = "",
) -> GateResult:
    """Does the model beat the dummy baseline by ``margin`` (beyond noise, given ``comparison``)?"""
    required = _threshold(metric, baseline, margin)
    passed = _beats(metric, value, required, strictly=margin == 0)
    passed, noise, sure, difference = _noise(passed, comparison, how)
    verdict = "beats" if passed else "does not beat"
    return GateResult(
        "baseline",
        passed,
        metric.name,
        value,
        baseline,
        required,
        margin,
        f"{metric.name} {value:.4g} {verdict} the baseline's {baseline:.4g} by the margin "
        f"{margin:.0%} (needed {required:.4g}).{noise}",
        sure,
        difference,
    )


def champion_gate(
    metric: Metric,
    value: float,
    champion: float | None,
    margin: float,
    champion_ref: str | None,
    comparison: Comparison | None = None,
    how: str = "",
    where: str = "the same test split",
) -> GateResult:
    """Does the challenger beat the current champion on the same rows or folds?"""
    if champion is None or champion_ref is None:
        return GateResult(
            "champion", True, metric.name, value, None, None, margin, "There is no champion yet."
        )
    required = _threshold(metric, champion, margin)
    passed = _beats(metric, value, required, strictly=True)
    passed, noise, sure, difference = _noise(passed, comparison, how)
    verdict = "beats" if passed else "does not beat"
    return GateResult(
        "champion",
        passed,
        metric.name,
        value,
        champion,
        required,
        margin,
        f"{metric.name} {value:.4g} {verdict} champion {champion_ref}'s {champion:.4g} "
        f"on {where} (needed better than {required:.4g}).{noise}",
        sure,
        difference,
    )


def champion_unscored(
    metric: Metric, value: float, margin: float, champion_ref: str, why: str
) -> GateResult:
    """The champion could not be scored on this test split, so the challenger cannot replace it."""
    return GateResult(
        "champion",
        False,
        metric.name,
        value,
        None,
        None,
        margin,
        f"Champion {champion_ref} could not be scored on this test split ({why}); "
        "train under a new model name if the data or target changed.",
    )


def compare_on_folds(
    metric: Metric,
    model: Sequence[float],
    reference: Sequence[float],
    margin: float,
    test_share: float,
) -> Comparison:
    """``(1 - margin) x reference error - model error`` over the same folds."""
    allowed = [(1.0 - margin) * error(metric, r) for r in reference]
    return paired_folds(allowed, [error(metric, m) for m in model], test_share)


def compare_on_rows(
    task: Task,
    metric: Metric,
    y: NDArray[Any],
    model: Predictions,
    reference: Predictions,
    margin: float,
    seed: int,
) -> Comparison:
    """``(1 - margin) x reference error - model error`` over bootstrap resamples of the same rows."""

    def score(rows: NDArray[Any]) -> tuple[float, float]:
        def err(p: Predictions) -> float:
            part = p.take(rows)
            return error(
                metric,
                prediction_score(task, metric, y[rows], part.y_pred, part.proba, part.classes),
            )

        return (1.0 - margin) * err(reference), err(model)

    return paired_bootstrap(y, score, seed)


def compare_on_texts(
    metric: Metric,
    model: NDArray[np.float64],
    reference: NDArray[np.float64],
    margin: float,
    seed: int,
) -> Comparison:
    """``(1 - margin) x reference error - model error`` over bootstrap resamples of the same
    evaluation texts (each a row of (nats, bytes predicted), as a language model scores them)."""

    def score(rows: NDArray[Any]) -> tuple[float, float]:
        def err(documents: NDArray[np.float64]) -> float:
            return error(metric, text_scores(documents[rows])[metric.name])

        return (1.0 - margin) * err(reference), err(model)

    return paired_bootstrap(np.arange(len(model)), score, seed)
