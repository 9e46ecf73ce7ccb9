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
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    columns = tuple((str(row[0]), str(row[1])) for row in described)
    hashed = [name for name, _ in columns if name not in volatile]
    selects = ["count(*)"]
    selects.append(
        f"sum(hash({', '.join(quote_ident(c) for c in hashed)})::HUGEINT)::VARCHAR"
        if hashed
        else "'0'"
    )
    for name, type_name in columns:
        kind = _kind(type_name)
        selects.extend(
            stats_selects(name, ordered=kind in _ORDERED, averaged=kind in NUMERIC_TYPES)
        )
    row = con.execute(f"SELECT {', '.join(selects)} FROM {source}").fetchone()
    assert row is not None
    rows, row_hash = int(row[0]), str(row[1])
    stats = tuple(
        stats_from(name, type_name, rows, row[2 + 5 * index : 7 + 5 * index])
        for index, (name, type_name) in enumerate(columns)
    )
    digest = hashlib.sha256(
        json.dumps([[c for c in columns if c[0] not in volatile], rows, row_hash]).encode()
    ).hexdigest()
    return rows, digest, columns, stats
