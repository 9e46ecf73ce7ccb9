"""Export a dataset version to Parquet, CSV or JSON Lines: to a file, atomically (a temp file,
then a rename), or as a stream of chunks for a download."""

from __future__ import annotations

import base64
import json
import math
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from catalog.engine import first_line, quote_literal
from catalog.records import Version
from catalog.store import Catalog
from core.errors import HarvestError, InvalidInputError

FORMATS = {
    "parquet": "(FORMAT parquet)",
    "csv": "(FORMAT csv, HEADER true)",
    "jsonl": "(FORMAT json)",
}
_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def format_for(path: Path, fmt: str | None) -> str:
    """The export format named, or the one the file's suffix implies."""
    chosen = (fmt or _SUFFIXES.get(path.suffix.lower(), "")).lower()
    if chosen not in FORMATS:
        raise InvalidInputError(
            f"Cannot tell which format to write '{path.name}' in: use a .parquet, .csv or .jsonl name, or --format."
        )
    return chosen


def export(
    catalog: Catalog, ref: str, path: str | Path, fmt: str | None = None
) -> tuple[Path, int]:
    """Write version ``ref`` to ``path``; return the path and the number of rows written.

    The version's files are checked against what its commit recorded first.
    """
    target = Path(path)
    chosen = format_for(target, fmt)
    if not target.parent.is_dir():
        raise InvalidInputError(f"The folder '{target.parent}' does not exist.")
    version = catalog.ensure_intact(ref)  # never export rows that are not the committed ones
    source = catalog.table_sql(version)
    partial = target.with_name(f".{target.name}.partial")
    try:
        catalog.cursor().execute(
            f"COPY (SELECT * FROM {source}) TO {quote_literal(str(partial))} {FORMATS[chosen]}"
        )
        os.replace(partial, target)
    except duckdb.Error as error:
        partial.unlink(missing_ok=True)
        raise HarvestError(f"Could not export {ref} to '{target}': {first_line(error)}") from error
    return target, version.rows


class _Sink:
    """A file-like target that hands what was written to it out in chunks (pyarrow's writers
    need ``tell`` to be the total written, so the buffer is drained, never rewound)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        chunk = b"".join(self.parts)
        self.parts.clear()
        return chunk


def json_value(value: object) -> object:
    """``value`` as JSON can hold it: a non-finite number as null, bytes as base64."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with what CSV cannot hold as text: bytes as base64, nested values as JSON."""
    columns = []
    for column in batch.columns:
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            column = pa.array([json_value(v) for v in column.to_pylist()], pa.string())
        elif pa.types.is_nested(kind):
            column = pa.array(
                [
                    None if v is None else json.dumps(json_value(v), default=str)
                    for v in column.to_pylist()
                ],
                pa.string(),
            )
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _encode(batches: pa.RecordBatchReader, fmt: str) -> Iterator[bytes]:
    """The bytes of ``batches`` in ``fmt``, a chunk per batch."""
    if fmt == "jsonl":
        for batch in batches:
            rows = (
                json.dumps({k: json_value(v) for k, v in row.items()}, default=str)
                for row in batch.to_pylist()
            )
            yield "".join(f"{row}\n" for row in rows).encode()
        return
    sink = _Sink()
    target = pa.PythonFile(sink, mode="w")
    if fmt == "parquet":
        with pq.ParquetWriter(target, batches.schema) as parquet:
            for batch in batches:
                parquet.write_batch(batch)
                yield sink.take()
    else:
        writer: pacsv.CSVWriter | None = None
        for batch in map(_csv_ready, batches):
            writer = writer or pacsv.CSVWriter(target, batch.schema)
            writer.write_batch(batch)
            yield sink.take()
        if writer is None:  # no rows: the header alone
            empty = pa.RecordBatch.from_pylist([], schema=batches.schema)
            writer = pacsv.CSVWriter(target, _csv_ready(empty).schema)
        writer.close()
    yield sink.take()


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    yield packer.flush()


def encode(batches: pa.RecordBatchReader, fmt: str, gzip: bool = False) -> Iterator[bytes]:
    """The bytes of ``batches`` as a file in ``fmt`` (gzipped if asked), a batch at a time."""
    encoded = _encode(batches, fmt)
    return _gzip(encoded) if gzip else encoded


def stream(
    catalog: Catalog, ref: str | Version, fmt: str, gzip: bool = False, batch_rows: int = 65_536
) -> Iterator[bytes]:
    """Version ``ref`` as Parquet, CSV or JSON Lines (gzipped if asked), a batch of rows at a
    time: the whole file is never in memory. The version's files are checked first, before
    the first byte, so a damaged version is an error, not a truncated download."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"'{fmt}' is not a format: use one of {', '.join(FORMATS)}.")
    version = catalog.ensure_intact(ref)
    if fmt == "parquet" and not gzip:
        whole = whole_file(catalog, version)
        if whole is not None:  # the version is one plain file: send its bytes as they are
            return file_chunks(whole)
    cursor = catalog.cursor()
    batches = cursor.execute(f"SELECT * FROM {catalog.source_sql(version)}").fetch_record_batch(
        batch_rows
    )

    def chunks() -> Iterator[bytes]:
        try:
            yield from encode(batches, fmt, gzip)
        finally:
            cursor.close()

    return chunks()


def whole_file(catalog: Catalog, version: Version) -> Path | None:
    """The one Parquet file that holds exactly ``version``'s rows and columns, if there is one."""
    files = catalog.plain_files(version)
    return Path(files[0]) if len(files) == 1 else None


def file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk
