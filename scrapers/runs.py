"""The ``harvest.crawls`` table: one row per crawl, for "last crawls" lists and error reports.

Rows live in the catalog (``lake.harvest.crawls``), written in a catalog transaction by
the process that ran the crawl, so every machine sharing the catalog sees every crawl:
when it ran, what it fetched, how it ended and which version (if any) it committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from catalog import Catalog
from catalog.engine import LAKE
from scrapers.landing import CrawlError

TABLE = f"{LAKE}.harvest.crawls"
_SCHEMA = {
    "run_id": "VARCHAR",
    "source": "VARCHAR",
    "dataset": "VARCHAR",
    "status": "VARCHAR",
    "started_at": "TIMESTAMPTZ",
    "finished_at": "TIMESTAMPTZ",
    "duration_s": "DOUBLE",
    "pages": "BIGINT",
    "items": "BIGINT",
    "errors": "BIGINT",
    "retries": "BIGINT",
    "finish_reason": "VARCHAR",
    "version": "INTEGER",
    "message": "VARCHAR",
    "errors_by_reason": "VARCHAR",  # JSON {reason: count}
    "error_samples": "VARCHAR",  # JSON [{url, reason, status}]
    "counters": "VARCHAR",  # JSON {media, robots_forbidden, browser_pages, ...}
    "dropped": "VARCHAR",  # JSON {size, type, robots: count}, see scrapers.landing.DROPPED
}
_COLUMNS = tuple(_SCHEMA)
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(f'{c} {t}' for c, t in _SCHEMA.items())})"
)

STATUSES = ("committed", "unchanged", "empty", "failed")
"""committed: a new version; unchanged: content equal to the latest version; empty: nothing
to commit; failed: the crawl did not finish (killed, interrupted, crashed)."""


@dataclass(frozen=True)
class CrawlRun:
    """One crawl of one source and how it ended."""

    run_id: str
    source: str
    dataset: str
    status: str
    started_at: datetime
    finished_at: datetime
    duration_s: float = 0.0
    pages: int = 0
    items: int = 0
    errors: int = 0
    retries: int = 0
    finish_reason: str = ""
    version: int | None = None
    message: str = ""
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    error_samples: tuple[CrawlError, ...] = ()
    counters: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def record_run(catalog: Catalog, run: CrawlRun) -> None:
    """Append ``run`` to ``harvest.crawls``."""
    values: list[Any] = [getattr(run, name) for name in _COLUMNS]
    values[_COLUMNS.index("errors_by_reason")] = json.dumps(run.errors_by_reason)
    values[_COLUMNS.index("error_samples")] = json.dumps([asdict(e) for e in run.error_samples])
    values[_COLUMNS.index("counters")] = json.dumps(run.counters)
    values[_COLUMNS.index("dropped")] = json.dumps(run.dropped)

    def write(cur: duckdb.DuckDBPyConnection) -> None:
        cur.execute(_CREATE)
        for column in set(_COLUMNS) - _existing_columns(cur):  # a table made by an older Harvest
            cur.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {_SCHEMA[column]}")
        names = ", ".join(_COLUMNS)
        cur.execute(
            f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join('?' for _ in _COLUMNS)})", values
        )

    catalog.transaction(write, what="record the crawl")


def last_runs(catalog: Catalog, source: str | None = None, limit: int = 20) -> list[CrawlRun]:
    """The latest crawls, newest first (of one source when given)."""
    cur = catalog.cursor()
    existing = _existing_columns(cur)
    if not existing:
        return []
    where = "WHERE source = ?" if source else ""
    params: list[Any] = [source] if source else []
    selected = ", ".join(c if c in existing else f"NULL AS {c}" for c in _COLUMNS)
    rows = cur.execute(
        f"SELECT {selected} FROM {TABLE} {where} ORDER BY started_at DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_run(row) for row in rows]


def _existing_columns(cur: duckdb.DuckDBPyConnection) -> set[str]:
    """The columns ``harvest.crawls`` has (none before the first crawl)."""
    rows = cur.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'harvest' "
        "AND table_name = 'crawls'",
        [LAKE],
    ).fetchall()
    return {row[0] for row in rows}


def _run(row: Sequence[Any]) -> CrawlRun:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["errors_by_reason"] = json.loads(values["errors_by_reason"] or "{}")
    values["counters"] = json.loads(values["counters"] or "{}")
    values["dropped"] = json.loads(values["dropped"] or "{}")
    values["error_samples"] = tuple(
        CrawlError(**e) for e in json.loads(values["error_samples"] or "[]")
    )
    return CrawlRun(**values)
