"""The quality score of a clean version: 0 to 100, higher is better.

    score = 100 × (0.40·completeness + 0.30·validity + 0.20·conformance + 0.10·consistency)

- completeness: 1 − the mean null share of the data columns (provenance ``_`` columns
  and derived ``_outlier``/``*_lang`` columns left out);
- validity: 1 − unparseable values ÷ non-empty values given to a typed parser (price,
  number, integer, date, boolean, url);
- conformance: rules passed ÷ rules checked, an ``error`` rule weighing 2 and a ``warn``
  rule 1 (1 when there are no rules);
- consistency: 1 − the share of rows flagged as outliers.

Each part is also stored, so a low score says where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.cleaning.profile import ColumnProfile
from catalog.cleaning.rules import RuleResult

WEIGHTS = {"completeness": 0.40, "validity": 0.30, "conformance": 0.20, "consistency": 0.10}
_SEVERITY_WEIGHT = {"error": 2.0, "warn": 1.0}


@dataclass(frozen=True)
class Score:
    """The score and its four parts (each 0 to 1)."""

    value: float
    completeness: float
    validity: float
    conformance: float
    consistency: float


def is_data_column(name: str) -> bool:
    """Whether a column is data (not provenance or a column cleaning derived)."""
    return not name.startswith("_") and not name.endswith("_lang")


def quality_score(
    profile: tuple[ColumnProfile, ...],
    *,
    parsed: int,
    unparseable: int,
    rules: tuple[RuleResult, ...],
    outlier_rows: int,
    rows: int,
) -> Score:
    """The score of a clean table from its profile, parse counts, rule results and outliers."""
    shares = [p.null_share for p in profile if is_data_column(p.name)]
    completeness = 1.0 - (sum(shares) / len(shares)) if shares and rows else (1.0 if rows else 0.0)
    validity = 1.0 - unparseable / parsed if parsed else 1.0
    weights = [_SEVERITY_WEIGHT[r.severity] for r in rules]
    conformance = (
        sum(w for w, r in zip(weights, rules, strict=True) if r.passed) / sum(weights)
        if weights
        else 1.0
    )
    consistency = 1.0 - outlier_rows / rows if rows else 1.0
    parts = {
        "completeness": completeness,
        "validity": validity,
        "conformance": conformance,
        "consistency": consistency,
    }
    value = 100.0 * sum(WEIGHTS[k] * v for k, v in parts.items())
    return Score(round(value, 1), *(round(v, 4) for v in parts.values()))
