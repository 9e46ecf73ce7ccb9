"""A per-column profile of a table: type, nulls, distinct values, range, mean, the most
common values and a histogram (of values for numbers and times, of lengths for text).

Counts come from DuckDB over the Arrow table (no copy); histograms from NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.values import one_array
from catalog.profile import quote_ident

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
class ColumnProfile:
    name: str
    type: str
    rows: int
    nulls: int
    null_share: float
    distinct: int
    min: str | None = None
    max: str | None = None
    mean: float | None = None
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


def profile_column(con: duckdb.DuckDBPyConnection, table: pa.Table, name: str) -> ColumnProfile:
    array = one_array(table.column(name))
    kind = array.type
    col = quote_ident(name)
    rows = len(array)
    if pa.types.is_null(kind):
        return ColumnProfile(name, str(kind), rows, rows, 1.0 if rows else 0.0, 0)
    orderable = not pa.types.is_nested(kind) and not pa.types.is_binary(kind)
    mean = f"avg({col}::DOUBLE)" if _is_numeric(kind) or pa.types.is_boolean(kind) else "NULL"
    bounds = (
        f"left(min({col})::VARCHAR, {SHOWN_CHARS}), left(max({col})::VARCHAR, {SHOWN_CHARS})"
        if orderable
        else "NULL, NULL"
    )
    found = con.execute(
        f"SELECT count({col}), count(DISTINCT {col}), {bounds}, {mean} FROM profiled"
    ).fetchone()
    assert found is not None
    count, distinct, low, high, average = found
    top = con.execute(
        f"SELECT left({col}::VARCHAR, {SHOWN_CHARS}) AS v, count(*) AS n FROM profiled "
        f"WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC, v LIMIT {TOP_VALUES}"
    ).fetchall()
    nulls = rows - int(count)
    return ColumnProfile(
        name=name,
        type=str(kind),
        rows=rows,
        nulls=nulls,
        null_share=nulls / rows if rows else 0.0,
        distinct=int(distinct),
        min=low,
        max=high,
        mean=float(average) if average is not None else None,
        top=tuple(TopValue(str(v), int(n)) for v, n in top),
        histogram=_histogram_of(array),
    )


def profile_table(table: pa.Table) -> tuple[ColumnProfile, ...]:
    """The profile of every column."""
    con = duckdb.connect()
    try:
        con.register("profiled", table)
        return tuple(profile_column(con, table, name) for name in table.column_names)
    finally:
        con.close()
