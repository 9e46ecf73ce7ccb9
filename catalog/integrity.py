"""Tamper evidence: what a version's data files were when committed, and whether they still are.

A commit records each Parquet file DuckLake wrote for the version (its path, relative to the
data path when it lies there, its size and its SHA-256; on S3 the object's ETag, which the
server derives from the content, so that a commit need not read back what it just uploaded)
in its row of ``harvest.versions``, so in the same transaction as the version. Checking a
version compares that record with the files on storage now and with the files DuckLake lists
for the version's snapshot, so a file overwritten, truncated or deleted, and a file swapped
in through the catalog's metadata, are all found. Versions committed before checksums were recorded are ``unverified``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import duckdb

from catalog.records import CommittedFile, DataFile, Integrity, VersionCheck
from core.errors import HarvestError
from core.objects import object_stamp, on_s3

CHECKSUM = "sha256"
ETAG = "etag"  # what a file on S3 is recorded with since commits stopped reading them back


class IntegrityError(HarvestError):
    """A version whose files are no longer the ones its commit recorded."""


def relative(path: str, data_path: str) -> str:
    """``path`` relative to the data path when it lies inside it, else unchanged."""
    return path[len(data_path) :] if path.startswith(data_path) else path


def absolute(path: str, data_path: str) -> str:
    """The full path of a recorded ``path`` (see :func:`relative`)."""
    return path if "://" in path or os.path.isabs(path) else data_path + path


# Checksums of local files this process measured, by path, inode, size and modification and
# change times: a file written again (any write moves its ctime, which no one can set back)
# is hashed again, so a server checking each download hashes each version's files once.
_MEASURED: dict[tuple[str, int, int, int, int], tuple[int, str]] = {}
_KEEP_MEASURED = 4096


def measure(
    cur: duckdb.DuckDBPyConnection, path: str, kind: str = CHECKSUM
) -> tuple[int, str] | None:
    """The size and checksum (``kind:value``) of the file at ``path`` now, or None when it
    is gone.

    Local files are hashed with hashlib (about 1 ms per MB; once per process while the file
    is untouched). A remote file's ETag is one HEAD request; its SHA-256 (versions committed
    before ETags were recorded) is read through DuckDB, which reaches whatever storage the
    lake's data path is on.
    """
    if "://" not in path:
        try:
            with open(path, "rb") as handle:
                found = os.fstat(handle.fileno())
                stamp = (path, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
                known = _MEASURED.get(stamp)
                if known is None:
                    digest = hashlib.file_digest(handle, CHECKSUM).hexdigest()
                    known = _MEASURED[stamp] = (found.st_size, f"{CHECKSUM}:{digest}")
                    while len(_MEASURED) > _KEEP_MEASURED:
                        del _MEASURED[next(iter(_MEASURED))]
                return known
        except FileNotFoundError:
            return None
    if kind == ETAG:
        found_object = object_stamp(path)
        return None if found_object is None else (found_object[0], f"{ETAG}:{found_object[1]}")
    try:
        row = cur.execute(f"SELECT size, {CHECKSUM}(content) FROM read_blob(?)", [path]).fetchone()
    except duckdb.IOException:
        return None
    return (int(row[0]), f"{CHECKSUM}:{row[1]}") if row else None


def record(
    cur: duckdb.DuckDBPyConnection, paths: Sequence[str], data_path: str
) -> list[CommittedFile]:
    """Size and checksum of each file a commit just wrote, to be recorded with its version."""
    files = []
    for path in sorted(paths):
        measured = measure(cur, path, ETAG if on_s3(path) else CHECKSUM)
        if measured is None:
            raise IntegrityError(f"The data file {path} vanished while it was being committed.")
        files.append(CommittedFile(relative(path, data_path), *measured))
    return files


def check(
    ref: str,
    committed: Sequence[CommittedFile] | None,
    listed: Sequence[DataFile],
    cur: duckdb.DuckDBPyConnection,
    data_path: str,
) -> VersionCheck:
    """Compare a version's recorded files with what DuckLake lists and what storage holds."""
    if committed is None:
        return VersionCheck(ref, "unverified")
    recorded = {absolute(f.path, data_path): f for f in committed}
    swapped = sorted({f.path for f in listed} ^ recorded.keys())
    if swapped:  # DuckLake reads files other than the ones the commit wrote
        return VersionCheck(ref, "altered", tuple(relative(p, data_path) for p in swapped))
    found: dict[Integrity, list[str]] = {"altered": [], "missing": []}
    for path, file in sorted(recorded.items()):
        now = measure(cur, path, file.checksum.partition(":")[0])
        if now is None:
            found["missing"].append(file.path)
        elif now != (file.size, file.checksum):
            found["altered"].append(file.path)
    failures: tuple[Integrity, ...] = ("altered", "missing")
    for status in failures:
        if found[status]:
            return VersionCheck(ref, status, tuple(found[status]))
    return VersionCheck(ref, "intact")
