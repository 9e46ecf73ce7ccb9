"""A per-column profile of a table: type, nulls, distinct values, range, mean, the most
common values and a histogram (of values for numbers and times, of lengths for text).

A :class:`ColumnProfile` is the :class:`~catalog.records.ColumnStats` a version records,
computed by the same SQL (:func:`catalog.profile.stats_selects`) in one scan of all
columns, with exact distinct counts, the share of true as a boolean's mean, and the
most common values and a histogram added. Counts come from DuckDB over the Arrow table
(no copy); histograms from NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.values import one_array
from catalog.profile import quote_ident, stats_from, stats_selects
from catalog.records import ColumnStats

TOP_VALUES = 5
BINS = 10
SHOWN_CHARS = 80


@dataclass(frozen=True)
class TopValue:
    value: str
    count: int


@dataclass(frozen=True)
class Histogram:
    """``counts[i]`` values fall in ``[edges[i], edges[i+1])``; ``of`` says what was binned:
    ``value``, ``length`` (characters of text) or ``epoch_seconds`` (times)."""

    of: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnProfile(ColumnStats):
    """A column's statistics (``type`` as Arrow names it, ``distinct`` exact, a boolean's
    ``mean`` its share of true), with its row count, share of nulls, most common values
    and histogram."""

    rows: int = 0
    null_share: float = 0.0
    top: tuple[TopValue, ...] = ()
    histogram: Histogram | None = None


def _histogram(values: np.ndarray, of: str) -> Histogram | None:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None
    counts, edges = np.histogram(values, bins=BINS)
    return Histogram(of, tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _histogram_of(array: pa.Array) -> Histogram | None:
    kind = array.type
    valid = pc.drop_null(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _histogram(np.asarray(pc.cast(valid, pa.float64()).to_numpy(), dtype=float), "value")
    if pa.types.is_timestamp(kind):
        micros = pc.cast(valid, pa.int64()).to_numpy().astype(float)
        unit = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[kind.unit]
        return _histogram(micros / unit, "epoch_seconds")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _histogram(pc.utf8_length(valid).to_numpy().astype(float), "length")
    return None


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _top_values(con: duckdb.DuckDBPyConnection, name: str) -> tuple[TopValue, ...]:
    col = quote_ident(name)
    top = con.execute(
        f"SELECT left({col}::VARCHAR, {SHOWN_CHARS}) AS v, count(*) AS n FROM profiled "
        f"WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC, v LIMIT {TOP_VALUES}"
    ).fetchall()
    return tuple(TopValue(str(v), int(n)) for v, n in top)


def _column_profile(
    con: duckdb.DuckDBPyConnection, array: pa.Array, stats: ColumnStats
) -> ColumnProfile:
    rows = len(array)
    empty = pa.types.is_null(array.type)
    return ColumnProfile(
        **vars(stats),
        rows=rows,
        null_share=stats.nulls / rows if rows else 0.0,
        top=() if empty else _top_values(con, stats.name),
        histogram=None if empty else _histogram_of(array),
    )


def profile_table(table: pa.Table) -> tuple[ColumnProfile, ...]:
    """The profile of every column: their statistics in one scan, then each one's top values."""
    arrays = [one_array(column) for column in table.columns]
    selects = ["count(*)"]
    for name, array in zip(table.column_names, arrays, strict=True):
        kind = array.type
        if pa.types.is_null(kind):
            selects.extend(["0", "0", "NULL", "NULL", "NULL"])
            continue
        orderable = not pa.types.is_nested(kind) and not pa.types.is_binary(kind)
        averaged = _is_numeric(kind) or pa.types.is_boolean(kind)
        selects.extend(stats_selects(name, ordered=orderable, averaged=averaged, exact=True))
    con = duckdb.connect()
    try:
        con.register("profiled", table)
        found = con.execute(f"SELECT {', '.join(selects)} FROM profiled").fetchone()
        assert found is not None
        rows = int(found[0])
        return tuple(
            _column_profile(
                con,
                array,
                stats_from(name, str(array.type), rows, found[1 + 5 * index : 6 + 5 * index]),
            )
            for index, (name, array) in enumerate(zip(table.column_names, arrays, strict=True))
        )
    finally:
        con.close()
