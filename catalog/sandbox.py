"""The sandboxed SQL console: untrusted SQL runs in a worker process that can read exactly the
files of the dataset versions it is given, and nothing else.

Two sides (threat model and defences: ``docs/security.md``):

- **This process is trusted.** It holds the catalog, resolves every dataset a query names to
  the Parquet files of that version, and hands the worker a view per dataset. It never runs
  the caller's SQL.
- **The worker** (:mod:`catalog.sqlworker`, one of a small pool, reused) parses the statement
  with DuckDB's parser and accepts a single plain query only (``SELECT`` with ``WITH``, set
  operations and ``VALUES``; ``DESCRIBE``/``SUMMARIZE``/``SHOW``; ``EXPLAIN`` of those),
  calling only allow-listed table functions. It runs it in an in-memory database that has no
  catalog attached and no extension loaded, may open exactly the files of its views, and has
  its configuration locked. It writes no file (its file-size limit is 0), its address space
  and CPU time are bounded by the kernel, and a query past its time limit is interrupted and
  then, if need be, killed with its process. A crash, a hang or a runaway result costs one
  worker, which is replaced, and the caller gets one sentence.

Every dataset is a view ``stage.name``; a pinned version is ``stage.name@N`` (written bare,
as in ``SELECT * FROM raw.products@2``). Results are bounded by rows and bytes and streamed
back as Arrow. A view reads the Parquet files DuckLake lists for the table at that snapshot;
a table whose files alone would not give its rows (delete files, inlined or encrypted data,
columns typed otherwise, a remote data path) is written once, at that snapshot, to a file in
the workspace's cache, and the view reads that. A latest-version view is listed again when a
query names it after a commit; a view whose file is gone (a table merged outside Harvest, a
vacuum) is listed again and the query retried once.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from catalog import sqlworker
from catalog.commits import watch_commits
from catalog.engine import LAKE, connect, first_line, quote_literal, scalar
from catalog.profile import quote_ident
from catalog.records import STAGES
from core.copies import after_fetch
from core.errors import HarvestError
from core.objects import mark_used
from core.sizes import parse_size
from core.workspace import Workspace

_PINNED = re.compile(
    r"\b(?P<stage>" + "|".join(STAGES) + r")\.(?P<name>[a-z][a-z0-9_]*)@(?P<version>\d+)\b"
)
_PINNED_VIEW = re.compile(r"^(?P<name>.+)@(?P<version>\d+)$")
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_GRACE_SECONDS = 5.0  # past the time limit, how long an interrupted worker has to answer
_REQUEST_SECONDS = 60.0  # how long parsing a statement or loading views may take
_ADDRESS_SPACE_MARGIN = 3 * 2**30  # the interpreter, DuckDB and pyarrow beside the buffers
_KEEP_INSPECTED = 256  # statements whose inspection a sandbox remembers
_KEEP_VIEWS = 256  # a worker keeps views of earlier queries up to this many


class QueryError(HarvestError):
    """A query the sandbox refused or could not run."""


@dataclass(frozen=True)
class Limits:
    """How much one query may take."""

    seconds: float = 30.0
    memory: str = "2GB"  # DuckDB's buffer limit in the worker
    threads: int = 2
    max_rows: int = 100_000
    max_bytes: int = 256 * 2**20  # of the result, as Arrow


@dataclass(frozen=True)
class View:
    """A dataset's view in the worker: its schema and name there, what it selects, the files
    it reads, and the catalog's change mark when a latest view was listed."""

    schema: str
    name: str
    select: str
    files: tuple[str, ...]
    checked: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.schema, self.name


# ----------------------------------------------------------------------------- the worker


class _WorkerGone(Exception):
    """The worker died or stopped answering; it is not reused."""


class _Worker:
    """One worker process and what its database holds (whose views, which ones)."""

    def __init__(self, address_space: int) -> None:
        self.address_space = address_space
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-I", sqlworker.__file__, str(theirs.fileno()), str(address_space)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": "/nonexistent"},
            cwd=tempfile.gettempdir(),
        )
        theirs.close()
        self.connection = ours
        self._stream = ours.makefile("rb")
        self.owner: str | None = None  # whose views the database holds
        self.views: dict[tuple[str, str], View] = {}

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, request: dict[str, Any], seconds: float = _REQUEST_SECONDS) -> dict[str, Any]:
        """Send ``request`` and return the worker's closing answer."""
        answer, _ = self.exchange(request, seconds)
        return answer

    def exchange(
        self, request: dict[str, Any], seconds: float
    ) -> tuple[dict[str, Any], pa.Table | None]:
        """Send ``request``; its answer and the rows streamed before it, if any."""
        try:
            # one timeout for every read: a worker that hangs sends nothing at all
            self.connection.settimeout(seconds)
            sqlworker.send_json(self.connection, request)
            schema: pa.Schema | None = None
            batches: list[pa.RecordBatch] = []
            while True:
                frame = sqlworker.receive(self._stream)
                if frame is None:
                    raise _WorkerGone("the worker closed its socket")
                tag, payload = frame
                if tag == sqlworker.JSON:
                    rows = None if schema is None else pa.Table.from_batches(batches, schema)
                    return dict(json.loads(payload)), rows
                if tag == sqlworker.SCHEMA:
                    schema = pa.ipc.read_schema(pa.py_buffer(payload))
                elif tag == sqlworker.BATCH and schema is not None:
                    batch = pa.ipc.read_record_batch(pa.py_buffer(payload), schema)
                    batch.validate()
                    batches.append(batch)
                else:
                    raise _WorkerGone("the worker sent a frame out of order")
        except (OSError, ValueError, pa.ArrowException) as error:
            raise _WorkerGone(str(error)) from error

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        self._stream.close()
        self.connection.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._stream.close()
        self.connection.close()


class _Pool:
    """Idle workers, kept for the next query; a worker that died or hung is not put back."""

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def acquire(self, address_space: int, owner: str) -> _Worker:
        with self._lock:
            self._idle = [w for w in self._idle if w.alive]  # one that died while idle is gone
            fitting = [w for w in self._idle if w.address_space == address_space]
            # the worker already holding this owner's views first, the last used otherwise
            fitting.sort(key=lambda w: w.owner == owner)
            if fitting:
                self._idle.remove(fitting[-1])
                return fitting[-1]
        return _Worker(address_space)

    def release(self, worker: _Worker) -> None:
        with self._lock:
            if worker.alive and len(self._idle) < self._keep:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


_POOL = _Pool()
atexit.register(_POOL.close)


def prestart(limits: Limits = Limits()) -> None:
    """Start a worker now, so the first query does not wait for one (a no-op if one is idle)."""
    _POOL.release(_POOL.acquire(_address_space(limits), owner=""))


# ----------------------------------------------------------------------------- resolution


class _Resolver:
    """The trusted side: which datasets exist, and the files of each version a query names."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._con: duckdb.DuckDBPyConnection | None = None
        self._commits = watch_commits(workspace, lambda: self.con)
        self._data_path = os.path.join(os.path.abspath(workspace.data_path), "")
        self._local = "://" not in workspace.data_path
        self._mark: int | None = None
        self._datasets: dict[tuple[str, str], str] = {}  # (stage, lower name) -> its name
        self._listed_at: int | None = -1  # the mark when the datasets were listed
        self._latest: dict[tuple[str, str], View] = {}
        self._pinned: dict[tuple[str, str], View] = {}

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = connect(self.workspace, read_only=True)
        return self._con

    def close(self) -> None:
        if self._commits is not None:
            self._commits.close()
        if self._con is not None:
            self._con.close()

    def views(
        self,
        tables: Iterable[tuple[str, str]],
        everything: bool,
        readable: frozenset[str] | None = None,
    ) -> list[View]:
        """The views a query reading ``tables`` needs (every latest one if ``everything``),
        of the datasets in ``readable`` only (``stage.name``; None: all of them)."""
        self._mark = self._commits.mark() if self._commits is not None else None
        wanted: set[tuple[str, str]] = set()
        pinned: set[tuple[str, str, int]] = set()
        for schema, table in tables:
            stage = schema.lower()
            if stage not in STAGES:
                continue
            match = _PINNED_VIEW.match(table)
            if match:
                pinned.add((stage, match["name"], int(match["version"])))
            else:
                wanted.add((stage, table.lower()))
        if everything or any(key not in self._datasets for key in wanted):
            self._list_datasets()
        if everything:
            wanted = set(self._datasets)
        if readable is not None:  # the others read exactly as names that never existed
            wanted = {k for k in wanted if f"{k[0]}.{self._datasets.get(k)}" in readable}
            pinned = {k for k in pinned if f"{k[0]}.{k[1]}" in readable}
        found = [self._latest_view(key) for key in sorted(wanted) if key in self._datasets]
        return found + [self._pinned_view(*key) for key in sorted(pinned)]

    def forget(self, views: Iterable[View]) -> None:
        """Drop what was listed for ``views`` (a file of theirs is gone)."""
        for view in views:
            self._latest.pop((view.schema, view.name.lower()), None)
            self._pinned.pop(view.key, None)

    def _list_datasets(self) -> None:
        if self._listed_at == self._mark and self._mark is not None:
            return
        rows = self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            f"WHERE database_name = {quote_literal(LAKE)} AND schema_name IN "
            f"({', '.join(quote_literal(stage) for stage in STAGES)})"
        ).fetchall()
        self._datasets = {(stage, name.lower()): name for stage, name in rows}
        self._listed_at = self._mark

    def _latest_view(self, key: tuple[str, str]) -> View:
        view = self._latest.get(key)
        if view is None or view.checked is None or view.checked != self._mark:
            stage, name = key[0], self._datasets[key]
            view = self._view(stage, name, name, snapshot=None)
            view = View(view.schema, view.name, view.select, view.files, checked=self._mark)
            self._latest[key] = view
        return view

    def _pinned_view(self, stage: str, name: str, number: int) -> View:
        key = (stage, f"{name}@{number}")
        if key not in self._pinned:
            snapshot = self._snapshot(f"{stage}.{name}", number)
            self._pinned[key] = self._view(stage, name, key[1], snapshot)
        return self._pinned[key]

    def _snapshot(self, dataset: str, number: int) -> int:
        row = self.con.execute(
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

    def _view(self, stage: str, table: str, name: str, snapshot: int | None) -> View:
        """The view ``stage.name`` of ``table`` at ``snapshot`` (None: now)."""
        files = self._files(stage, table, snapshot)
        if files and self._same_columns(stage, table, snapshot, files):
            return View(stage, name, _read_parquet(files), files)
        copy = self._materialise(stage, table, snapshot)
        return View(stage, name, _read_parquet((copy,)), (copy,))

    def _table(self, stage: str, table: str, snapshot: int | None) -> str:
        at = f" AT (VERSION => {snapshot})" if snapshot is not None else ""
        return f"{LAKE}.{stage}.{quote_ident(table)}{at}"

    def _files(self, stage: str, table: str, snapshot: int | None) -> tuple[str, ...]:
        """The table's data files at ``snapshot``; none when reading them alone would not
        give its rows (delete files, encryption) or they lie outside the data path."""
        if not self._local:
            return ()
        at = f", snapshot_version => {snapshot}" if snapshot is not None else ""
        rows = self.con.execute(
            "SELECT data_file, delete_file, data_file_encryption_key FROM ducklake_list_files("
            f"{quote_literal(LAKE)}, {quote_literal(table)}, schema => {quote_literal(stage)}{at})"
        ).fetchall()
        files = tuple(os.path.abspath(row[0]) for row in rows)
        if any(row[1] is not None or row[2] is not None for row in rows) or not all(
            f.startswith(self._data_path) for f in files
        ):
            return ()
        return files

    def _same_columns(
        self, stage: str, table: str, snapshot: int | None, files: tuple[str, ...]
    ) -> bool:
        """Whether the files' columns have the names and types of DuckLake's scan (files
        merged from several snapshots carry an extra column only DuckLake's scan filters by)."""
        lake = self.con.execute(f"DESCRIBE SELECT * FROM {self._table(stage, table, snapshot)}")
        theirs = [row[:2] for row in lake.fetchall()]  # fetched before the connection runs more
        read = self.con.execute(f"DESCRIBE {_read_parquet(files)}").fetchall()
        return theirs == [row[:2] for row in read]

    def _materialise(self, stage: str, table: str, snapshot: int | None) -> str:
        """The table's rows at ``snapshot`` written once to a Parquet file in the cache."""
        if snapshot is None:
            snapshot = int(scalar(self.con, f"SELECT id FROM {LAKE}.current_snapshot()"))
        folder = self.workspace.cache / "sandbox" / stage
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", table)
        target = (
            folder
            / f"{safe}-{hashlib.blake2b(table.encode(), digest_size=6).hexdigest()}@s{snapshot}.parquet"
        )
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{target.name}.{os.getpid()}.partial"
            self.con.execute(
                f"COPY (SELECT * FROM {self._table(stage, table, snapshot)}) "
                f"TO {quote_literal(str(partial))} (FORMAT parquet)"
            )
            os.replace(partial, target)
            after_fetch(self.workspace)
        else:
            mark_used(target)
        return str(target)


def _read_parquet(files: tuple[str, ...]) -> str:
    listed = ", ".join(quote_literal(f) for f in files)
    return f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"


# ----------------------------------------------------------------------------- the sandbox


@dataclass(frozen=True)
class _Reader:
    """Whose views a worker holds: the catalog, and the datasets the caller may read."""

    owner: str
    readable: frozenset[str] | None

    @classmethod
    def of(cls, catalog: str, readable: Collection[str] | None) -> _Reader:
        if readable is None:
            return cls(catalog, None)
        names = frozenset(readable)
        digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
        return cls(f"{catalog} reads {digest}", names)


class Sandbox:
    """A read-only SQL session over the workspace's catalog. Queries are serialised."""

    def __init__(self, workspace: Workspace, limits: Limits = Limits()) -> None:
        self.workspace = workspace
        self.limits = limits
        # Whose views a worker holds: a worker is reused only for the same catalog and caller.
        self.owner = f"{workspace.catalog_uri} {workspace.data_path}"
        self._address_space = _address_space(limits)
        self._lock = threading.Lock()
        self._resolver = _Resolver(workspace)
        self._inspected: dict[str, dict[str, Any]] = {}  # the latest inspections, oldest first

    def close(self) -> None:
        with self._lock:
            self._resolver.close()

    def query(self, sql: str, readable: Collection[str] | None = None) -> pa.Table:
        """Run one read-only statement and return at most ``limits.max_rows`` rows as Arrow.

        ``readable`` names the datasets (``stage.name``) the caller may read; the worker gets
        views of those only, so any other reads as an unknown table. None: every dataset.
        """
        text = _rewrite_pinned(sql)
        reader = _Reader.of(self.owner, readable)
        with self._lock:
            worker = _POOL.acquire(self._address_space, reader.owner)
            try:
                return self._query(worker, text, reader)
            except _WorkerGone as error:
                worker.kill()
                raise QueryError(
                    "The query stopped the SQL engine (it crashed, or needed more memory or time "
                    "than the limits allow); the engine was restarted and nothing else was affected."
                ) from error
            except duckdb.Error as error:
                raise QueryError(f"The catalog could not be read: {first_line(error)}") from error
            finally:
                _POOL.release(worker)

    def _query(self, worker: _Worker, sql: str, reader: _Reader) -> pa.Table:
        found = self._inspect(worker, sql)
        if "refused" in found:
            raise QueryError(found["refused"])
        tables = [(schema, table) for schema, table in found["tables"]]
        for attempt in range(2):
            views = self._resolve(tables, bool(found["everything"]), reader.readable)
            answer, rows = self._load(worker, views, reader.owner)
            if "error" not in answer:
                answer, rows = self._run(worker, found["sql"])  # a PRAGMA as its SELECT
            if "error" not in answer and rows is not None:
                return rows
            gone = _gone(views)
            if answer["error"] != "io" or not gone or attempt:
                raise QueryError(self._sentence(answer))
            self._resolver.forget(gone)  # a file was merged away since: list it again
        raise AssertionError("unreachable")

    def _inspect(self, worker: _Worker, sql: str) -> dict[str, Any]:
        """What ``sql`` reads, as the worker's parser says; kept per text, since a statement's
        parse never changes (a query run again costs one exchange with the worker, not two)."""
        found = self._inspected.pop(sql, None) or worker.ask({"op": "inspect", "sql": sql})
        self._inspected[sql] = found
        while len(self._inspected) > _KEEP_INSPECTED:
            del self._inspected[next(iter(self._inspected))]
        return found

    def _resolve(
        self, tables: list[tuple[str, str]], everything: bool, readable: frozenset[str] | None
    ) -> list[View]:
        """The views for these tables, listing again any whose file is gone."""
        views = self._resolver.views(tables, everything, readable)
        gone = _gone(views)
        if gone:
            self._resolver.forget(gone)
            views = self._resolver.views(tables, everything, readable)
        return views

    def _load(self, worker: _Worker, views: list[View], owner: str) -> tuple[dict[str, Any], None]:
        """Give the worker a database with these views, unless its own already has them."""
        if worker.owner == owner and all(worker.views.get(v.key) == v for v in views):
            return {}, None
        keep = dict(worker.views) if worker.owner == owner else {}
        for view in [*views, *_gone(list(keep.values()))]:
            keep.pop(view.key, None)
        held = {v.key: v for v in [*list(keep.values())[-_KEEP_VIEWS:], *views]}
        worker.owner, worker.views = None, {}
        answer = worker.ask(
            {
                "op": "load",
                "views": [[v.schema, v.name, v.select] for v in held.values()],
                "files": sorted({f for v in held.values() for f in v.files}),
                "threads": self.limits.threads,
                "memory": self.limits.memory,
            }
        )
        if "error" not in answer:
            worker.owner, worker.views = owner, held
        return answer, None

    def _run(self, worker: _Worker, sql: str) -> tuple[dict[str, Any], pa.Table | None]:
        request = {
            "op": "run",
            "sql": sql,
            "seconds": self.limits.seconds,
            "threads": self.limits.threads,
            "max_rows": self.limits.max_rows,
            "max_bytes": self.limits.max_bytes,
        }
        return worker.exchange(request, self.limits.seconds + _GRACE_SECONDS)

    def _sentence(self, answer: dict[str, Any]) -> str:
        kind, message = answer["error"], str(answer.get("message", ""))
        if kind == "timeout":
            return f"The query ran longer than {self.limits.seconds:g} seconds and was stopped."
        if kind == "memory":
            return (
                f"The query needed more than the {self.limits.memory} memory limit and was stopped."
            )
        if kind == "permission":
            return (
                "The query tried to read files outside the catalog; only datasets can be queried."
            )
        if kind == "size":
            return (
                f"The result is larger than the {_mib(self.limits.max_bytes)} limit and was "
                "stopped: select fewer columns or rows, or aggregate."
            )
        return f"The query failed: {message}"


def _gone(views: list[View]) -> list[View]:
    """The views one of whose files no longer exists."""
    return [view for view in views if any(not os.path.exists(f) for f in view.files)]


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def _address_space(limits: Limits) -> int:
    """The worker's address-space limit: DuckDB's memory limit and a margin for the rest."""
    size = parse_size(limits.memory, unit=True)
    if size is None:
        raise QueryError(f"The memory limit {limits.memory!r} is not a size such as 2GB.")
    return size + _ADDRESS_SPACE_MARGIN


def _rewrite_pinned(sql: str) -> str:
    """Turn ``stage.name@N`` outside string literals into the quoted view name ``stage."name@N"``."""

    def swap(match: re.Match[str]) -> str:
        return f'{match["stage"]}."{match["name"]}@{match["version"]}"'

    parts, last = [], 0
    for literal in _STRINGS.finditer(sql):
        parts.append(_PINNED.sub(swap, sql[last : literal.start()]))
        parts.append(literal.group(0))
        last = literal.end()
    parts.append(_PINNED.sub(swap, sql[last:]))
    return "".join(parts)


def run_sql(home: Workspace | str | None, sql: str, limits: Limits = Limits()) -> pa.Table:
    """One query on a fresh sandbox of the workspace at ``home``."""
    workspace = home if isinstance(home, Workspace) else Workspace.at(home)
    prestart(limits)  # the worker starts while the catalog opens
    sandbox = Sandbox(workspace, limits)
    try:
        return sandbox.query(sql)
    finally:
        sandbox.close()
