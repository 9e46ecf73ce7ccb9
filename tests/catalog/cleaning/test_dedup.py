"""Exact duplicates by key and by content: the freshest row is kept, the same way every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from catalog.cleaning.dedup import dedup_exact, dedup_near
from catalog.cleaning.neardup import NearDupParams

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _table(skus: list[str | None], hours: list[int], text: list[str] | None = None) -> pa.Table:
    return pa.table(
        {
            "sku": skus,
            "text": text or [f"t{i}" for i in range(len(skus))],
            "_fetched_at": pa.array(
                [T0 + timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def test_by_key_keeps_the_freshest_row() -> None:
    table = _table(["a", "b", "a", "a"], [0, 0, 5, 2])
    result = dedup_exact(table, ["sku"])
    assert result.table.column("text").to_pylist() == ["t1", "t2"]
    assert result.removed.tolist() == [0, 3]


def test_rows_with_a_null_key_are_never_merged() -> None:
    table = _table([None, None, "a"], [0, 0, 0])
    assert dedup_exact(table, ["sku"]).count == 0


def test_ties_keep_the_later_row_on_every_run() -> None:
    table = _table(["a"] * 50, [0] * 50)
    kept = {tuple(dedup_exact(table, ["sku"]).table.column("text").to_pylist()) for _ in range(5)}
    assert kept == {("t49",)}


def test_without_fetch_times_the_later_row_wins() -> None:
    table = pa.table({"sku": ["a", "a", "b"], "v": [1, 2, 3]})
    assert dedup_exact(table, ["sku"], freshness=None).table.column("v").to_pylist() == [2, 3]


def test_by_content_nulls_compare_equal() -> None:
    table = pa.table(
        {
            "name": ["x", "x", None, None, "y"],
            "price": [1.0, 1.0, None, None, 1.0],
            "_fetched_at": pa.array([T0] * 5, pa.timestamp("us", tz="UTC")),
        }
    )
    result = dedup_exact(table, ["name", "price"], skip_nulls=False)
    assert result.removed.tolist() == [0, 2]
    assert result.table.num_rows == 3


def test_near_duplicates_keep_the_freshest_and_say_which_row_stayed() -> None:
    story = "the harbour council approved the new ferry timetable after a long debate on monday"
    table = _table(
        ["a", "b", "c"],
        [3, 9, 0],
        [story, story.replace("monday", "tuesday"), "a completely different story about bees"],
    )
    result, similarity = dedup_near(table, "text", NearDupParams(threshold=0.6))
    assert result.removed.tolist() == [0]
    assert result.kept_instead.tolist() == [1]
    assert 0.6 <= similarity[0] < 1.0
    assert np.array_equal(result.table.column("sku").to_numpy(zero_copy_only=False), ["b", "c"])
