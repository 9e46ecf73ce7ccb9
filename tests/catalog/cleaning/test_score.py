"""The quality score: the documented weighted sum of its four parts."""

from __future__ import annotations

import pyarrow as pa

from catalog.cleaning.profile import profile_table
from catalog.cleaning.rules import RuleResult
from catalog.cleaning.score import quality_score


def test_score_follows_the_formula() -> None:
    profile = profile_table(
        pa.table({"a": [1, None, 3, 4], "b": ["x", "y", None, None], "_url": [None] * 4})
    )
    rules = (
        RuleResult("r1", "unique", "error", True, ""),
        RuleResult("r2", "range", "warn", False, ""),
    )
    score = quality_score(profile, parsed=10, unparseable=1, rules=rules, outlier_rows=1, rows=4)
    assert score.completeness == 0.625  # provenance columns are left out
    assert score.validity == 0.9
    assert round(score.conformance, 4) == round(2 / 3, 4)  # an error rule weighs 2
    assert score.consistency == 0.75
    expected = 100 * (0.4 * 0.625 + 0.3 * 0.9 + 0.2 * (2 / 3) + 0.1 * 0.75)
    assert score.value == round(expected, 1)


def test_a_perfect_table_scores_100_and_an_empty_one_loses_completeness() -> None:
    full = profile_table(pa.table({"a": [1, 2]}))
    assert (
        quality_score(full, parsed=0, unparseable=0, rules=(), outlier_rows=0, rows=2).value == 100
    )
    empty = profile_table(pa.table({"a": pa.array([], pa.int64())}))
    assert (
        quality_score(empty, parsed=0, unparseable=0, rules=(), outlier_rows=0, rows=0).value == 60
    )
