"""Exporting versions to Parquet, CSV and JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import Catalog
from catalog.export import export
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
