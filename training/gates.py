"""The gates a model passes before it may be promoted, and the record of each verdict.

* **baseline**: the model's error on the test split must be at most ``1 - margin`` times
  the dummy baseline's error on the same rows (``error`` is ``1 - score`` for accuracy,
  R² and friends, the value itself for RMSE, log loss or perplexity).
* **champion**: a challenger's error must be at most ``1 - margin`` times the current
  champion's error on the challenger's test split (rows neither has trained on, since
  splits are by key hash). With no champion the gate passes.

Every verdict is a :class:`GateResult` written to the model card whether it passes or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from training.metrics import Metric, error


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


def baseline_gate(metric: Metric, value: float, baseline: float, margin: float) -> GateResult:
    """Does the model beat the dummy baseline by ``margin``?"""
    required = _threshold(metric, baseline, margin)
    passed = _beats(metric, value, required, strictly=margin == 0)
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
        f"{margin:.0%} (needed {required:.4g}).",
    )


def champion_gate(
    metric: Metric, value: float, champion: float | None, margin: float, champion_ref: str | None
) -> GateResult:
    """Does the challenger beat the current champion on the same test split?"""
    if champion is None or champion_ref is None:
        return GateResult(
            "champion", True, metric.name, value, None, None, margin, "There is no champion yet."
        )
    required = _threshold(metric, champion, margin)
    passed = _beats(metric, value, required, strictly=True)
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
        f"on the same test split (needed better than {required:.4g}).",
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
