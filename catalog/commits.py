"""Has anything been committed to the catalog since I last looked? Answered in microseconds
(on SQLite; one round trip to the server on PostgreSQL).

The sandbox lists its views again, the access rules are read again and a served model checks
its champion again only when the answer is yes.

The snapshot is read through DuckDB, never through Python's own ``sqlite3``: a process with
two SQLite libraries on one file loses the locks of one when the other closes the file (POSIX
locks belong to the process), which readers see as a "malformed" catalog and writers can
turn into a corrupt one (https://www.sqlite.org/howtocorrupt.html, section 2.2.1).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from catalog.engine import LAKE

RACY_NS = 100_000_000  # ten times a local filesystem's tick (a jiffy, at most 10 ms)
_LATEST = f"SELECT max(snapshot_id) FROM __ducklake_metadata_{LAKE}.ducklake_snapshot"


class Commits:
    """The catalog's latest DuckLake snapshot, which changes exactly when anything is committed.

    On SQLite it is read (one small query on the catalog's own DuckDB connection) only when
    the catalog file or its WAL changed: their inode, size or modification time, a few
    microseconds to look at. Every commit writes WAL frames, and a checkpoint rewrites the
    database file. A file's modification time moves in coarse ticks, and a reused WAL keeps
    its size, so a stamp whose file changed within the last ``RACY_NS`` is not trusted (git's
    "racy" rule): a commit finishing in the same tick as the stamp would otherwise go unseen.
    (A catalog on a filesystem with coarser timestamps than that, such as FAT, is unsupported.) A catalog on a server (PostgreSQL) has no file to look at: there the query
    runs on every mark, one round trip to the server, still far cheaper than what it spares.
    """

    def __init__(
        self, catalog_file: Path | None, cursor: Callable[[], duckdb.DuckDBPyConnection]
    ) -> None:
        self._files = (
            (catalog_file, catalog_file.with_name(catalog_file.name + "-wal"))
            if catalog_file is not None
            else ()
        )
        self._cursor = cursor
        self._stamp: tuple[tuple[int, int, int] | None, ...] = ()
        self._snapshot = -1
        self._lock = threading.Lock()  # stamp and snapshot change together

    def mark(self) -> int:
        now = time.time_ns()
        stamp = tuple(file_stamp(file) for file in self._files)
        with self._lock:
            if stamp != self._stamp or not self._files:
                row = self._cursor().execute(_LATEST).fetchone()
                # taken before the read, so a commit in between reads again; a recent one may
                # share its tick with a commit still being written, so it reads again too
                racy = any(s is not None and now - s[2] < RACY_NS for s in stamp)
                self._stamp = () if racy else stamp
                self._snapshot = int(row[0]) if row and row[0] is not None else -1
            return self._snapshot

    def close(self) -> None:
        """Nothing is held between marks."""


def file_stamp(file: Path) -> tuple[int, int, int] | None:
    """The inode, size and modification time of ``file``, or None when it does not exist."""
    try:
        found = os.stat(file)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def watch_commits(
    catalog_file: Path | None, cursor: Callable[[], duckdb.DuckDBPyConnection]
) -> Commits | None:
    """A watcher for the catalog read through ``cursor()``: of its SQLite file, or of the
    catalog's server where ``catalog_file`` is None; None while a SQLite catalog file does
    not exist yet (then the caller must look again each time)."""
    if catalog_file is not None and not catalog_file.exists():
        return None
    return Commits(catalog_file, cursor)
