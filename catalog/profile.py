"""Row count, content hash and per-column statistics of a table, in one scan.

The statistics' SQL (:func:`stats_selects`, :func:`stats_from`) is shared with cleaning's
column profile, which adds the most common values and a histogram to the same numbers.

The content hash is order-independent (a sum of row hashes) but counts duplicates, and
covers the column names and types, so the same rows in any order hash the same and any
change of a value, a row or the schema changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import duckdb

from catalog.records import ColumnStats

NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "REAL",
)
"""DuckDB's number types (base names, without precision): the columns that have a mean."""
_ORDERED = (*NUMERIC_TYPES, "VARCHAR", "DATE", "TIMESTAMP", "TIME", "BOOLEAN")
_SHOWN_CHARS = 80


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _kind(type_name: str) -> str:
    return type_name.split("(")[0].split(" ")[0].upper()


Profile = tuple[int, str, tuple[tuple[str, str], ...], tuple[ColumnStats, ...]]


def stats_selects(name: str, *, ordered: bool, averaged: bool, exact: bool = False) -> list[str]:
    """The SELECT expressions of one column's :class:`ColumnStats`: count, distinct, min, max, mean.

    Distinct values are estimated (HyperLogLog) for ordered columns unless ``exact``, which
    counts them for any column; min and max (as text, cut to 80 characters) are there when
    ``ordered``, the mean when ``averaged``. What is not asked for is NULL, so a scan of
    many columns is one SELECT of five expressions each, read back by :func:`stats_from`.
    """
    col = quote_ident(name)
    distinct = (
        f"count(DISTINCT {col})"
        if exact
        else (f"approx_count_distinct({col})" if ordered else "NULL")
    )
    return [
        f"count({col})",
        distinct,
        f"left(min({col})::VARCHAR, {_SHOWN_CHARS})" if ordered else "NULL",
        f"left(max({col})::VARCHAR, {_SHOWN_CHARS})" if ordered else "NULL",
        f"avg({col}::DOUBLE)" if averaged else "NULL",
    ]


def stats_from(name: str, type_name: str, rows: int, values: Sequence[Any]) -> ColumnStats:
    """The :class:`ColumnStats` of a column from the five values :func:`stats_selects` asked for."""
    count, distinct, low, high, mean = values
    return ColumnStats(
        name=name,
        type=type_name,
        nulls=rows - int(count),
        distinct=min(int(distinct), int(count)) if distinct is not None else 0,
        min=low,
        max=high,
        mean=float(mean) if mean is not None else None,
    )


def profile(con: duckdb.DuckDBPyConnection, source: str, volatile: tuple[str, ...] = ()) -> Profile:
    """Return (rows, content hash, columns, stats) of the table or view named by ``source``."""
    columns = _columns(con, source)
    row = con.execute(
        f"SELECT {', '.join([*_fingerprint_selects(columns, volatile), *_stats_selects(columns)])} "
        f"FROM {source}"
    ).fetchone()
    assert row is not None
    rows = int(row[0])
    return (
        rows,
        _digest(columns, volatile, rows, str(row[1])),
        columns,
        _stats(columns, rows, row[2:]),
    )


def fingerprint(
    con: duckdb.DuckDBPyConnection, source: str, volatile: tuple[str, ...] = ()
) -> tuple[int, str, tuple[tuple[str, str], ...]]:
    """(rows, content hash, columns) of ``source``: the part of :func:`profile` a commit
    needs before it writes (an unchanged table makes no version), in a scan of its own."""
    columns = _columns(con, source)
    row = con.execute(
        f"SELECT {', '.join(_fingerprint_selects(columns, volatile))} FROM {source}"
    ).fetchone()
    assert row is not None
    rows = int(row[0])
    return rows, _digest(columns, volatile, rows, str(row[1])), columns


def column_stats(
    con: duckdb.DuckDBPyConnection, source: str, columns: tuple[tuple[str, str], ...], rows: int
) -> tuple[ColumnStats, ...]:
    """The per-column statistics of :func:`profile`, in a scan of their own (a commit runs
    it on another cursor while DuckDB writes the data file)."""
    if not columns:
        return ()
    row = con.execute(f"SELECT {', '.join(_stats_selects(columns))} FROM {source}").fetchone()
    assert row is not None
    return _stats(columns, rows, row)


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> tuple[tuple[str, str], ...]:
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return tuple((str(row[0]), str(row[1])) for row in described)


def _fingerprint_selects(
    columns: tuple[tuple[str, str], ...], volatile: tuple[str, ...]
) -> list[str]:
    hashed = [name for name, _ in columns if name not in volatile]
    return [
        "count(*)",
        f"sum(hash({', '.join(quote_ident(c) for c in hashed)})::HUGEINT)::VARCHAR"
        if hashed
        else "'0'",
    ]


def _stats_selects(columns: tuple[tuple[str, str], ...]) -> list[str]:
    selects = []
    for name, type_name in columns:
        kind = _kind(type_name)
        selects.extend(
            stats_selects(name, ordered=kind in _ORDERED, averaged=kind in NUMERIC_TYPES)
        )
    return selects


def _stats(
    columns: tuple[tuple[str, str], ...], rows: int, values: Sequence[Any]
) -> tuple[ColumnStats, ...]:
    return tuple(
        stats_from(name, type_name, rows, values[5 * index : 5 * index + 5])
        for index, (name, type_name) in enumerate(columns)
    )


def _digest(
    columns: tuple[tuple[str, str], ...], volatile: tuple[str, ...], rows: int, row_hash: str
) -> str:
    return hashlib.sha256(
        json.dumps([[c for c in columns if c[0] not in volatile], rows, row_hash]).encode()
    ).hexdigest()
