"""Two hosts, one team: two workspaces with no local folder in common (two ``HARVEST_HOME``s on
loopback), sharing the catalog on PostgreSQL and the data and files on S3. What one host
writes, the other reads: datasets (versions, diffs, SQL) and models (cards, plots, artifacts)."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from catalog import Catalog
from catalog.sandbox import Sandbox
from core import services
from core.objects import file_store
from core.workspace import Workspace
from tests.team.conftest import harvest

pytestmark = pytest.mark.team

IRIS = Path(__file__).resolve().parents[2] / "catalog" / "samples" / "iris.csv"


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _changed_iris(target: Path) -> Path:
    """iris with row 1 changed, row 2 removed and row 151 added."""
    with IRIS.open(newline="") as source:
        rows = list(csv.DictReader(source))
    rows[0]["sepal_length_cm"] = "9.9"
    del rows[1]
    rows.append({**rows[-1], "id": "151"})
    with target.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def _ok(home: Path, *args: str) -> str:
    done = harvest(home, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_what_host_a_writes_host_b_reads_diffs_queries_and_predicts_with(
    workspace: Workspace, tmp_path: Path, services_home: Path
) -> None:
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    _ok(host_a, "import", str(IRIS), "--name", "iris", "--key", "id")
    _ok(
        host_a,
        "import",
        str(_changed_iris(tmp_path / "iris2.csv")),
        "--name",
        "iris",
        "--key",
        "id",
    )

    on_b = Workspace.at(host_b).ensure()  # the same settings, another home
    with Catalog.open(on_b) as catalog:
        assert [v.rows for v in catalog.versions("imports.iris")] == [150, 150]
        diff = catalog.diff("imports.iris@1", "imports.iris@2")
        assert (diff.added.column("id").to_pylist(), diff.removed.column("id").to_pylist()) == (
            [151],
            [2],
        )
        assert diff.changed.num_rows == 1
    sandbox = Sandbox(on_b)
    try:
        query = "SELECT max(sepal_length_cm) AS top, count(*) AS n FROM imports.iris"
        assert sandbox.query(query).to_pylist() == [{"top": 9.9, "n": 150}]
    finally:
        sandbox.close()

    trained = _ok(
        host_a, "train", "--dataset", "imports.iris@1", "--target", "species",
        "--families", "tree", "--trials", "0", "--time-budget", "3", "--name", "irises",
        "--json",
    )  # fmt: skip
    assert json.loads(trained)["model"] == "irises@1"
    written = _digests(host_a / "models" / "irises" / "1")
    assert {"card.json", "MODEL_CARD.md", "model.skops"} <= set(written)
    assert any(name.startswith("plots/") for name in written)
    shutil.rmtree(host_a)  # host A is gone: only the catalog and S3 remain

    record = {
        "id": 7, "sepal_length_cm": 5.0, "sepal_width_cm": 3.4,
        "petal_length_cm": 1.5, "petal_width_cm": 0.2,
    }  # fmt: skip
    predicted = json.loads(_ok(host_b, "predict", "irises@1", "--record", json.dumps(record)))
    assert "setosa" in json.dumps(predicted)
    assert _digests(host_b / "models" / "irises" / "1") == written  # every file, byte for byte

    # The files are beside the data path on S3, never inside it (vacuum would delete them there).
    s3 = services.running(services_home).s3
    assert s3 is not None
    store = file_store(workspace)
    assert store.where("models/irises/1.json").startswith(
        workspace.data_path.rstrip("/") + "-files/"
    )
    assert store.exists("models/irises/1.json")
