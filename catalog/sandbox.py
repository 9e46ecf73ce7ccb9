"""The sandboxed SQL console: read-only, file access limited to the data path, time and memory limits.

Every dataset is a view ``stage.name``; a pinned version is reachable as ``stage.name@N``
(written bare in the query, as in ``SELECT * FROM raw.products@2``). Only SELECT-style
statements run: writes, ATTACH, INSTALL, COPY, settings and anything else are refused with
a sentence that says so. External access is off and the configuration is locked once the
catalog is attached, so even a SELECT cannot read files outside the data path.

Where it reads exactly the same rows and columns, a dataset's view reads the Parquet files
DuckLake lists for the table at that snapshot with ``read_parquet``, which skips DuckLake's
per-query scan setup. Harvest writes each version as a fresh table, so those files are the
version's rows; a table with delete files, no data files (empty or inlined), encrypted
files, columns whose types differ from DuckLake's, or a remote data path keeps the DuckLake
scan. A latest-version view is listed again when a query names it after any commit; a view
whose file has gone (``harvest catalog vacuum`` merged and deleted it) is listed again and
the query retried once.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa

from catalog.engine import LAKE, connect, first_line, quote_literal
from catalog.profile import quote_ident
from catalog.records import STAGES
from harvest.errors import HarvestError
from harvest.workspace import Workspace

_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
_PINNED = re.compile(
    r"\b(?P<stage>" + "|".join(STAGES) + r")\.(?P<name>[a-z][a-z0-9_]*)@(?P<version>\d+)\b"
)
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
# Table functions that reach a table through a computed string: a query calling one may read
# any dataset, whatever names its text contains.
_DYNAMIC = re.compile(r"\bquery(?:_table)?\s*\(", re.IGNORECASE)
_WORD = re.compile(r"\w+")  # a latest view is named by a query whose words include its name
# How long an idle sandbox keeps its read transaction (and so its SQLite read snapshot,
# which holds back WAL checkpoints) before letting it go.
IDLE_RELEASE_SECONDS = 1.0


class QueryError(HarvestError):
    """A query the sandbox refused or could not run."""


@dataclass(frozen=True)
class Limits:
    """How much one query may take."""

    seconds: float = 30.0
    memory: str = "2GB"
    threads: int = 2
    max_rows: int = 100_000


class _Commits:
    """Tells whether any process committed to a SQLite catalog since :meth:`mark`.

    SQLite's ``PRAGMA data_version`` changes exactly when another connection commits, and
    reading it costs microseconds.
    """

    def __init__(self, catalog_file: Path) -> None:
        self._db = sqlite3.connect(
            f"{catalog_file.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._seen = -1

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def mark(self) -> int:
        self._seen = self._version()
        return self._seen

    def since_mark(self) -> bool:
        return self._version() != self._seen

    def close(self) -> None:
        self._db.close()


class _Watchdog:
    """One thread per sandbox that stops an overlong query and ends an idle read transaction.

    Starting a ``threading.Timer`` per query cost about a millisecond on a busy machine
    (each start waits for the new thread to be scheduled); this thread is started once.
    It holds its callbacks weakly, so a sandbox that is dropped without ``close`` is still
    collected and the thread ends.
    """

    _POLL_SECONDS = 5.0  # how often an idle watchdog checks that its sandbox still exists

    def __init__(self, on_timeout: Callable[[], object], on_idle: Callable[[], object]) -> None:
        self._on_timeout = weakref.WeakMethod(on_timeout)  # type: ignore[arg-type]
        self._on_idle = weakref.WeakMethod(on_idle)  # type: ignore[arg-type]
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._idle_at: float | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="sandbox-watchdog", daemon=True)
        self._thread.start()

    def arm_timeout(self, seconds: float) -> None:
        with self._cond:
            self._deadline, self._idle_at = time.monotonic() + seconds, None
            self._cond.notify()

    def disarm_timeout(self) -> None:
        with self._cond:
            self._deadline = None

    def arm_idle(self, seconds: float) -> None:
        with self._cond:
            self._idle_at = time.monotonic() + seconds
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _next_action(self) -> Callable[[], object] | None:
        """Wait until a deadline passes and return its callback (None: stop)."""
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if self._deadline is not None and now >= self._deadline:
                    self._deadline = None
                    return self._on_timeout()
                if self._idle_at is not None and now >= self._idle_at:
                    self._idle_at = None
                    return self._on_idle()
                if self._on_idle() is None:
                    return None  # the sandbox is gone
                due = [t - now for t in (self._deadline, self._idle_at) if t is not None]
                self._cond.wait(min([*due, self._POLL_SECONDS]))
            return None

    def _loop(self) -> None:
        while (action := self._next_action()) is not None:
            action()


@dataclass(frozen=True)
class _View:
    """A dataset's view: its table, at which snapshot, and the Parquet files it reads."""

    stage: str
    name: str
    snapshot: int | None = None  # None: the latest version
    files: tuple[str, ...] = ()  # empty: the view is DuckLake's own scan of the table
    checked: int | None = None  # the catalog's data_version when a latest view was listed

    @property
    def table(self) -> str:
        at = f" AT (VERSION => {self.snapshot})" if self.snapshot is not None else ""
        return f"{LAKE}.{self.stage}.{quote_ident(self.name)}{at}"

    @property
    def body(self) -> str:
        if not self.files:
            return f"SELECT * FROM {self.table}"
        files = ", ".join(quote_literal(f) for f in self.files)
        return f"SELECT * FROM read_parquet([{files}], hive_partitioning = false)"


def _watch_commits(catalog_file: Path | None) -> _Commits | None:
    """A watcher for a SQLite catalog file, or None (then no transaction is kept open)."""
    if catalog_file is None or not catalog_file.exists():
        return None
    try:
        commits = _Commits(catalog_file)
        commits.mark()
        return commits
    except sqlite3.Error:
        return None


class Sandbox:
    """A read-only SQL session over the workspace's catalog. Queries are serialised.

    Back-to-back queries share one read transaction, so DuckLake loads the catalog's
    metadata once rather than per query; the transaction is ended as soon as anything was
    committed to the catalog since it began, after a query fails, and after the sandbox
    has been idle for :data:`IDLE_RELEASE_SECONDS`, so every query sees the latest versions.
    """

    def __init__(self, workspace: Workspace, limits: Limits = Limits()) -> None:
        self.workspace = workspace
        self.limits = limits
        self._lock = threading.Lock()
        self._views: dict[str, _View] = {}
        self._latest: dict[str, set[str]] = {}  # lower-case dataset name -> its latest views
        self._odd_names: set[str] = set()  # those not one word (tables made outside Harvest)
        self._con = connect(workspace, read_only=True, threads=limits.threads)
        self._commits = _watch_commits(workspace.catalog_file)
        self._open = False  # a read transaction is open
        self._mark: int | None = None  # the catalog's data_version when it began
        self._data_path = os.path.join(os.path.abspath(workspace.data_path), "")
        self._local = "://" not in workspace.data_path  # remote files keep DuckLake's scan
        self._watchdog = _Watchdog(self._interrupt, self._release)
        for stage in STAGES:
            self._con.execute(f"CREATE SCHEMA IF NOT EXISTS memory.{stage}")
        self._lock_down()
        self._sync_views()

    def _lock_down(self) -> None:
        allowed = [self.workspace.data_path] if self._local else []
        files = [str(self.workspace.catalog_file)] if self.workspace.catalog_file else []
        con = self._con
        con.execute(f"SET allowed_directories=[{', '.join(quote_literal(d) for d in allowed)}]")
        con.execute(f"SET allowed_paths=[{', '.join(quote_literal(f) for f in files)}]")
        con.execute("SET temp_directory=''")
        con.execute("SET autoinstall_known_extensions=false")
        con.execute("SET autoload_known_extensions=false")
        con.execute(f"SET memory_limit={quote_literal(self.limits.memory)}")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")

    def close(self) -> None:
        self._watchdog.stop()
        with self._lock:
            self._end_transaction()
            if self._commits is not None:
                self._commits.close()
            self._con.close()

    def _begin_transaction(self) -> None:
        """Keep the open read transaction while nothing was committed since it began."""
        if self._commits is None:
            return  # not a SQLite catalog: every query runs in its own transaction
        if self._open and not self._commits.since_mark():
            return
        self._end_transaction()
        self._mark = self._commits.mark()  # before BEGIN: a commit in between ends it early
        self._con.execute("BEGIN TRANSACTION")
        self._open = True

    def _end_transaction(self) -> None:
        if self._open:
            self._open = False
            with contextlib.suppress(duckdb.Error):
                self._con.execute("ROLLBACK")  # read-only: there is nothing to keep

    def _interrupt(self) -> None:
        self._con.interrupt()

    def _release(self) -> None:
        """End the read transaction after idling (a running query re-arms this when it ends)."""
        if self._lock.acquire(blocking=False):
            try:
                self._end_transaction()
            finally:
                self._lock.release()

    def _sync_views(self) -> bool:
        """Create a view for every dataset that has none yet; True when one was added.

        A new view is DuckLake's scan of the table, which always reads the latest version;
        :meth:`_refresh_latest` turns it into a file view when a query names it. This only
        runs at the start and when a query names a table that does not exist (perhaps a
        dataset committed since).
        """
        rows = self._con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            f"WHERE database_name = {quote_literal(LAKE)} AND schema_name IN "
            f"({', '.join(quote_literal(stage) for stage in STAGES)})"
        ).fetchall()
        added = False
        for stage, name in rows:
            view = f"memory.{stage}.{quote_ident(name)}"
            if view not in self._views:
                self._create(view, _View(stage, name))
                added = True
        return added

    def _create(self, view: str, spec: _View) -> None:
        """(Re)create ``view``; outside the read transaction, whose rollback would undo it."""
        self._end_transaction()
        self._con.execute(f"CREATE OR REPLACE VIEW {view} AS {spec.body}")
        self._views[view] = spec
        if spec.snapshot is None:
            name = spec.name.lower()
            self._latest.setdefault(name, set()).add(view)
            if not _WORD.fullmatch(name):
                self._odd_names.add(name)

    def _refresh_latest(self, sql: str) -> None:
        """List again the files of each latest-version view ``sql`` may read, if the catalog
        changed since that view was listed; the views a query does not name wait.

        Runs in the open read transaction, so the listing is that transaction's snapshot.
        """
        if self._commits is None or not self._local:
            return  # without a commit watch, latest views stay DuckLake's scan
        stale = {
            view: self._views[view]
            for name in self._named(sql)
            for view in self._latest[name]
            if self._views[view].checked != self._mark
        }
        if not stale:
            return
        listed = {
            view: replace(self._listed(spec), checked=self._mark) for view, spec in stale.items()
        }
        for view, spec in listed.items():
            if spec.body == self._views[view].body:
                self._views[view] = spec  # the same files: only the check is newer
            else:
                self._create(view, spec)
        self._begin_transaction()

    def _named(self, sql: str) -> set[str]:
        """The datasets whose names ``sql`` contains as words (every one, if it calls a
        function that reaches tables through a computed string), without a pass over all."""
        if _DYNAMIC.search(sql):
            return set(self._latest)
        text = sql.lower()
        words = set(_WORD.findall(text)) & self._latest.keys()
        return words | {name for name in self._odd_names if name in text}

    def _listed(self, spec: _View) -> _View:
        """``spec`` reading its table's Parquet files when that reads exactly what DuckLake's
        scan reads, else reading DuckLake's scan (a failed listing ends the transaction)."""
        try:
            files = self._files(spec)
            if files and self._same_columns(spec, files):
                return replace(spec, files=files)
        except duckdb.Error:
            self._end_transaction()  # the failed statement aborted it
        return replace(spec, files=())

    def _files(self, spec: _View) -> tuple[str, ...]:
        """The table's data files at the view's snapshot; none when reading them alone
        would not give its rows (delete files, encryption) or they lie outside the data path."""
        if not self._local:
            return ()
        at = f", snapshot_version => {spec.snapshot}" if spec.snapshot is not None else ""
        rows = self._con.execute(
            "SELECT data_file, delete_file, data_file_encryption_key FROM ducklake_list_files("
            f"{quote_literal(LAKE)}, {quote_literal(spec.name)}, schema => {quote_literal(spec.stage)}{at})"
        ).fetchall()
        files = tuple(os.path.abspath(row[0]) for row in rows)
        if any(row[1] is not None or row[2] is not None for row in rows) or not all(
            f.startswith(self._data_path) for f in files
        ):
            return ()
        return files

    def _same_columns(self, spec: _View, files: tuple[str, ...]) -> bool:
        """Whether the files' columns have the names and types of DuckLake's scan.

        This also keeps the scan for files that hold rows of several snapshots (a merge of a
        table appended to outside Harvest): DuckLake writes those with an extra
        ``_ducklake_internal_snapshot_id`` column that only its own scan filters by.
        """
        lake = self._con.execute(f"DESCRIBE SELECT * FROM {spec.table}").fetchall()
        read = self._con.execute(f"DESCRIBE {replace(spec, files=files).body}").fetchall()
        return [row[:2] for row in lake] == [row[:2] for row in read]

    def _relist_missing(self) -> bool:
        """List again every view one of whose files is gone (vacuum deleted it); True if any."""
        gone = {
            view: spec
            for view, spec in self._views.items()
            if any(not os.path.exists(f) for f in spec.files)
        }
        for view, spec in gone.items():
            self._end_transaction()
            # A latest view goes back to DuckLake's scan; the next refresh lists it again.
            fixed = (
                self._listed(spec) if spec.snapshot is not None else _View(spec.stage, spec.name)
            )
            self._create(view, fixed)
        return bool(gone)

    def _pin_views(self, pinned: set[tuple[str, str, int]]) -> None:
        """Create a view per pinned version the query names (kept: versions never change)."""
        for stage, name, number in pinned:
            view = f"memory.{stage}.{quote_ident(f'{name}@{number}')}"
            if view not in self._views:
                self._end_transaction()
                snapshot = self._snapshot(f"{stage}.{name}", number)
                self._create(view, self._listed(_View(stage, name, snapshot)))

    def _snapshot(self, dataset: str, number: int) -> int:
        row = self._con.execute(
            f"""SELECT snapshot_id FROM {LAKE}.snapshots()
                WHERE json_extract_string(commit_extra_info, '$.dataset') = ?
                  AND CAST(json_extract(commit_extra_info, '$.version') AS INTEGER) = ?""",
            [dataset, number],
        ).fetchone()
        if row is None:
            raise QueryError(
                f"{dataset}@{number} does not exist; `harvest catalog versions {dataset}` lists its versions."
            )
        return int(row[0])

    def query(self, sql: str) -> pa.Table:
        """Run one read-only statement and return at most ``limits.max_rows`` rows as Arrow."""
        text, pinned = _rewrite_pinned(sql)
        with self._lock:
            statements = self._parse(text)
            try:
                return self._query(statements[0].query, pinned)
            except duckdb.InterruptException as error:
                raise QueryError(
                    f"The query ran longer than {self.limits.seconds:g} seconds and was stopped."
                ) from error
            except duckdb.OutOfMemoryException as error:
                raise QueryError(
                    f"The query needed more than the {self.limits.memory} memory limit and was stopped."
                ) from error
            except duckdb.PermissionException as error:
                raise QueryError(
                    "The query tried to read files outside the catalog; only datasets can be queried."
                ) from error
            except duckdb.Error as error:
                raise QueryError(f"The query failed: {first_line(error)}") from error
            finally:
                self._watchdog.arm_idle(IDLE_RELEASE_SECONDS)

    def _query(self, sql: str, pinned: set[tuple[str, str, int]]) -> pa.Table:
        """Run ``sql`` in the shared read transaction; a failed query ends that transaction."""
        try:
            self._pin_views(pinned)
            self._begin_transaction()
            self._refresh_latest(sql)
            try:
                return self._run(sql)
            except duckdb.CatalogException:
                self._end_transaction()  # the failed query aborted it
                if not self._sync_views():  # no dataset was added since: the name is wrong
                    raise
            except duckdb.IOException:
                self._end_transaction()
                if not self._relist_missing():  # no view's file is gone: a real failure
                    raise
            self._begin_transaction()
            self._refresh_latest(sql)
            return self._run(sql)
        except duckdb.Error:
            self._end_transaction()
            raise

    def _run(self, sql: str) -> pa.Table:
        """Execute ``sql`` under the time limit and fetch at most ``limits.max_rows`` rows."""
        self._watchdog.arm_timeout(self.limits.seconds)
        try:
            result = self._con.execute(sql)
            if self.limits.max_rows is None:
                return result.fetch_arrow_table()
            return _head(result, self.limits.max_rows)
        finally:
            self._watchdog.disarm_timeout()

    def _parse(self, sql: str) -> list[duckdb.Statement]:
        try:
            statements = self._con.extract_statements(sql)
        except duckdb.Error as error:
            raise QueryError(f"The query is not valid SQL: {first_line(error)}") from error
        if not statements:
            raise QueryError("The query is empty: write a SELECT statement.")
        if len(statements) > 1:
            raise QueryError("Run one statement at a time.")
        kind = statements[0].type
        if kind not in _ALLOWED:
            name = kind.name.replace("_", " ")
            raise QueryError(
                f"{name} statements are not allowed here: the SQL console is read-only, so write a SELECT."
            )
        return statements


def _head(result: duckdb.DuckDBPyConnection, max_rows: int) -> pa.Table:
    reader = result.fetch_record_batch(rows_per_batch=min(max_rows, 100_000))
    batches, rows = [], 0
    for batch in reader:
        batches.append(batch.slice(0, max_rows - rows))
        rows += batches[-1].num_rows
        if rows >= max_rows:
            break
    return pa.Table.from_batches(batches, schema=reader.schema)


def _rewrite_pinned(sql: str) -> tuple[str, set[tuple[str, str, int]]]:
    """Turn ``stage.name@N`` outside string literals into the quoted view name ``stage."name@N"``."""
    pinned: set[tuple[str, str, int]] = set()

    def swap(match: re.Match[str]) -> str:
        pinned.add((match["stage"], match["name"], int(match["version"])))
        return f'{match["stage"]}."{match["name"]}@{match["version"]}"'

    parts, last = [], 0
    for literal in _STRINGS.finditer(sql):
        parts.append(_PINNED.sub(swap, sql[last : literal.start()]))
        parts.append(literal.group(0))
        last = literal.end()
    parts.append(_PINNED.sub(swap, sql[last:]))
    return "".join(parts), pinned


def run_sql(home: Workspace | str | None, sql: str, limits: Limits = Limits()) -> pa.Table:
    """One query on a fresh sandbox of the workspace at ``home``."""
    workspace = home if isinstance(home, Workspace) else Workspace.at(home)
    sandbox = Sandbox(workspace, limits)
    try:
        return sandbox.query(sql)
    finally:
        sandbox.close()
