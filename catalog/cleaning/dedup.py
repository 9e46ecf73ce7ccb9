"""Duplicate rows removed, keeping the freshest: by key, by content, and by near-duplicate text.

Exact duplicates are found by DuckDB: one ``GROUP BY`` over the key (or every content
column) that returns only the row number to keep, ``arg_max`` by fetch time with the row
number breaking ties, so the result is the same on every run; Arrow then takes those
rows. Rows with a null key are never merged. Near duplicates come from
:mod:`catalog.cleaning.neardup` clusters, each reduced to its freshest row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.neardup import NearDupParams, near_duplicates
from catalog.profile import quote_ident

ROW = "__harvest_row"
_OLDEST = -(2**62)


@dataclass(frozen=True)
class Deduplicated:
    """The rows kept, and for each removed row (an index into the input) the row kept instead."""

    table: pa.Table
    removed: np.ndarray
    kept_instead: np.ndarray

    @property
    def count(self) -> int:
        return len(self.removed)


def _is_time(table: pa.Table, column: str | None) -> bool:
    return bool(
        column
        and column in table.column_names
        and pa.types.is_timestamp(table.schema.field(column).type)
    )


def _keep_rows(
    table: pa.Table, group_by: Sequence[str], freshness: str | None, skip_nulls: bool
) -> np.ndarray:
    """Row numbers to keep: the freshest of each group (ties: the later row)."""
    used = list(dict.fromkeys([*group_by, *([freshness] if _is_time(table, freshness) else [])]))
    numbered = table.select(used).append_column(
        ROW, pa.array(np.arange(table.num_rows, dtype=np.int64))
    )
    order = ROW
    if _is_time(table, freshness):
        fetched = f"coalesce(epoch_us({quote_ident(str(freshness))}), {_OLDEST})"
        order = f"{fetched}::HUGEINT * 8589934592 + {ROW}"
    columns = ", ".join(quote_ident(c) for c in group_by)
    sql = f"SELECT arg_max({ROW}, {order}) FROM numbered"
    if skip_nulls:
        any_null = " OR ".join(f"{quote_ident(c)} IS NULL" for c in group_by)
        sql += (
            f" WHERE NOT ({any_null}) GROUP BY {columns}"
            f" UNION ALL SELECT {ROW} FROM numbered WHERE {any_null}"
        )
    else:
        sql += f" GROUP BY {columns}"
    con = duckdb.connect()
    try:
        con.register("numbered", numbered)
        keep = np.array(con.execute(sql).to_arrow_table().column(0).to_numpy(), dtype=np.int64)
    finally:
        con.close()
    keep.sort()
    return keep


def _removed(rows: int, keep: np.ndarray) -> np.ndarray:
    mask = np.ones(rows, dtype=bool)
    mask[keep] = False
    return np.flatnonzero(mask)


def dedup_exact(
    table: pa.Table,
    columns: Sequence[str],
    freshness: str | None = "_fetched_at",
    *,
    skip_nulls: bool = True,
) -> Deduplicated:
    """Rows equal in ``columns`` reduced to the freshest. Rows with a null there are all kept
    when ``skip_nulls``; for content duplicates pass False so nulls compare equal.
    ``kept_instead`` is -1: the kept row has the same key or content."""
    none = np.zeros(0, np.int64)
    if table.num_rows < 2 or not columns:
        return Deduplicated(table, none, none)
    keep = _keep_rows(table, columns, freshness, skip_nulls)
    if len(keep) == table.num_rows:
        return Deduplicated(table, none, none)
    removed = _removed(table.num_rows, keep)
    return Deduplicated(table.take(pa.array(keep)), removed, np.full(len(removed), -1, np.int64))


def fetch_micros(table: pa.Table, freshness: str | None) -> np.ndarray:
    """Fetch time per row in microseconds (the oldest possible where unknown)."""
    if not _is_time(table, freshness):
        return np.full(table.num_rows, _OLDEST, dtype=np.int64)
    micros = pc.cast(table.column(str(freshness)), pa.int64())
    return pc.fill_null(micros, _OLDEST).to_numpy().astype(np.int64)


def dedup_near(
    table: pa.Table, column: str, params: NearDupParams, freshness: str | None = "_fetched_at"
) -> tuple[Deduplicated, np.ndarray]:
    """Near-duplicate texts in ``column`` reduced to the freshest row of each cluster; also
    the estimated similarity of each removed row to the row kept instead (when they were a
    candidate pair; else the threshold, as they are joined through other rows)."""
    none = np.zeros(0, np.int64)
    found = near_duplicates(table.column(column), params)
    if not len(found.pairs):
        return Deduplicated(table, none, none), np.zeros(0)
    rows = np.arange(table.num_rows, dtype=np.int64)
    order = np.lexsort((rows, fetch_micros(table, freshness), found.labels))
    labels = found.labels[order]
    keep = np.sort(order[np.r_[labels[1:] != labels[:-1], True]])
    keeper = np.full(int(found.labels.max()) + 1, -1, dtype=np.int64)
    keeper[found.labels[keep]] = keep
    removed = _removed(table.num_rows, keep)
    kept_instead = keeper[found.labels[removed]]
    known = {
        (int(i), int(j)): float(s) for (i, j), s in zip(found.pairs, found.similarity, strict=True)
    }
    similarity = np.array(
        [
            known.get((min(r, k), max(r, k)), params.threshold)
            for r, k in zip(removed.tolist(), kept_instead.tolist(), strict=True)
        ]
    )
    return Deduplicated(table.take(pa.array(keep)), removed, kept_instead), similarity
