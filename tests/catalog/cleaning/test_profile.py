"""The per-column profile: type, nulls, distinct, range, mean, top values, histogram."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from catalog import Catalog, ColumnStats
from catalog.cleaning.profile import profile_table


def test_profile_of_each_kind_of_column() -> None:
    table = pa.table(
        {
            "price": [1.0, 2.0, None, 100.0],
            "name": ["x", "yy", "x", None],
            "empty": pa.nulls(4),
            "flag": [True, False, True, None],
            "at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC")),
        }
    )
    price, name, empty, flag, at = profile_table(table)
    assert (price.nulls, price.distinct, price.min, price.max) == (1, 3, "1.0", "100.0")
    assert price.mean is not None and round(price.mean, 3) == 34.333
    assert price.histogram is not None and sum(price.histogram.counts) == 3
    assert price.histogram.of == "value" and len(price.histogram.edges) == 11
    assert [(t.value, t.count) for t in name.top] == [("x", 2), ("yy", 1)]
    assert name.histogram is not None and name.histogram.of == "length"
    assert (empty.nulls, empty.null_share, empty.distinct) == (4, 1.0, 0)
    assert flag.mean is not None and round(flag.mean, 3) == 0.667
    assert at.histogram is not None and at.histogram.of == "epoch_seconds"


def test_a_profile_is_the_stats_a_version_records_plus_top_values_and_histogram(
    catalog: Catalog,
) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "price": [1.5, None, 2.5, 2.5, 10.0],
            "name": ["lamp", "desk", None, "lamp", "chair"],
        }
    )
    version = catalog.commit("imports.profiled", table, producer="test").version
    profile = profile_table(table)
    assert all(isinstance(p, ColumnStats) for p in profile)
    for recorded, profiled in zip(version.stats, profile, strict=True):
        assert (recorded.name, recorded.nulls, recorded.distinct) == (
            profiled.name,
            profiled.nulls,
            profiled.distinct,
        )
        assert (recorded.min, recorded.max, recorded.mean) == (
            profiled.min,
            profiled.max,
            profiled.mean,
        )
    assert [p.type for p in profile] == ["int64", "double", "string"]  # Arrow's names
