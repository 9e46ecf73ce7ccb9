"""Exporting versions to Parquet, CSV and JSON Lines."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import Catalog
from catalog.export import export, stream
from core.errors import InvalidInputError


def test_each_format_writes_the_exact_version(catalog: Catalog, tmp_path: Path) -> None:
    catalog.commit("raw.t", pa.table({"x": [1, 2], "s": ["a", "b"]}), producer="t")
    catalog.commit("raw.t", pa.table({"x": [3], "s": ["c"]}), producer="t")
    path, count = export(catalog, "raw.t@1", tmp_path / "v1.parquet")
    assert count == 2 and pq.read_table(path).to_pylist() == [
        {"x": 1, "s": "a"},
        {"x": 2, "s": "b"},
    ]
    path, _ = export(catalog, "raw.t@1", tmp_path / "v1.csv")
    assert path.read_text().splitlines() == ["x,s", "1,a", "2,b"]
    path, _ = export(catalog, "raw.t", tmp_path / "latest.jsonl")
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"x": 3, "s": "c"}]
    assert not list(tmp_path.glob(".*partial"))


def test_unknown_format_and_missing_folder_are_refused(catalog: Catalog, tmp_path: Path) -> None:
    catalog.commit("raw.t", pa.table({"x": [1]}), producer="t")
    with pytest.raises(InvalidInputError, match="which format"):
        export(catalog, "raw.t", tmp_path / "out.xml")
    with pytest.raises(InvalidInputError, match="does not exist"):
        export(catalog, "raw.t", tmp_path / "no" / "out.csv")


def test_a_stream_comes_a_batch_at_a_time_in_every_format(catalog: Catalog) -> None:
    rows = 5000
    values = [float("nan") if i == 7 else i / 2 for i in range(rows)]
    catalog.commit(
        "raw.big",
        pa.table({"id": list(range(rows)), "v": values, "b": [b"\x00\xff"] * rows}),
        producer="t",
    )
    parquet = list(stream(catalog, "raw.big@1", "parquet", gzip=True, batch_rows=1000))
    csv_chunks = list(stream(catalog, "raw.big@1", "csv", batch_rows=1000))
    assert len([c for c in csv_chunks if c]) > 2  # written as it goes, not at the end
    table = pq.read_table(io.BytesIO(gzip.decompress(b"".join(parquet))))
    assert table.column("id").to_pylist() == list(range(rows))
    csv_text = b"".join(stream(catalog, "raw.big@1", "csv", batch_rows=1000)).decode()
    assert csv_text.splitlines()[0] == '"id","v","b"' and len(csv_text.splitlines()) == rows + 1
    packed = b"".join(stream(catalog, "raw.big@1", "jsonl", gzip=True, batch_rows=1000))
    lines = [json.loads(line) for line in gzip.decompress(packed).decode().splitlines()]
    assert len(lines) == rows and lines[7]["v"] is None and lines[8]["v"] == 4.0
    assert lines[0]["b"] == "AP8="  # bytes as base64
    with pytest.raises(InvalidInputError, match="not a format"):
        stream(catalog, "raw.big@1", "xml")


def test_a_stream_of_no_rows_is_a_header_or_an_empty_file(catalog: Catalog) -> None:
    catalog.commit(
        "raw.none",
        pa.table({"x": pa.array([], pa.int64()), "l": pa.array([], pa.list_(pa.int64()))}),
        producer="t",
    )
    assert b"".join(stream(catalog, "raw.none", "csv")).decode().splitlines() == ['"x","l"']
    assert b"".join(stream(catalog, "raw.none", "jsonl")) == b""
    assert pq.read_table(io.BytesIO(b"".join(stream(catalog, "raw.none", "parquet")))).num_rows == 0


def test_a_version_that_is_one_plain_file_streams_as_that_file(catalog: Catalog) -> None:
    catalog.commit("raw.one", pa.table({"id": list(range(100)), "v": ["x"] * 100}), producer="t")
    (only,) = catalog.data_files("raw.one@1")
    sent = b"".join(stream(catalog, "raw.one@1", "parquet"))
    assert sent == Path(only.path).read_bytes()
    assert pq.read_table(io.BytesIO(sent)).column("id").to_pylist() == list(range(100))
