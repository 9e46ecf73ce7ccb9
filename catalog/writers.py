"""A lock between the catalog's writers and vacuum that spans machines, held on its PostgreSQL.

A commit writes its Parquet files to the data path before it commits them, and until then
they look orphaned: vacuum may delete orphans only while no commit is in flight. On one
machine a file lock says so (``Catalog._writing``). With the catalog on PostgreSQL, writers on
every machine also hold a shared advisory lock while they write, and vacuum takes it
exclusively, so the orphans it deletes are the files of commits that died. The server ends a
lock with the session that held it, so a killed writer never holds vacuum up.

A process takes the shared lock once, on a connection of its own, however many of its
threads are writing: it asks the server only when its first writer starts and its last one
ends. The lock's key is derived from the data path, so lakes sharing a database keep apart
(advisory locks are per database already).

A writer whose lock connection drops while its commit goes on (the server restarting) loses
the lock; its commit, on the same server, loses its transaction too and runs again, taking
the lock again first.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator

import psycopg2

from catalog.engine import CatalogError, first_line
from core.postgres import ProcessConnection, catalog_dsn
from core.workspace import Workspace


@contextlib.contextmanager
def across_machines(workspace: Workspace, *, shared: bool) -> Iterator[None]:
    """Hold the catalog's writer lock on its server: shared to write, exclusive to vacuum.
    Nothing is held for a catalog that is not on PostgreSQL (one machine's file lock is all)."""
    dsn = catalog_dsn(workspace)
    if dsn is None:
        yield
        return
    key = lock_key(workspace.data_path)
    if not shared:
        with _exclusive(dsn, key):
            yield
        return
    hold = _hold(dsn, key)
    hold.enter()
    try:
        yield
    finally:
        hold.leave()


def lock_key(data_path: str) -> int:
    """The advisory lock's key for a lake: a signed 64-bit number from its data path."""
    digest = hashlib.blake2b(f"harvest writers {data_path}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def _exclusive(dsn: str, key: int) -> Iterator[None]:
    """Wait until no writer on any machine holds the lock, then hold it alone."""
    try:
        connection = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error as error:
        raise CatalogError(
            f"Could not reach the catalog's server to wait for commits in flight: "
            f"{first_line(error)}"
        ) from error
    try:
        connection.autocommit = True
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield
    except psycopg2.Error as error:
        raise CatalogError(
            f"Could not wait for commits in flight on other machines: {first_line(error)}"
        ) from error
    finally:
        with contextlib.suppress(psycopg2.Error):
            connection.close()  # ends the session, and the lock with it


class _SharedHold:
    """This process's share of the writer lock, taken by its first writer, given back by its
    last (``holders`` counts them)."""

    def __init__(self, dsn: str, key: int) -> None:
        self._connection = ProcessConnection(dsn)
        self._key = key
        self._holders = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self._connection.forked:
                self._holders = 0  # the parent's writers, not this process's
            if self._holders == 0:
                self._take()
            self._holders += 1

    def leave(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                try:
                    with self._connection.get().cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock_shared(%s)", (self._key,))
                except psycopg2.Error:
                    self._connection.drop()  # the session is gone, and its lock with it

    def _take(self) -> None:
        """Wait while vacuum holds the lock, then share it. A failure propagates as
        ``psycopg2.OperationalError``, which the commit's retry knows (a server restarting)."""
        try:
            with self._connection.get().cursor() as cur:
                cur.execute("SELECT pg_advisory_lock_shared(%s)", (self._key,))
        except psycopg2.Error:
            self._connection.drop()
            raise


_HOLDS: dict[tuple[str, int], _SharedHold] = {}
_HOLDS_LOCK = threading.Lock()


def _hold(dsn: str, key: int) -> _SharedHold:
    with _HOLDS_LOCK:
        return _HOLDS.setdefault((dsn, key), _SharedHold(dsn, key))
