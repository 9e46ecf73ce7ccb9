"""The command line: every catalog command, JSON listings, and one-sentence errors with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalog import Catalog
from core.workspace import Workspace


def harvest(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as a person would."""
    return subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def home(workspace: Workspace, tmp_path: Path) -> Path:
    csv = tmp_path / "shop.csv"
    csv.write_text("sku;price\na;1,50\nb;2,00\n")
    result = harvest(
        workspace.home,
        "import",
        str(csv),
        "--name",
        "shop",
        "--key",
        "sku",
        "--tags",
        "retail,demo",
    )
    assert result.returncode == 0, result.stderr
    assert "Committed imports.shop@1: 2 rows" in result.stdout
    assert "Read decimal commas in: price." in result.stdout
    csv.write_text("sku;price\na;1,50\nb;2,50\nc;3,00\n")
    assert harvest(workspace.home, "import", str(csv), "--name", "shop").returncode == 0
    return workspace.home


def test_list_show_and_versions_as_json(home: Path) -> None:
    listed = json.loads(harvest(home, "catalog", "list", "--json").stdout)
    assert [(d["name"], d["versions"], d["latest"]["rows"]) for d in listed] == [
        ("imports.shop", 2, 3)
    ]
    assert listed[0]["listing"]["tags"] == ["retail", "demo"]
    shown = json.loads(harvest(home, "catalog", "show", "imports.shop", "--json").stdout)
    assert shown["key"] == ["sku"] and {s["name"] for s in shown["stats"]} == {"sku", "price"}
    versions = json.loads(harvest(home, "catalog", "versions", "shop", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    table = harvest(home, "catalog", "list")
    assert table.returncode == 0 and "imports.shop" in table.stdout


def test_diff_shows_added_and_changed_rows(home: Path) -> None:
    result = json.loads(
        harvest(home, "catalog", "diff", "imports.shop@1", "imports.shop@2", "--json").stdout
    )
    assert result["counts"] == {"added": 1, "removed": 0, "changed": 1}
    assert result["changed"] == [{"sku": "b", "column": "price", "before": "2.0", "after": "2.5"}]
    text = harvest(home, "catalog", "diff", "imports.shop@1", "imports.shop@2").stdout
    assert "1 added, 0 removed, 1 value(s) changed" in text


def test_export_and_sql(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "shop.csv"
    result = harvest(home, "catalog", "export", "imports.shop@1", str(out))
    assert result.returncode == 0 and out.read_text().splitlines() == [
        "sku,price",
        "a,1.5",
        "b,2.0",
    ]
    answer = harvest(home, "sql", "SELECT sum(price) AS total FROM imports.shop@2", "--json")
    assert json.loads(answer.stdout) == [{"total": 7.0}]
    assert harvest(
        home, "sql", "SELECT sku FROM imports.shop ORDER BY sku", "--csv"
    ).stdout.split() == ["sku", "a", "b", "c"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sql", "DROP TABLE lake.imports.shop"), "DROP statements are not allowed"),
        (
            ("sql", "EXPLAIN ANALYZE COPY (SELECT 1 AS sku) TO '/tmp/x.parquet'"),
            "EXPLAIN ANALYZE runs the statement",
        ),
        (("sql", "SELECT * FROM sqlite_scan('catalog.sqlite', 'x')"), "outside the catalog"),
        (("catalog", "show", "raw.nothing"), "There is no dataset 'raw.nothing'"),
        (("catalog", "versions", "Bad Name!"), "is not a dataset name"),
        (("catalog", "export", "imports.shop@7", "/tmp/x.csv"), "has no version 7"),
        (("import", "/no/such/file.csv", "--name", "x"), "There is no file"),
        (("import", __file__, "--name", "x"), "unknown file type"),
        (("import", __file__, "--name", "Bad-Name"), "cannot name a dataset"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_1(
    home: Path, args: tuple[str, ...], message: str
) -> None:
    result = harvest(home, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_verify_reports_each_version_and_fails_on_an_altered_one(
    home: Path, tmp_path: Path
) -> None:
    result = harvest(home, "catalog", "verify")
    assert result.returncode == 0, result.stderr
    assert "2 intact, 0 altered, 0 missing, 0 unverified" in result.stdout
    with Catalog.open(home) as catalog:
        first = Path(catalog.data_files("imports.shop@1")[0].path)
    first.write_bytes(first.read_bytes()[:-8] + b"tampered")

    as_json = harvest(home, "catalog", "verify", "shop", "--json")
    assert as_json.returncode == 1
    checks = json.loads(as_json.stdout)
    assert [(c["version"], c["status"]) for c in checks] == [
        ("imports.shop@1", "altered"),
        ("imports.shop@2", "intact"),
    ]
    assert checks[0]["files"] == [f"imports/shop/{first.name}"]
    sentence = (
        f"imports.shop@1 has been altered since it was committed: its file "
        f"imports/shop/{first.name} differs; restore it from a backup or commit it again."
    )
    for args in (
        ("catalog", "verify"),
        ("catalog", "diff", "imports.shop@1", "imports.shop@2"),
        ("catalog", "export", "imports.shop@1", str(tmp_path / "out.csv")),
    ):
        result = harvest(home, *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert sentence in " ".join(result.stderr.split())


@pytest.mark.parametrize("name", ["raw.products", "predictions.x"])
def test_import_into_another_stage_is_one_sentence_and_exit_1(
    workspace: Workspace, tmp_path: Path, name: str
) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("x\n1\n")
    result = harvest(workspace.home, "import", str(csv), "--name", name)
    assert result.returncode == 1
    assert f"'{name}' is not a name an import may take: imports go to imports.NAME" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    listing = harvest(workspace.home, "catalog", "list", "--json")
    assert json.loads(listing.stdout) == []


def test_drift_as_json_and_as_a_table(home: Path) -> None:
    result = harvest(home, "catalog", "drift", "imports.shop@1", "imports.shop@2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["before"], report["after"]) == ("imports.shop@1", "imports.shop@2")
    price = report["columns"]["price"]
    assert price["kind"] == "number"
    assert price["ks"] == pytest.approx(2 / 3)  # at 2.0: all of [1.5, 2.0], 1/3 of [1.5, 2.5, 3.0]
    assert price["missing_change"] == 0.0 and price["psi"] > 0
    assert "sku" not in report["columns"]  # the key: new products, not drift
    table = harvest(home, "catalog", "drift", "shop@1", "shop@2", "--threshold", "0.01")
    assert table.returncode == 0, table.stderr
    assert "drifts from imports.shop@1 beyond 0.01" in table.stdout
    assert "price" in table.stdout and "ks 0.667" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("imports.shop@1", "imports.shop@9"), "has no version 9"),
        (("imports.nope@1", "imports.shop@2"), "There is no dataset"),
        (("shop@1", "not a name"), "is not a dataset name"),
    ],
)
def test_drift_of_a_bad_name_or_version_is_one_sentence(
    home: Path, args: tuple[str, str], message: str
) -> None:
    result = harvest(home, "catalog", "drift", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
