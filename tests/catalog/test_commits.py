"""Has anything been committed? The file-stamp shortcut must never hide a commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest

from catalog import commits as commits_module
from catalog.commits import RACY_NS, Commits
from catalog.engine import LAKE


class Snapshots:
    """A stand-in for the catalog's cursor: a lake whose latest snapshot the test sets, and
    a count of how often it was read."""

    def __init__(self) -> None:
        self.latest = 1
        self.reads = 0

    def cursor(self) -> duckdb.DuckDBPyConnection:
        self.reads += 1
        connection = duckdb.connect()
        connection.execute(
            f"CREATE SCHEMA __ducklake_metadata_{LAKE};"
            f" CREATE TABLE __ducklake_metadata_{LAKE}.ducklake_snapshot"
            f" AS SELECT {self.latest} AS snapshot_id"
        )
        return connection


def rewrite_in_place(file: Path, mtime_ns: int) -> None:
    """A commit that leaves the file's size alone and lands in the same timestamp tick."""
    file.write_bytes(b"x" * 4096)
    os.utime(file, ns=(mtime_ns, mtime_ns))


def test_a_commit_in_the_same_tick_as_the_last_look_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commits_module, "RACY_NS", 60 * 10**9)  # however slow this machine is
    catalog = tmp_path / "catalog.sqlite"
    now = time.time_ns()
    rewrite_in_place(catalog, now)
    snapshots = Snapshots()
    commits = Commits(catalog, snapshots.cursor)
    assert commits.mark() == 1
    snapshots.latest = 2  # committed, and the file's stamp did not move
    rewrite_in_place(catalog, now)
    assert commits.mark() == 2


def test_an_unchanged_old_file_is_not_read_again(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    settled = time.time_ns() - 3 * RACY_NS
    rewrite_in_place(catalog, settled)
    snapshots = Snapshots()
    commits = Commits(catalog, snapshots.cursor)
    assert [commits.mark() for _ in range(5)] == [1] * 5
    assert snapshots.reads == 1
    snapshots.latest = 3
    rewrite_in_place(catalog, settled + 1)  # any change of the stamp reads again
    assert commits.mark() == 3 and snapshots.reads == 2


def test_a_catalog_server_that_cannot_be_reached_is_answered_by_the_catalogs_connection() -> None:
    snapshots = Snapshots()
    nobody_listens = "host=127.0.0.1 port=1 dbname=lake user=nobody connect_timeout=2"
    commits = Commits(None, snapshots.cursor, nobody_listens)
    assert commits.mark() == 1 and snapshots.reads == 1
    snapshots.latest = 4
    assert commits.mark() == 4 and snapshots.reads == 2  # on a server every mark asks
