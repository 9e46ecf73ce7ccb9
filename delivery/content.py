"""What one delivery writes: a version's rows (the whole version, the rows a saved query keeps,
or the delta since the last delivered version with an ``_op`` column) as Parquet, CSV or JSON
Lines files, gzipped and split if asked, and the ``_manifest.json`` that describes them.

Files are produced as streams of byte chunks, a batch of rows at a time, so a target can
upload them without the whole file in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from catalog.export import encode, file_chunks, whole_file
from catalog.records import Version
from catalog.sandbox import Limits, Sandbox
from catalog.store import Catalog
from catalog.subscriptions import Subscription

MANIFEST = "_manifest.json"
BATCH_ROWS = 65_536
# A query's result is bounded like any other; a delivery may be bigger than a console's page.
QUERY_LIMITS = Limits(seconds=600.0, max_rows=50_000_000, max_bytes=8 * 2**30)
_SUFFIX = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}


@dataclass(frozen=True)
class Part:
    """One file to deliver: its name and its bytes as they are made, with its row count."""

    name: str
    rows: int
    chunks: Iterable[bytes] = field(repr=False)


@dataclass(frozen=True)
class FileEntry:
    """A delivered file as the manifest lists it."""

    name: str
    rows: int
    size: int
    sha256: str


@dataclass(frozen=True)
class Content:
    """The files of one delivery and the row counts the manifest reports."""

    parts: list[Part]
    rows: dict[str, int]  # total, and for a delta: insert, update, delete
    since: str | None = None  # a delta's base version


def folder_of(version: Version) -> str:
    """Where a version's files go under a target: ``stage.name/vN/``."""
    return f"{version.dataset}/v{version.number}/"


def content(
    catalog: Catalog,
    sub: Subscription,
    version: Version,
    *,
    since: Version | None = None,
    readable: list[str] | None = None,
    sandbox: Sandbox | None = None,
) -> Content:
    """The files ``sub`` receives for ``version`` (``since``: a delta's base, else everything
    is an insert). A query runs in the sandbox reading only ``readable`` datasets."""
    if sub.query:
        own = sandbox or Sandbox(catalog.workspace, QUERY_LIMITS)
        try:
            table = own.query(pin(sub.query, version), readable)
        finally:
            if sandbox is None:
                own.close()
        return Content(_split_table(table, sub), {"total": table.num_rows})
    if sub.mode == "delta":
        table = delta(catalog, version, since)
        counts = {op: 0 for op in ("insert", "update", "delete")}
        for op in table.column("_op").to_pylist():
            counts[op] += 1
        return Content(
            _split_table(table, sub),
            {"total": table.num_rows, **counts},
            since.ref if since else None,
        )
    plain = whole_file(catalog, version)
    if plain is not None and sub.format == "parquet" and not sub.gzip and not sub.split_rows:
        # the version is one plain Parquet file: its bytes are delivered as they are
        return Content([Part(_name(sub, 0), version.rows, file_chunks(plain, 8 << 20))],
                       {"total": version.rows})  # fmt: skip
    cursor = catalog.cursor()
    reader = cursor.execute(f"SELECT * FROM {catalog.source_sql(version)}").fetch_record_batch(
        BATCH_ROWS
    )
    return Content(_split(reader, sub, version.rows), {"total": version.rows})


def pin(sql: str, version: Version) -> str:
    """``sql`` with the version's dataset named bare read at exactly that version."""
    stage, name = version.dataset.split(".", 1)
    pattern = re.compile(rf"\b{stage}\.{name}\b(?!@)")
    return pattern.sub(f"{version.dataset}@{version.number}", sql)


def delta(catalog: Catalog, version: Version, since: Version | None) -> pa.Table:
    """The rows inserted, updated and deleted from ``since`` to ``version`` by the dataset key,
    each with an ``_op`` column; every row is an insert when there is no ``since``."""
    cursor = catalog.cursor()
    if since is None:
        sql = f"SELECT *, 'insert' AS _op FROM {catalog.table_sql(version)}"
        return cursor.execute(sql).fetch_arrow_table()
    diff = catalog.diff(since.ref, version.ref)
    keys = ", ".join(f'"{k}"' for k in diff.key)
    changed = diff.changed.select(list(diff.key)) if diff.changed.num_rows else None
    cursor.register("delta_added", diff.added)
    cursor.register("delta_removed", diff.removed)
    parts = [
        "SELECT *, 'insert' AS _op FROM delta_added",
        "SELECT *, 'delete' AS _op FROM delta_removed",
    ]
    if changed is not None:
        cursor.register("delta_changed", changed)
        parts.insert(
            1,
            f"SELECT *, 'update' AS _op FROM {catalog.table_sql(version)} "
            f"WHERE ({keys}) IN (SELECT DISTINCT {keys} FROM delta_changed)",
        )
    return cursor.execute(" UNION ALL BY NAME ".join(parts)).fetch_arrow_table()


def manifest(
    sub: Subscription,
    version: Version,
    made: Content,
    files: list[FileEntry],
    delivery_id: str,
) -> bytes:
    """The ``_manifest.json`` of a delivery: written last, so its presence means complete."""
    body = {
        "delivery": delivery_id,
        "subscription": sub.name,
        "dataset": version.dataset,
        "version": version.number,
        "ref": version.ref,
        "content_hash": version.content_hash,
        "mode": sub.mode,
        "since": made.since,
        "query": sub.query,
        "format": sub.format,
        "gzip": sub.gzip,
        "rows": made.rows,
        "files": [asdict(f) for f in files],
        "delivered_at": datetime.now(UTC).isoformat(),
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def same_delivery(found: bytes | None, delivery_id: str, version: Version) -> bool:
    """Whether ``found`` (a target's manifest, if any) records this delivery of this content."""
    if found is None:
        return False
    try:
        existing = json.loads(found)
    except ValueError:
        return False
    return (
        isinstance(existing, dict)
        and existing.get("delivery") == delivery_id
        and existing.get("content_hash") == version.content_hash
    )


def _name(sub: Subscription, index: int) -> str:
    return f"part-{index:05d}{_SUFFIX[sub.format]}" + (".gz" if sub.gzip else "")


def _split_table(table: pa.Table, sub: Subscription) -> list[Part]:
    return _split(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(BATCH_ROWS)),
                  sub, table.num_rows)  # fmt: skip


def _split(reader: pa.RecordBatchReader, sub: Subscription, total: int) -> list[Part]:
    """Parts of at most ``sub.split_rows`` rows each (one part when not split)."""
    every = sub.split_rows or max(total, 1)
    count = max(1, -(-total // every))
    batches = _rebatch(reader, every)
    parts = []
    for index in range(count):
        rows = min(every, total - index * every)
        parts.append(Part(_name(sub, index), rows, _lazy(batches, reader.schema, sub)))
    return parts


def _rebatch(reader: pa.RecordBatchReader, every: int) -> Iterator[list[pa.RecordBatch]]:
    """The reader's batches grouped (and cut) into groups of ``every`` rows, in order."""
    group: list[pa.RecordBatch] = []
    held = 0
    for batch in reader:
        while batch.num_rows:
            take = min(every - held, batch.num_rows)
            group.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == every:
                yield group
                group, held = [], 0
    if group:
        yield group


def _lazy(
    groups: Iterator[list[pa.RecordBatch]], schema: pa.Schema, sub: Subscription
) -> Iterator[bytes]:
    """The next group's file, encoded when the target reads it (parts are read in order)."""
    group = next(groups, [])
    reader = pa.RecordBatchReader.from_batches(schema, iter(group))
    yield from encode(reader, sub.format, sub.gzip)
