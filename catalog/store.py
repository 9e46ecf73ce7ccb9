"""The dataset catalog: datasets, versions and listings on DuckLake.

A dataset ``stage.name`` is the lake table ``lake.<stage>.<name>``. Each version is one
DuckLake commit that replaces the table and appends a row to ``lake.harvest.versions``
in the same transaction, so data and version land together or not at all. The row records
the data files the commit wrote, with their sizes and checksums (see ``catalog/integrity.py``). The snapshot a
version lives in is found through the commit's extra info, and reading ``name@N`` reads
the table at that snapshot. Commits that conflict with another process are retried.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from catalog import integrity, writers
from catalog.engine import LAKE, CatalogError, connect, first_line, retry, scalar
from catalog.integrity import IntegrityError
from catalog.plain import plain_files, read_parquet_sql
from catalog.profile import column_stats, fingerprint, profile, quote_ident
from catalog.records import (
    STAGES,
    ColumnStats,
    CommitResult,
    CommittedFile,
    DataFile,
    Dataset,
    DatasetRef,
    Diff,
    Listing,
    Version,
    VersionCheck,
)
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace

if TYPE_CHECKING:  # pandas is only needed when a DataFrame is passed in
    import pandas as pd

T = TypeVar("T")
META = f"{LAKE}.harvest"

_BOOTSTRAP = [
    *(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{stage}" for stage in (*STAGES, "harvest")),
    f"""CREATE TABLE IF NOT EXISTS {META}.datasets (
        name VARCHAR, title VARCHAR, description VARCHAR, license VARCHAR, tags VARCHAR[],
        publisher VARCHAR, source_url VARCHAR, cadence VARCHAR, key VARCHAR[], volatile VARCHAR[],
        created_at TIMESTAMPTZ)""",
    f"""CREATE TABLE IF NOT EXISTS {META}.versions (
        dataset VARCHAR, version INTEGER, rows BIGINT, columns VARCHAR, stats VARCHAR,
        content_hash VARCHAR, producer VARCHAR, parents VARCHAR[], message VARCHAR,
        created_at TIMESTAMPTZ, quality_score DOUBLE, report VARCHAR)""",
    # The data files each version's commit wrote, with their size and checksum (NULL for
    # versions committed before they were recorded).
    f"""ALTER TABLE {META}.versions ADD COLUMN IF NOT EXISTS
        files STRUCT(path VARCHAR, size BIGINT, checksum VARCHAR)[]""",
]

# Each version's snapshot, read from DuckLake's own snapshot_changes metadata table (one
# SQLite query) rather than through ``snapshots()``, which assembles every snapshot's changes.
_SNAPSHOTS = f"""
    SELECT snapshot_id,
           json_extract_string(commit_extra_info, '$.dataset') AS dataset,
           CAST(json_extract(commit_extra_info, '$.version') AS INTEGER) AS version
    FROM __ducklake_metadata_{LAKE}.ducklake_snapshot_changes
    WHERE commit_extra_info LIKE '{{"dataset"%'
"""
_VERSION_COLUMNS = (
    "v.dataset, v.version, s.snapshot_id, v.rows, v.columns, v.stats, v.content_hash, "
    "v.producer, v.parents, v.message, v.created_at, v.quality_score"
)


@contextlib.contextmanager
def _file_lock(path: str, *, shared: bool = False) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _version(row: Sequence[Any]) -> Version:
    stats = tuple(ColumnStats(**s) for s in json.loads(row[5]))
    return Version(
        dataset=row[0],
        number=int(row[1]),
        snapshot_id=int(row[2]),
        rows=int(row[3]),
        columns=tuple((c[0], c[1]) for c in json.loads(row[4])),
        stats=stats,
        content_hash=row[6],
        producer=row[7],
        parents=tuple(row[8] or ()),
        message=row[9] or "",
        created_at=row[10],
        quality_score=row[11],
    )


def _as_arrow(data: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise InvalidInputError(
        "A dataset can only be committed from a pyarrow Table or a pandas DataFrame."
    )


@dataclass(frozen=True)
class _Meta:
    """A dataset's key, volatile columns and listing as a commit will leave them."""

    key: tuple[str, ...]
    volatile: tuple[str, ...]
    listing: Listing
    changed: bool

    @classmethod
    def merge(
        cls,
        existing: Dataset | None,
        key: Sequence[str] | None,
        volatile: Sequence[str] | None,
        listing: Listing | None,
        first_listing: Listing | None = None,
    ) -> _Meta:
        """What was given, else what the dataset already has (``first_listing`` if it is new)."""
        new_key = tuple(key) if key is not None else (existing.key if existing else ())
        new_volatile = (
            tuple(volatile) if volatile is not None else (existing.volatile if existing else ())
        )
        new_listing = (
            listing
            if listing is not None
            else (existing.listing if existing else (first_listing or Listing()))
        )
        changed = existing is None or (new_key, new_volatile, new_listing) != (
            existing.key,
            existing.volatile,
            existing.listing,
        )
        return cls(key=new_key, volatile=new_volatile, listing=new_listing, changed=changed)


@dataclass(frozen=True)
class Staged:
    """Rows already in a temporary table (or registered view) ``table`` on ``cursor``.

    Committing one profiles and writes those rows where they are, with no Arrow or pandas
    round trip; the caller keeps the table and drops it afterwards.
    """

    cursor: duckdb.DuckDBPyConnection
    table: str
    # The rows as Arrow when they came as a table: another cursor can then read them while
    # ``cursor`` writes them (the statistics' scan beside the data file's write).
    arrow: pa.Table | None = None


# rows, content hash, columns and statistics (None: scanned beside the data's write)
_Profiled = tuple[int, str, tuple[tuple[str, str], ...], tuple[ColumnStats, ...] | None]


@dataclass(frozen=True)
class _Record:
    """What a commit records besides its data, and the card a new dataset starts with."""

    producer: str
    message: str
    parents: tuple[str, ...]
    quality_score: float | None
    report: Any
    first_listing: Listing | None = None


def _snapshot_of(c: duckdb.DuckDBPyConnection, info: str) -> int:
    """The snapshot a commit just made, found by its unique extra info in DuckLake's metadata.

    A plain SQLite lookup: ``last_committed_snapshot()`` starts a lake transaction, which
    loads the whole lake catalog first (tens of milliseconds once there are many versions).
    """
    found = scalar(
        c,
        f"SELECT max(snapshot_id) FROM __ducklake_metadata_{LAKE}.ducklake_snapshot_changes "
        "WHERE commit_extra_info = ?",
        [info],
    )
    if found is None:
        found = scalar(c, f"SELECT * FROM {LAKE}.last_committed_snapshot()")
    return int(found)


def _written_files(c: duckdb.DuckDBPyConnection, table: str, rows: int) -> list[str]:
    """The data files of ``table``'s ``rows`` rows, all written in this transaction: the one
    file a row is read from when its footer says it holds them all (a look at one row and
    one footer), else every file any row is read from (a scan of the whole table)."""
    first = c.execute(f"SELECT filename FROM {table} LIMIT 1").fetchone()
    if first is None:
        return []
    held = c.execute("SELECT num_rows FROM parquet_file_metadata(?)", [first[0]]).fetchone()
    if held is not None and held[0] == rows:
        return [str(first[0])]
    return [str(r[0]) for r in c.execute(f"SELECT DISTINCT filename FROM {table}").fetchall()]


def _hash_first(staged: Staged, latest: Version | None) -> bool:
    """Whether the content hash must be known before the write: always for SQL rows (profiled
    in one scan), and for Arrow rows that may equal the latest version (the row count is part
    of the hash; a different count is a new version for sure, hashed beside the write)."""
    return staged.arrow is None or (latest is not None and latest.rows == staged.arrow.num_rows)


def _check_columns(ref: DatasetRef, columns: Sequence[str], meta: _Meta) -> None:
    for column in (*meta.key, *meta.volatile):
        if column not in columns:
            raise InvalidInputError(
                f"'{column}' is named as a key or volatile column of {ref.qualified} but is not a column of the data."
            )


class Catalog:
    """The workspace's dataset catalog. One per process; safe to share between threads."""

    def __init__(self, workspace: Workspace, con: duckdb.DuckDBPyConnection) -> None:
        self.workspace = workspace
        self._con = con
        self._lock = threading.Lock()
        self._plain: dict[tuple[str, int, int], tuple[str, ...]] = {}

    @classmethod
    def open(cls, home: Workspace | str | os.PathLike[str] | None = None) -> Catalog:
        """Open (creating if needed) the catalog of the workspace at ``home``."""
        workspace = home if isinstance(home, Workspace) else Workspace.at(home)
        workspace.ensure()
        catalog_file = workspace.catalog_file
        lock = (
            _file_lock(str(workspace.home / ".catalog.lock"))
            if catalog_file
            else contextlib.nullcontext()
        )
        with lock:  # creating the catalog database is not safe to race; commits afterwards are
            if catalog_file is not None and not catalog_file.exists():
                # WAL (readers never wait for the writer) is set in the new file's header before
                # DuckDB opens it: Python's SQLite must never hold the file beside DuckDB's own
                # in one process (see catalog/commits.py).
                try:
                    with contextlib.closing(sqlite3.connect(catalog_file)) as db:
                        db.execute("PRAGMA journal_mode=WAL").fetchall()
                except sqlite3.Error as error:
                    raise CatalogError(
                        f"Could not open the catalog: {catalog_file}: {error}."
                    ) from error
            con = connect(workspace)
            prepared = scalar(  # the last of _BOOTSTRAP's changes is there
                con,
                "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? "
                "AND schema_name = 'harvest' AND table_name = 'versions' AND column_name = 'files'",
                [LAKE],
            )
            if not prepared:
                for statement in _BOOTSTRAP:
                    retry(partial(con.execute, statement), what="prepare the catalog")
        return cls(workspace, con)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the catalog connection (one per call or thread)."""
        return self._con.cursor()

    def datasets(self, stage: str | None = None) -> list[Dataset]:
        """Every dataset (of one stage if given), with its listing and latest version."""
        rows = self._dataset_rows(("LIKE", f"{stage}.%") if stage else None)
        return [self._dataset(row) for row in rows]

    def _dataset_rows(
        self,
        name: tuple[str, str] | None = None,
        cursor: duckdb.DuckDBPyConnection | None = None,
    ) -> list[tuple[Any, ...]]:
        """Datasets with their latest version; ``name`` is ``("=", n)`` or ``("LIKE", p)``.

        The versions table is scanned once, filtered by name too, so DuckLake can skip the
        files of other datasets by their statistics (the table gains a file per commit).
        """
        operator, value = name if name else ("", "")
        if operator not in ("", "=", "LIKE"):
            raise ValueError(operator)
        on_versions = f"WHERE dataset {operator} ?" if operator else ""
        on_datasets = f"WHERE d.name {operator} ?" if operator else ""
        return (
            (cursor or self.cursor())
            .execute(
                f"""
            WITH s AS ({_SNAPSHOTS}),
            v AS (
                SELECT *, count(*) OVER (PARTITION BY dataset) AS n
                FROM {META}.versions {on_versions}
                QUALIFY row_number() OVER (PARTITION BY dataset ORDER BY version DESC) = 1
            )
            SELECT d.name, d.title, d.description, d.license, d.tags, d.publisher, d.source_url,
                   d.cadence, d.key, d.volatile, d.created_at, v.n, {_VERSION_COLUMNS}
            FROM {META}.datasets d
            LEFT JOIN v ON v.dataset = d.name
            LEFT JOIN s ON s.dataset = v.dataset AND s.version = v.version
            {on_datasets}
            ORDER BY d.name
            """,
                [value, value] if operator else [],
            )
            .fetchall()
        )

    @staticmethod
    def _dataset(row: Sequence[Any]) -> Dataset:
        listing = Listing(
            title=row[1] or "",
            description=row[2] or "",
            license=row[3] or "",
            tags=tuple(row[4] or ()),
            publisher=row[5] or "",
            source_url=row[6] or "",
            cadence=row[7] or "",
        )
        latest = _version(row[12:]) if row[12] is not None and row[14] is not None else None
        return Dataset(
            name=row[0],
            listing=listing,
            key=tuple(row[8] or ()),
            volatile=tuple(row[9] or ()),
            created_at=row[10],
            latest=latest,
            version_count=int(row[11] or 0),
        )

    def dataset(self, name: str) -> Dataset:
        """The dataset called ``name`` (``stage.name``; a version suffix is ignored)."""
        ref = self.resolve_name(name)
        for dataset in self.datasets(ref.stage):
            if dataset.name == ref.qualified:
                return dataset
        raise NotFoundError(
            f"There is no dataset '{ref.qualified}'; `harvest catalog list` shows them."
        )

    def resolve_name(self, text: str) -> DatasetRef:
        """Parse ``text``; a bare ``name`` is looked up across stages when it is unambiguous."""
        if "." in text.split("@")[0]:
            return DatasetRef.parse(text)
        bare = DatasetRef.parse(text, default_stage="raw")
        found = [d.name for d in self.datasets() if d.name.split(".", 1)[1] == bare.name]
        if len(found) == 1:
            return DatasetRef.parse(found[0] + (f"@{bare.version}" if bare.version else ""))
        if not found:
            raise NotFoundError(
                f"There is no dataset '{bare.name}'; `harvest catalog list` shows them."
            )
        raise InvalidInputError(f"'{bare.name}' is ambiguous: say which of {', '.join(found)}.")

    def versions(self, name: str) -> list[Version]:
        """Every version of a dataset, oldest first."""
        ref = self.resolve_name(name)
        rows = (
            self.cursor()
            .execute(
                f"""WITH s AS ({_SNAPSHOTS})
            SELECT {_VERSION_COLUMNS} FROM {META}.versions v
            JOIN s ON s.dataset = v.dataset AND s.version = v.version
            WHERE v.dataset = ? ORDER BY v.version""",
                [ref.qualified],
            )
            .fetchall()
        )
        if not rows:
            self.dataset(ref.qualified)  # raises NotFoundError for unknown names
        return [_version(row) for row in rows]

    def version(self, ref_text: str) -> Version:
        """The version ``name@N``, or the latest version for a bare name."""
        ref = self.resolve_name(ref_text)
        versions = self.versions(ref.qualified)
        if not versions:
            raise NotFoundError(f"'{ref.qualified}' has no versions yet.")
        if ref.version is None:
            return versions[-1]
        for version in versions:
            if version.number == ref.version:
                return version
        raise NotFoundError(
            f"'{ref.qualified}' has no version {ref.version}; it has versions 1 to {versions[-1].number}."
        )

    def table_sql(self, ref: str | Version) -> str:
        """A SQL table expression that reads exactly the version ``ref``.

        ``ref`` is ``name@N``, a bare name for the latest version, or a :class:`Version`
        already looked up (which is not looked up again).
        """
        version = ref if isinstance(ref, Version) else self.version(ref)
        stage, name = version.dataset.split(".", 1)
        return f"{LAKE}.{stage}.{quote_ident(name)} AT (VERSION => {version.snapshot_id})"

    def source_sql(self, ref: str | Version) -> str:
        """Like :meth:`table_sql`, but reading the version's Parquet files directly when they
        alone give its rows (no catalog query per read); checked once per version."""
        version = ref if isinstance(ref, Version) else self.version(ref)
        files = self.plain_files(version)
        return f"({read_parquet_sql(files)})" if files else self.table_sql(version)

    def plain_files(self, version: Version) -> tuple[str, ...]:
        """The version's files when reading them alone gives its rows (see catalog/plain.py);
        versions never change, so the answer is kept."""
        key = (version.dataset, version.number, version.snapshot_id)
        found = self._plain.get(key)
        if found is None:
            found = plain_files(
                self.cursor(),
                self.table_sql(version),
                self.data_files(version),
                self.workspace.data_path,
            )
            with self._lock:
                self._plain[key] = found
                while len(self._plain) > 1024:
                    del self._plain[next(iter(self._plain))]
        return found

    def read(self, ref: str | Version, limit: int | None = None) -> pa.Table:
        """The rows of a version (the latest when no ``@N``) as an Arrow table."""
        sql = f"SELECT * FROM {self.table_sql(ref)}" + (f" LIMIT {int(limit)}" if limit else "")
        return self.cursor().execute(sql).fetch_arrow_table()

    def report(self, ref_text: str) -> Any:
        """The JSON report stored with a version (a clean version's quality report), or None."""
        version = self.version(ref_text)
        row = (
            self.cursor()
            .execute(
                f"SELECT report FROM {META}.versions WHERE dataset = ? AND version = ?",
                [version.dataset, version.number],
            )
            .fetchone()
        )
        return json.loads(row[0]) if row and row[0] else None

    # -- files and their integrity -------------------------------------------------------

    def data_files(self, ref: str | Version) -> list[DataFile]:
        """The files DuckLake reads for version ``ref`` (``name@N``, a bare name, a Version):
        what ``ducklake_list_files`` lists for its table at its snapshot, with full paths."""
        version = ref if isinstance(ref, Version) else self.version(ref)
        stage, name = version.dataset.split(".", 1)
        rows = (
            self.cursor()
            .execute(
                "SELECT data_file, data_file_size_bytes, delete_file, data_file_encryption_key "
                "FROM ducklake_list_files(?, ?, schema => ?, snapshot_version => ?) ORDER BY 1",
                [LAKE, name, stage, version.snapshot_id],
            )
            .fetchall()
        )
        return [DataFile(row[0], int(row[1]), row[2], row[3] is not None) for row in rows]

    def committed_files(self, ref: str | Version) -> list[CommittedFile] | None:
        """The data files version ``ref`` was committed with, their sizes and checksums (paths
        relative to the data path); None for a version committed before they were recorded."""
        version = ref if isinstance(ref, Version) else self.version(ref)
        return self._committed(version.dataset).get((version.dataset, version.number))

    def _committed(self, dataset: str | None = None) -> dict[tuple[str, int], list[CommittedFile]]:
        """Recorded files by ``(dataset, number)``, of one dataset or of all."""
        where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
        rows = (
            self.cursor()
            .execute(f"SELECT dataset, version, files FROM {META}.versions {where}", params)
            .fetchall()
        )
        return {
            (row[0], row[1]): [CommittedFile(**f) for f in row[2]]
            for row in rows
            if row[2] is not None
        }

    def verify(self, name: str | None = None) -> list[VersionCheck]:
        """Check every version's files (of dataset ``name`` only, if given) against what its
        commit recorded: ``intact``, ``altered``, ``missing`` or ``unverified`` (see VersionCheck)."""
        if name is not None:
            versions = self.versions(name)
            committed = self._committed(versions[0].dataset) if versions else {}
        else:
            versions = [v for d in self.datasets() for v in self.versions(d.name)]
            committed = self._committed()
        cur, data_path = self.cursor(), self.workspace.data_path
        return [
            integrity.check(
                v.ref, committed.get((v.dataset, v.number)), self.data_files(v), cur, data_path
            )
            for v in versions
        ]

    def check(self, ref: str | Version) -> VersionCheck:
        """Whether version ``ref``'s files are still the ones its commit recorded."""
        version = ref if isinstance(ref, Version) else self.version(ref)
        return integrity.check(
            version.ref,
            self.committed_files(version),
            self.data_files(version),
            self.cursor(),
            self.workspace.data_path,
        )

    def ensure_intact(self, ref: str | Version) -> Version:
        """The version ``ref``, after checking its files; an altered or missing file raises
        :class:`IntegrityError` with one sentence naming the version and the file."""
        version = ref if isinstance(ref, Version) else self.version(ref)
        checked = self.check(version)
        if checked.failed:
            raise IntegrityError(checked.sentence)
        return version

    # -- writing -------------------------------------------------------------------------

    def transaction(
        self,
        fn: Callable[[duckdb.DuckDBPyConnection], T],
        *,
        what: str = "write to the catalog",
        cursor: duckdb.DuckDBPyConnection | None = None,
    ) -> T:
        """Run ``fn(cursor)`` in one transaction, retried on conflicts with other writers."""

        def attempt() -> T:
            with self._writing(shared=True):
                return run()

        def run() -> T:
            cur = cursor or self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                result = fn(cur)
                cur.execute("COMMIT")
                return result
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise

        return retry(attempt, what=what)

    @contextlib.contextmanager
    def _writing(self, *, shared: bool) -> Iterator[None]:
        """A lock between writers (shared) and vacuum (exclusive), on every machine.

        A transaction writes its Parquet files before it commits; until then they look
        orphaned, so vacuum deletes orphans only while no transaction is open: this
        machine's are kept apart by a file lock, other machines' (a catalog on PostgreSQL)
        by an advisory lock on the server (catalog/writers.py).
        """
        with (
            _file_lock(str(self.workspace.home / ".writers.lock"), shared=shared),
            writers.across_machines(self.workspace, shared=shared),
        ):
            yield

    def commit(
        self,
        name: str,
        data: pa.Table | pd.DataFrame | Staged | None = None,
        *,
        producer: str,
        message: str = "",
        parents: Sequence[str] = (),
        key: Sequence[str] | None = None,
        volatile: Sequence[str] | None = None,
        listing: Listing | None = None,
        quality_score: float | None = None,
        report: Any = None,
        sql: str | None = None,
        first_listing: Listing | None = None,
    ) -> CommitResult:
        """Commit ``data`` (or the rows of the SQL ``sql``) as the next version of ``name``.

        ``data`` may also be a :class:`Staged` temporary table, committed without a copy.
        ``first_listing`` is the card a new dataset gets when no ``listing`` is given.
        Content equal to the latest version's makes no version (``created`` is False); a
        changed listing, key or volatile set is still saved. Everything happens in one
        transaction: a killed process leaves the previous version current.
        """
        ref = DatasetRef.parse(name)
        if ref.version is not None:
            raise InvalidInputError(
                f"Commit to '{ref.qualified}', not to a version: versions are immutable."
            )
        if (data is None) == (sql is None):
            raise InvalidInputError("Commit needs exactly one of a table or a SQL query.")
        record = _Record(
            producer=producer,
            message=message,
            parents=tuple(parents),
            quality_score=quality_score,
            report=report,
            first_listing=first_listing,
        )
        if isinstance(data, Staged):
            return self._commit_staged(ref, data, key, volatile, listing, record)
        cur = self.cursor()
        staging = f"_staging_{uuid.uuid4().hex}"
        try:
            arrow = None
            if data is not None:
                arrow = _as_arrow(data)
                cur.register(staging, arrow)
            else:
                cur.execute(f"CREATE TEMP TABLE {staging} AS {sql}")
            staged = Staged(cur, staging, arrow)
            return self._commit_staged(ref, staged, key, volatile, listing, record)
        except duckdb.Error as error:
            raise CatalogError(f"Could not commit {ref.qualified}: {first_line(error)}") from error
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.unregister(staging)
                cur.execute(f"DROP TABLE IF EXISTS temp.{staging}")

    def _commit_staged(
        self,
        ref: DatasetRef,
        staged: Staged,
        key: Sequence[str] | None,
        volatile: Sequence[str] | None,
        listing: Listing | None,
        record: _Record,
    ) -> CommitResult:
        """Look up, profile and write in one lake transaction (one catalog load, not two)."""
        cur, staging = staged.cursor, staged.table
        columns = [r[0] for r in cur.execute(f"DESCRIBE {staging}").fetchall()]
        profiles: dict[tuple[str, ...], _Profiled] = {}  # kept across conflict retries

        def attempt(c: duckdb.DuckDBPyConnection) -> CommitResult:
            rows = self._dataset_rows(("=", ref.qualified), c)
            existing = self._dataset(rows[0]) if rows else None
            highest = int(rows[0][13] or 0) if rows else 0  # in this transaction's snapshot
            meta = _Meta.merge(existing, key, volatile, listing, record.first_listing)
            _check_columns(ref, columns, meta)
            latest = existing.latest if existing else None
            if meta.volatile not in profiles and _hash_first(staged, latest):
                profiles[meta.volatile] = (
                    (*fingerprint(c, staging, meta.volatile), None)
                    if staged.arrow is not None
                    else profile(c, staging, meta.volatile)
                )
            profiled = profiles.get(meta.volatile)
            if meta.changed:
                self._save_dataset(c, ref.qualified, meta, existing)
            if latest is not None and profiled is not None and latest.content_hash == profiled[1]:
                return CommitResult(version=latest, created=False)
            version = self._write_version(
                c, ref, staged, columns, profiled, meta.volatile, record, highest + 1
            )
            return CommitResult(version=version, created=True)

        try:
            return self.transaction(attempt, what=f"commit {ref.qualified}", cursor=cur)
        except duckdb.Error as error:
            raise CatalogError(f"Could not commit {ref.qualified}: {first_line(error)}") from error

    def _write_version(
        self,
        c: duckdb.DuckDBPyConnection,
        ref: DatasetRef,
        staged: Staged,
        names: list[str],
        profiled: _Profiled | None,
        volatile: tuple[str, ...],
        record: _Record,
        number: int,
    ) -> Version:
        """Inside a transaction: replace the table's rows, record version ``number``, tag the snapshot.

        What ``profiled`` lacks (the statistics, or everything when it is None) is scanned
        from the Arrow rows on another cursor while DuckDB writes the data file on ``c``.
        """
        if profiled is not None and (scanned := profiled[3]) is not None:
            files = self._write_data(c, ref, staged.table, names, profiled[0])
            (rows, content_hash, columns), stats = profiled[:3], scanned
        else:
            assert staged.arrow is not None  # only Arrow rows can be read by another cursor
            with ThreadPoolExecutor(max_workers=1) as pool:
                aside = pool.submit(self._profile_aside, staged.arrow, profiled, volatile)
                files = self._write_data(c, ref, staged.table, names, staged.arrow.num_rows)
                rows, content_hash, columns, stats = aside.result()
        created_at = datetime.now(UTC)
        c.execute(
            f"INSERT INTO {META}.versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ref.qualified,
                number,
                rows,
                json.dumps(columns),
                json.dumps([asdict(s) for s in stats]),
                content_hash,
                record.producer,
                list(record.parents),
                record.message,
                created_at,
                record.quality_score,
                json.dumps(record.report) if record.report is not None else None,
                [asdict(f) for f in files],
            ],
        )
        info = json.dumps({"dataset": ref.qualified, "version": number})
        c.execute(
            f"CALL {LAKE}.set_commit_message('harvest', ?, extra_info => ?)",
            [record.message or record.producer, info],
        )
        c.execute("COMMIT")
        snapshot = _snapshot_of(c, info)
        c.execute("BEGIN TRANSACTION")  # transaction() commits this empty one
        return Version(
            dataset=ref.qualified,
            number=number,
            snapshot_id=snapshot,
            rows=rows,
            columns=columns,
            stats=stats,
            content_hash=content_hash,
            producer=record.producer,
            parents=record.parents,
            message=record.message,
            created_at=created_at,
            quality_score=record.quality_score,
        )

    def _profile_aside(
        self, arrow: pa.Table, profiled: _Profiled | None, volatile: tuple[str, ...]
    ) -> tuple[int, str, tuple[tuple[str, str], ...], tuple[ColumnStats, ...]]:
        """What ``profiled`` lacks of ``arrow``'s profile, on a cursor of its own."""
        cur = self.cursor()
        name = f"_profile_{uuid.uuid4().hex}"
        try:
            cur.register(name, arrow)
            if profiled is None:
                return profile(cur, name, volatile)
            rows, content_hash, columns, _ = profiled
            return rows, content_hash, columns, column_stats(cur, name, columns, rows)
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.unregister(name)
            cur.close()

    def _write_data(
        self,
        c: duckdb.DuckDBPyConnection,
        ref: DatasetRef,
        staging: str,
        columns: list[str],
        rows: int,
    ) -> list[CommittedFile]:
        """Inside a transaction: replace the table's rows; return the data files written.

        Each version is new Parquet files (usually one; earlier ones stay for time travel),
        found by DuckDB's ``filename`` virtual column. A column named ``filename`` hides that,
        so the table's folder is listed before and after instead (DuckDB's ``glob``, which
        lists S3 too).
        """
        table = f"{LAKE}.{ref.stage}.{quote_ident(ref.name)}"
        data_path = self.workspace.data_path
        shadowed = "filename" in {name.lower() for name in columns}
        pattern = [f"{data_path}{ref.stage}/{ref.name}/*.parquet"]  # local or remote alike
        listed = "SELECT file FROM glob(?)"
        before = {r[0] for r in c.execute(listed, pattern).fetchall()} if shadowed else set()
        c.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {staging}")
        if shadowed:
            written = sorted({r[0] for r in c.execute(listed, pattern).fetchall()} - before)
        else:
            written = _written_files(c, table, rows)
        return integrity.record(c, written, data_path)

    def find(self, name: str) -> Dataset | None:
        """The dataset ``stage.name``, or None when there is none (no error, no name guessing)."""
        return self._dataset_or_none(DatasetRef.parse(name).qualified)

    def _dataset_or_none(
        self, qualified: str, cursor: duckdb.DuckDBPyConnection | None = None
    ) -> Dataset | None:
        rows = self._dataset_rows(("=", qualified), cursor)
        return self._dataset(rows[0]) if rows else None

    @staticmethod
    def _save_dataset(
        c: duckdb.DuckDBPyConnection, qualified: str, meta: _Meta, existing: Dataset | None
    ) -> None:
        """Write the dataset's row; ``existing`` is its row as this transaction sees it."""
        created_at = existing.created_at if existing else datetime.now(UTC)
        listing = meta.listing
        if existing is not None:
            c.execute(f"DELETE FROM {META}.datasets WHERE name = ?", [qualified])
        c.execute(
            f"INSERT INTO {META}.datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                qualified,
                listing.title,
                listing.description,
                listing.license,
                list(listing.tags),
                listing.publisher,
                listing.source_url,
                listing.cadence,
                list(meta.key),
                list(meta.volatile),
                created_at,
            ],
        )

    def set_listing(self, name: str, listing: Listing) -> Dataset:
        """Replace the listing card of an existing dataset."""
        dataset = self.dataset(name)
        meta = _Meta(key=dataset.key, volatile=dataset.volatile, listing=listing, changed=True)
        self.transaction(lambda c: self._save_dataset(c, dataset.name, meta, dataset))
        return replace(dataset, listing=listing)

    # -- comparing -----------------------------------------------------------------------

    def diff(self, before: str, after: str) -> Diff:
        """Rows added, removed and changed from version ``before`` to ``after``, by the dataset key.

        Both versions' files are checked first: a diff of altered files would compare rows
        nobody committed (or fail inside DuckDB's reader).
        """
        a, b = self.ensure_intact(before), self.ensure_intact(after)
        dataset = self.dataset(b.dataset)
        a_sql, b_sql = (f"(SELECT * FROM {self.table_sql(v)})" for v in (a, b))
        shared = [c for c, _ in b.columns if c in dict(a.columns) and c not in dataset.volatile]
        key = [k for k in dataset.key if k in shared] or shared
        on = " AND ".join(
            f"a.{quote_ident(k)} IS NOT DISTINCT FROM b.{quote_ident(k)}" for k in key
        )
        cur = self.cursor()
        added = cur.execute(
            f"SELECT b.* FROM {b_sql} b ANTI JOIN {a_sql} a ON {on}"
        ).fetch_arrow_table()
        removed = cur.execute(
            f"SELECT a.* FROM {a_sql} a ANTI JOIN {b_sql} b ON {on}"
        ).fetch_arrow_table()
        compared = [c for c in shared if c not in key]
        if compared:
            keys = ", ".join(f"b.{quote_ident(k)}" for k in key)
            parts = [
                f"SELECT {keys}, {_literal(c)} AS column, a.{quote_ident(c)}::VARCHAR AS before, "
                f"b.{quote_ident(c)}::VARCHAR AS after FROM {a_sql} a JOIN {b_sql} b ON {on} "
                f"WHERE a.{quote_ident(c)} IS DISTINCT FROM b.{quote_ident(c)}"
                for c in compared
            ]
            changed = cur.execute(" UNION ALL ".join(parts)).fetch_arrow_table()
        else:
            changed = pa.table({"column": pa.array([], pa.string())})
        return Diff(
            before=a.ref, after=b.ref, key=tuple(key), added=added, removed=removed, changed=changed
        )

    # -- maintenance ---------------------------------------------------------------------

    def vacuum(self, older_than_hours: float = 1.0) -> int:
        """Merge the registry's small files, then delete files no snapshot reads any more
        that are older than the cutoff. Returns how many files were deleted.

        Every commit adds a one-row file to the registry's tables (``harvest.*``: versions,
        listings, the model registry), and reading them opens each file, so those are merged
        into one (time travel still reads every earlier snapshot exactly). Datasets' files
        are never merged: each version keeps the files its commit recorded and verify checks.
        The files that merging replaced, and those left by killed writers, are deleted once
        older than the cutoff, so a reader still on an older snapshot keeps its files; a file
        a version recorded is never deleted, whatever its age. Vacuum waits for the commits
        in flight and commits wait while it runs, on this machine and (with the catalog on
        PostgreSQL) on every other, so a commit's files are never taken for orphans.
        """
        with self._writing(shared=False):
            for table in self._registry_tables():
                retry(
                    partial(
                        self._call,
                        "CALL ducklake_merge_adjacent_files(?, ?, schema => 'harvest')",
                        [LAKE, table],
                    ),
                    what="merge the registry's files",
                )
            cutoff = datetime.now(UTC) - timedelta(hours=float(older_than_hours))
            replaced = self._remove_replaced(cutoff)
            orphaned = self._delete_files(
                "ducklake_delete_orphaned_files", "older_than => ?", [cutoff]
            )
        return replaced + orphaned

    def _call(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        return self.cursor().execute(sql, params).fetchall()

    def _registry_tables(self) -> list[str]:
        rows = self._call(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'harvest'",
            [LAKE],
        )
        return sorted(row[0] for row in rows)

    def _remove_replaced(self, cutoff: datetime) -> int:
        """Delete the files merging replaced that have waited longer than the cutoff.

        On a SQLite catalog DuckLake's own ``older_than`` compares the times as text, so a
        file scheduled any time on the cutoff's day (UTC) passed as older: the probe saw
        seconds-old files go with a one-hour cutoff. So the ages are read here, and DuckLake
        is asked for all waiting files only when all are old enough, else for those waiting
        since before the cutoff's day (the rest go at a later vacuum).
        """
        rows = self._call(
            f"SELECT path, CAST(schedule_start AS TIMESTAMPTZ) < ? "
            f"FROM __ducklake_metadata_{LAKE}.ducklake_files_scheduled_for_deletion",
            [cutoff],
        )
        old = {integrity.relative(path, self.workspace.data_path) for path, aged in rows if aged}
        if not old:
            return 0
        if len(old) == len(rows):
            return self._delete_files("ducklake_cleanup_old_files", "cleanup_all => true", [], old)
        day = cutoff.replace(hour=0, minute=0, second=0, microsecond=0)
        earlier = day - timedelta(microseconds=1)
        return self._delete_files("ducklake_cleanup_old_files", "older_than => ?", [earlier], old)

    def _delete_files(
        self, function: str, option: str, params: list[object], allowed: set[str] | None = None
    ) -> int:
        """Call a DuckLake cleanup ``function`` as a dry run, then for real: only when every
        file it would delete is in ``allowed`` (if given), and never one a version recorded."""
        sql = f"CALL {function}(?, {option}, dry_run => {{}})"
        data_path = self.workspace.data_path
        would = {
            integrity.relative(row[0], data_path)
            for row in retry(
                partial(self._call, sql.format("true"), [LAKE, *params]),
                what="list unused files",
            )
        }
        recorded = {f.path for files in self._committed().values() for f in files}
        if would & recorded:  # DuckLake no longer knows a file a version was committed with
            raise CatalogError(
                f"Vacuum stopped before deleting {sorted(would & recorded)[0]}, a file a version "
                "was committed with; `harvest catalog verify` shows which versions it concerns."
            )
        if not would or (allowed is not None and not would <= allowed):
            return 0
        deleted = retry(
            partial(self._call, sql.format("false"), [LAKE, *params]), what="remove unused files"
        )
        return len(deleted)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
