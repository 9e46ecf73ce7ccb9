"""Tamper evidence: a version's files against the sizes and checksums its commit recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.export import export
from catalog.integrity import IntegrityError
from catalog.records import CommittedFile
from training.data import prepare
from training.spec import TrainingSpec

ALTERED = (
    r"imports\.alpha@1 has been altered since it was committed: its file "
    r"imports/alpha/ducklake-[0-9a-f-]+\.parquet differs; restore it from a backup or commit it again\."
)


def alpha(rows: dict[int, str]) -> pa.Table:
    return pa.table({"id": list(rows), "v": list(rows.values())})


@pytest.fixture
def committed(catalog: Catalog) -> Catalog:
    """imports.alpha at versions 1 and 2, and raw.other at version 1."""
    catalog.commit("imports.alpha", alpha({1: "a", 2: "b", 3: "c"}), producer="t", key=("id",))
    catalog.commit("imports.alpha", alpha({1: "a", 2: "x", 4: "d"}), producer="t", key=("id",))
    catalog.commit("raw.other", pa.table({"n": [1.5]}), producer="t")
    return catalog


def overwrite(path: str) -> None:
    """What the probe did through the SQL console: rewrite a version's Parquet file."""
    duckdb.execute(
        f"COPY (SELECT 9 AS id, 'attacker' AS v FROM range(10)) TO '{path}' (FORMAT parquet)"
    )


def test_a_commit_records_each_data_file_with_its_size_and_checksum(committed: Catalog) -> None:
    listed = committed.data_files("imports.alpha@1")
    assert len(listed) == 1 and listed[0].delete_file is None and not listed[0].encrypted
    path = Path(listed[0].path)
    assert path.is_file() and path.stat().st_size == listed[0].size
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    relative = str(path.relative_to(committed.workspace.data_path))
    assert committed.committed_files("imports.alpha@1") == [
        CommittedFile(relative, listed[0].size, f"sha256:{digest}")
    ]
    assert committed.data_files("imports.alpha@2")[0].path != str(path)  # a file per version
    assert [(c.ref, c.status) for c in committed.verify()] == [
        ("imports.alpha@1", "intact"),
        ("imports.alpha@2", "intact"),
        ("raw.other@1", "intact"),
    ]


def test_an_overwritten_file_is_altered_and_a_deleted_one_missing(committed: Catalog) -> None:
    first = committed.data_files("imports.alpha@1")[0].path
    overwrite(first)
    other = committed.data_files("raw.other@1")[0].path
    Path(other).unlink()
    checks = {c.ref: c for c in committed.verify()}
    assert {ref: c.status for ref, c in checks.items()} == {
        "imports.alpha@1": "altered",
        "imports.alpha@2": "intact",
        "raw.other@1": "missing",
    }
    assert checks["imports.alpha@1"].files == (
        str(Path(first).relative_to(committed.workspace.data_path)),
    )
    assert checks["raw.other@1"].sentence.startswith("raw.other@1 is incomplete: its file raw/")
    assert [c.status for c in committed.verify("imports.alpha")] == ["altered", "intact"]


def test_a_file_of_the_same_size_with_other_bytes_is_altered(committed: Catalog) -> None:
    path = Path(committed.data_files("imports.alpha@2")[0].path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert committed.check("imports.alpha@2").status == "altered"


def test_versions_committed_before_checksums_are_unverified_not_failed(
    committed: Catalog,
) -> None:
    workspace = committed.workspace
    committed.transaction(lambda c: c.execute("ALTER TABLE lake.harvest.versions DROP files"))
    committed.close()  # a catalog made before checksums were recorded, opened again
    with Catalog.open(workspace) as catalog:
        catalog.commit("imports.alpha", alpha({5: "e"}), producer="t")
        assert [(c.ref, c.status, c.failed) for c in catalog.verify("imports.alpha")] == [
            ("imports.alpha@1", "unverified", False),
            ("imports.alpha@2", "unverified", False),
            ("imports.alpha@3", "intact", False),
        ]
        assert catalog.committed_files("imports.alpha@1") is None
        assert catalog.ensure_intact("imports.alpha@1").number == 1
        assert "cannot be verified" in catalog.check("imports.alpha@1").sentence


def test_an_empty_version_and_a_filename_column_are_recorded(catalog: Catalog) -> None:
    catalog.commit("imports.empty", pa.table({"v": pa.array([], pa.string())}), producer="t")
    assert catalog.committed_files("imports.empty@1") == []
    # A column called filename hides DuckDB's virtual column of that name.
    catalog.commit("imports.files", pa.table({"FileName": ["/etc/passwd"]}), producer="t")
    catalog.commit("imports.files", pa.table({"FileName": ["x.csv", "y"]}), producer="t")
    for ref in ("imports.files@1", "imports.files@2"):
        recorded = catalog.committed_files(ref)
        assert recorded is not None and len(recorded) == 1
        assert recorded[0].path.startswith("imports/files/ducklake-")
    assert {c.status for c in catalog.verify()} == {"intact"}


def test_a_version_written_as_several_files_records_each(catalog: Catalog) -> None:
    for option, value in (("target_file_size", "64KB"), ("parquet_row_group_size", "10000")):
        catalog.cursor().execute(f"CALL lake.set_option('{option}', '{value}')")
    rows = pa.table({"id": range(100_000), "v": [f"row {i}" for i in range(100_000)]})
    catalog.commit("imports.large", rows, producer="t")
    listed = sorted(f.path for f in catalog.data_files("imports.large@1"))
    recorded = catalog.committed_files("imports.large@1") or []
    assert len(listed) > 1
    assert sorted(catalog.workspace.data_path + f.path for f in recorded) == listed
    assert [c.status for c in catalog.verify("imports.large")] == ["intact"]


def test_export_diff_and_training_refuse_an_altered_version_in_one_sentence(
    committed: Catalog, tmp_path: Path
) -> None:
    overwrite(committed.data_files("imports.alpha@1")[0].path)
    with pytest.raises(IntegrityError, match=ALTERED):
        export(committed, "imports.alpha@1", tmp_path / "out.csv")
    assert not list(tmp_path.glob("*out.csv*"))
    with pytest.raises(IntegrityError, match=ALTERED):
        committed.diff("imports.alpha@1", "imports.alpha@2")
    with pytest.raises(IntegrityError, match=ALTERED):
        prepare(TrainingSpec(dataset="imports.alpha@1", target="v", name="m"), committed)
    export(committed, "imports.alpha@2", tmp_path / "ok.csv")  # the intact version still works
