"""DuckDB connections with the DuckLake catalog attached, and retries for conflicting commits.

The extensions come from PyPI wheels pinned to DuckDB's version and are DuckDB-signed, so
they load with a plain ``LOAD '<file>'``: nothing is installed from the network and
unsigned extensions are never enabled.

A data path on S3 (or any S3-compatible store) takes its endpoint, region, keys and URL
style from ``HARVEST_S3_*`` settings in the environment; they become a DuckDB secret of the
connection (kept in memory, never written, never in an error message).
"""

from __future__ import annotations

import importlib
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import psycopg2

from core.errors import HarvestError
from core.workspace import S3_SETTINGS, Workspace

LAKE = "lake"
_EXTENSIONS = ("duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner")
# Loaded only when the workspace needs them: a catalog on PostgreSQL, a data path on S3.
_POSTGRES = "duckdb_extension_postgres_scanner"
_HTTPFS = "duckdb_extension_httpfs"
_ERROR_CLASS = re.compile(r"^[A-Za-z ]+ Error: ")
_RETRYABLE = (
    "database is locked",
    "conflict",
    "busy",
    "could not serialize",
    "duplicate key",  # PostgreSQL: two commits took the same snapshot id
    "serializ",  # PostgreSQL: a serialization failure
    "maximum retry count",  # DuckLake gave up retrying a conflict itself
    # PostgreSQL restarting: the transaction was lost, so it is run again (a commit that did land
    # is found by its content hash the second time and makes no second version)
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "no connection to the server",
    "the database system is starting up",
    "the database system is shutting down",
    "failed: connection refused",
    # DuckLake's commit failed and so did its ROLLBACK, with libpq's message empty: the
    # connection died under the commit (the content hash finds a commit that did land)
    'failed to execute query "rollback"',
)
# psycopg2's own errors come from the writers' lock on a catalog's PostgreSQL (catalog/writers.py)
_RETRIED = (duckdb.Error, psycopg2.OperationalError)
T = TypeVar("T")


class CatalogError(HarvestError):
    """The catalog could not do what was asked."""


@cache
def extension_files(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Paths of the DuckLake and SQLite extension files (and ``extra`` ones) in their wheels."""
    files = []
    for module_name in (*_EXTENSIONS, *extra):
        module = importlib.import_module(module_name)
        found = sorted(Path(module.__file__ or "").parent.glob("extensions/*/*.duckdb_extension"))
        if not found:
            raise CatalogError(f"The {module_name} wheel has no extension file; reinstall Harvest.")
        files.append(str(found[-1]))
    return tuple(files)


def load_extensions(con: duckdb.DuckDBPyConnection, workspace: Workspace | None = None) -> None:
    """Load the extensions every connection needs, and those ``workspace``'s settings need."""
    for path in extension_files(needed_extensions(workspace) if workspace else ()):
        con.execute(f"LOAD {quote_literal(path)}")


def needed_extensions(workspace: Workspace) -> tuple[str, ...]:
    """The extension wheels beyond DuckLake and SQLite that ``workspace`` needs."""
    needed = []
    if workspace.catalog_uri.startswith(("ducklake:postgres:", "postgres:")):
        needed.append(_POSTGRES)
    if workspace.remote:
        needed.append(_HTTPFS)
    return tuple(needed)


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def attach(
    con: duckdb.DuckDBPyConnection, workspace: Workspace, *, read_only: bool = False
) -> None:
    """Attach the workspace's DuckLake catalog as ``lake``; data files are always Parquet."""
    options = [f"DATA_PATH {quote_literal(workspace.data_path)}"]
    options.append("READ_ONLY" if read_only else "DATA_INLINING_ROW_LIMIT 0")
    sql = f"ATTACH {quote_literal(workspace.catalog_uri)} AS {LAKE} ({', '.join(options)})"
    retry(lambda: con.execute(sql), what="open the catalog")


def connect(
    workspace: Workspace, *, read_only: bool = False, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection with the workspace's lake attached."""
    config: dict[str, str | bool | int | float | list[str]] = (
        {"threads": threads} if threads else {}
    )
    con = duckdb.connect(config=config)
    load_extensions(con, workspace)
    if _HTTPFS in needed_extensions(workspace):
        create_s3_secret(con, os.environ)
    attach(con, workspace, read_only=read_only)
    return con


def create_s3_secret(con: duckdb.DuckDBPyConnection, environ: Mapping[str, str]) -> None:
    """The S3 settings in ``environ`` as the connection's (temporary) S3 secret, if any."""
    given = {option: environ[name] for option, name in S3_SETTINGS.items() if environ.get(name)}
    if not given:
        return  # DuckDB's defaults: anonymous, AWS's endpoint
    endpoint = given.get("ENDPOINT", "")
    if "://" in endpoint:  # a URL: its scheme says whether to use TLS
        given.setdefault("USE_SSL", str(endpoint.startswith("https://")))
        given["ENDPOINT"] = endpoint.split("://", 1)[1].rstrip("/")
    options = [
        f"{option} {value.lower() in ('1', 'true', 'yes', 'on')}"
        if option == "USE_SSL"
        else f"{option} {quote_literal(value)}"
        for option, value in given.items()
    ]
    try:
        con.execute(f"CREATE OR REPLACE SECRET harvest_s3 (TYPE s3, {', '.join(options)})")
    except duckdb.Error as error:
        message = first_line(error)
        for option in ("KEY_ID", "SECRET", "SESSION_TOKEN"):
            message = message.replace(given.get(option) or "\0", "…")
        raise CatalogError(f"The S3 settings (HARVEST_S3_*) were refused: {message}") from None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Any:
    """The first value of the first row of a query."""
    row = con.execute(sql, params or []).fetchone()
    if row is None:
        raise CatalogError(f"The catalog returned no row for: {sql[:60]}")
    return row[0]


def is_retryable(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, _RETRIED) and any(word in text for word in _RETRYABLE)


def retry(fn: Callable[[], T], *, what: str, attempts: int = 12, base_delay: float = 0.05) -> T:
    """Run ``fn``, retrying lock and commit conflicts with jittered exponential backoff."""
    for attempt in range(attempts):
        try:
            return fn()
        except _RETRIED as error:
            if not is_retryable(error) or attempt == attempts - 1:
                raise CatalogError(f"Could not {what}: {first_line(error)}") from error
            time.sleep(min(2.0, base_delay * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def first_line(error: BaseException) -> str:
    """The first line of an error message, without DuckDB's error-class prefix."""
    line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return _ERROR_CLASS.sub("", line, count=1)
