"""Row count, content hash and per-column statistics of a table, in one scan.

The content hash is order-independent (a sum of row hashes) but counts duplicates, and
covers the column names and types, so the same rows in any order hash the same and any
change of a value, a row or the schema changes it.
"""

from __future__ import annotations

import hashlib
import json

import duckdb

from catalog.records import ColumnStats

_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
_ORDERED = (*_NUMERIC, "VARCHAR", "DATE", "TIMESTAMP", "TIME", "BOOLEAN")
_SHOWN_CHARS = 80


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _kind(type_name: str) -> str:
    return type_name.split("(")[0].split(" ")[0].upper()


Profile = tuple[int, str, tuple[tuple[str, str], ...], tuple[ColumnStats, ...]]


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
        col, kind = quote_ident(name), _kind(type_name)
        selects.append(f"count({col})")
        if kind in _ORDERED:
            selects.append(f"approx_count_distinct({col})")
            selects.append(f"left(min({col})::VARCHAR, {_SHOWN_CHARS})")
            selects.append(f"left(max({col})::VARCHAR, {_SHOWN_CHARS})")
        else:
            selects.extend(["NULL", "NULL", "NULL"])
        selects.append(f"avg({col})::DOUBLE" if kind in _NUMERIC else "NULL")
    row = con.execute(f"SELECT {', '.join(selects)} FROM {source}").fetchone()
    assert row is not None
    rows, row_hash = int(row[0]), str(row[1])
    stats = []
    for index, (name, type_name) in enumerate(columns):
        count, distinct, low, high, mean = row[2 + 5 * index : 7 + 5 * index]
        stats.append(
            ColumnStats(
                name=name,
                type=type_name,
                nulls=rows - int(count),
                distinct=min(int(distinct), int(count)) if distinct is not None else 0,
                min=low,
                max=high,
                mean=float(mean) if mean is not None else None,
            )
        )
    digest = hashlib.sha256(
        json.dumps([[c for c in columns if c[0] not in volatile], rows, row_hash]).encode()
    ).hexdigest()
    return rows, digest, columns, tuple(stats)
