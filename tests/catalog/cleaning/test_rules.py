"""Every rule kind, passing and failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from catalog.cleaning.rules import RuleContext, check
from catalog.cleaning.spec import RuleSpec

NOW = datetime(2024, 6, 1, tzinfo=UTC)
TABLE = pa.table(
    {
        "sku": ["a", "b", "b", None],
        "price": [1.0, 5.0, 500.0, None],
        "currency": ["USD", "EUR", "XYZ", None],
        "_fetched_at": pa.array(
            [NOW - timedelta(days=d) for d in (1, 2, 3, 4)], pa.timestamp("us", tz="UTC")
        ),
    }
)


def _context(previous: int | None = None) -> RuleContext:
    return RuleContext(key=("sku",), previous_rows=previous, freshness="_fetched_at", now=NOW)


@pytest.mark.parametrize(
    ("rule", "passed", "detail"),
    [
        (RuleSpec("required", columns=("price",)), False, "nulls in price (1)"),
        (RuleSpec("required", columns=("title",)), False, "missing column(s): title"),
        (RuleSpec("required", columns=("_fetched_at",)), True, "present in every row"),
        (
            RuleSpec("range", columns=("price",), min=0, max=100),
            False,
            "1 value(s) outside [0, 100]",
        ),
        (RuleSpec("range", columns=("price",), min=0), True, "within"),
        (RuleSpec("range", columns=("sku",), max=1), False, "not a number"),
        (RuleSpec("allowed", columns=("currency",), values=("USD", "EUR")), False, "XYZ"),
        (RuleSpec("allowed", columns=("currency",), values=("USD", "EUR", "XYZ")), True, "allowed"),
        (RuleSpec("unique", columns=()), False, "1 row(s) repeat a value of (sku)"),
        (RuleSpec("unique", columns=("price",)), True, "unique"),
        (RuleSpec("max_null_share", columns=("sku",), max=0.2), False, "sku is 25.0% null"),
        (RuleSpec("max_null_share", columns=("sku",), max=0.25), True, "within"),
        (RuleSpec("freshness", max_age_seconds=3 * 86400), True, "24.0 h old"),
        (RuleSpec("freshness", max_age_seconds=3600), False, "at most 1.0 h allowed"),
        (RuleSpec("freshness", columns=("price",), max_age_seconds=1), False, "not a time"),
        (RuleSpec("min_rows", min=4), True, "4 row(s)"),
        (RuleSpec("min_rows", min=5), False, "at least 5 needed"),
    ],
)
def test_rules(rule: RuleSpec, passed: bool, detail: str) -> None:
    result = check(rule, TABLE, _context())
    assert result.passed is passed
    assert detail in result.detail
    assert result.blocks is (not passed)  # severity defaults to error


def test_row_drop_against_the_previous_version() -> None:
    rule = RuleSpec("max_row_drop", max=0.5, severity="warn")
    assert check(rule, TABLE, _context(previous=None)).passed
    assert check(rule, TABLE, _context(previous=8)).passed  # exactly half
    dropped = check(rule, TABLE, _context(previous=10))
    assert not dropped.passed and not dropped.blocks
    assert dropped.detail == "10 -> 4 rows: 60.0% fewer (at most 50.0% allowed)"
    assert dropped.value == pytest.approx(0.6)
