"""A cheap detector of commits to a SQLite catalog: the sandbox and the scoring server ask it
whether anything was committed since they last looked, without a query per request."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


class Commits:
    """The catalog's latest DuckLake snapshot, which changes exactly when anything is committed.

    It is read on a fresh read-only SQLite connection (0.2-0.3 ms): a connection kept open
    stops seeing the commits DuckDB's SQLite writes to the WAL after the first one, and so
    does its ``PRAGMA data_version``. It is read only when the catalog's files changed (their
    inode, size or modification time, a few microseconds to look at): every commit writes
    WAL frames, and a checkpoint rewrites the database file.
    """

    def __init__(self, catalog_file: Path) -> None:
        self._uri = f"{catalog_file.resolve().as_uri()}?mode=ro"
        self._files = (catalog_file, catalog_file.with_name(catalog_file.name + "-wal"))
        self._stamp: tuple[tuple[int, int, int] | None, ...] = ()
        self._snapshot = -1

    def mark(self) -> int:
        stamp = tuple(file_stamp(file) for file in self._files)
        if stamp != self._stamp:
            with contextlib.closing(sqlite3.connect(self._uri, uri=True)) as db:
                row = db.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchone()
            self._stamp = stamp  # taken before the read: a commit in between reads again
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


def watch_commits(catalog_file: Path | None) -> Commits | None:
    """A watcher for a SQLite catalog file, or None (then every query lists its views)."""
    if catalog_file is None or not catalog_file.exists():
        return None
    try:
        commits = Commits(catalog_file)
        commits.mark()
        return commits
    except sqlite3.Error:
        return None
