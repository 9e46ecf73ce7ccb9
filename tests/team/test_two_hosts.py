"""Two hosts, one team: two workspaces with no local folder in common (two ``HARVEST_HOME``s on
loopback), sharing the catalog on PostgreSQL and the data and files on S3. What one host
writes, the other reads: datasets (versions, diffs, SQL) and models (cards, plots, artifacts)."""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from catalog import Catalog
from catalog.sandbox import Sandbox
from core import services
from core.objects import file_store
from core.workspace import Workspace
from demo_site import DemoSite
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

    # Host B's copy is pruned once unused for a while, and fetched again when next needed.
    an_hour_ago = time.time() - 3600
    os.utime(host_b / "models" / "irises" / "1", (an_hour_ago, an_hour_ago))
    assert _ok(host_b, "cache", "prune").startswith("Removed 1 copies")
    assert not (host_b / "models" / "irises" / "1").exists()
    again = json.loads(_ok(host_b, "predict", "irises@1", "--record", json.dumps(record)))
    assert again == predicted and _digests(host_b / "models" / "irises" / "1") == written

    # The files are beside the data path on S3, never inside it (vacuum would delete them there).
    s3 = services.running(services_home).s3
    assert s3 is not None
    store = file_store(workspace)
    assert store.where("models/irises/1.json").startswith(
        workspace.data_path.rstrip("/") + "-files/"
    )
    assert store.exists("models/irises/1.json")


def _register_three(home: str, start: float) -> list[int]:
    """On the host whose home is ``home``: register three versions of model ``m``, from ``start``."""
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from training.registry import Registration, Registry, save_pipeline

    numbers = []
    with Catalog.open(home) as catalog:
        registry = Registry(catalog)
        time.sleep(max(0.0, start - time.time()))  # both hosts begin at the same moment
        for _ in range(3):
            staging = registry.staging("m")
            save_pipeline(Pipeline([("model", DummyClassifier())]).fit([[0], [1]], [0, 1]), staging)
            entry = Registration(
                task="classification", target="y", family="dummy", metric="accuracy",
                score=0.5, baseline=0.5, dataset="imports.x@1", content_hash="abc",
                gates_passed=True, run_id=home,
            )  # fmt: skip
            card = lambda n, folder: (folder / "card.json").write_text(json.dumps({"by": home}))  # noqa: E731
            numbers.append(registry.register("m", staging, entry, card).version)
    return numbers


def test_two_hosts_registering_one_model_at_once_never_take_the_same_number(
    workspace: Workspace, tmp_path: Path
) -> None:
    from training.registry import Registry

    with Catalog.open(workspace) as catalog:
        Registry(catalog)  # the registry's tables, made once before the hosts start
    homes = [str(tmp_path / "host-a"), str(tmp_path / "host-b")]
    start = time.time() + 8  # after both processes have started and opened the catalog
    with concurrent.futures.ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        taken = list(pool.map(_register_three, homes, [start, start]))
    assert sorted(taken[0] + taken[1]) == [1, 2, 3, 4, 5, 6]
    with Catalog.open(workspace) as catalog:
        registry = Registry(catalog)
        versions = registry.versions("m")
        assert sorted(v.version for v in versions) == [1, 2, 3, 4, 5, 6]
        for home, numbers in zip(homes, taken, strict=True):
            for number in numbers:  # each number's files are the host's that took it
                assert {v.run_id for v in versions if v.version == number} == {home}
                fetched = registry.fetched(registry.get(f"m@{number}"))
                assert json.loads((Path(fetched.path) / "card.json").read_text()) == {"by": home}


def _shop_spec(folder: Path, base_url: str, delay: float) -> Path:
    """One category of the demo shop: listings, pagination and products (about 65 pages)."""
    spec = {
        "name": "shop",
        "base_url": base_url,
        "start_urls": ["/shop/garden/"],
        "follow": [{"css": "nav.pagination"}, {"css": ".listing .product-grid a.product-link"}],
        "item": {"fields": {"title": "h1"}},
        "key": ["_url"],
        "cache": False,
        "politeness": {"delay": delay, "concurrency": 4},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shop.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_crawl_with_one_worker_on_each_host_lands_every_page_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    with DemoSite() as site:
        # A: the coordinator and one worker, a page every 0.15 s across both hosts; B joins.
        spec = _shop_spec(host_a, site.url, 0.15)
        _shop_spec(host_b / "sources", site.url, 0.15)
        coordinator = subprocess.Popen(
            [sys.executable, "-m", "harvest", "--home", str(host_a), "scrape", "--spec",
             str(spec), "--shared", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert coordinator.stderr is not None
            announced = coordinator.stderr.readline()
            run_id = announced.split("--run ")[1].strip()
            joined = harvest(host_b, "scrape-worker", "shop", "--run", run_id)
            out, err = coordinator.communicate(timeout=240)
        finally:
            if coordinator.poll() is None:
                coordinator.kill()
                coordinator.wait()
        alone = tmp_path / "alone"  # one ordinary crawl of the same shop finds the same rows
        again = _ok(alone, "scrape", "--spec", str(_shop_spec(alone, site.url, 0)), "--json")
    assert joined.returncode == 0, joined.stderr
    assert coordinator.returncode == 0, err
    pages_b = int(joined.stdout.split("worker done, ")[1].split()[0])
    assert pages_b > 0  # B crawled part of the shop, and its part reached A through S3 only
    run = json.loads(out)
    assert run["status"] == "committed" and run["pages"] > pages_b
    with Catalog.open(workspace) as catalog:
        urls = catalog.read("raw.shop").column("_url").to_pylist()
    assert len(urls) == len(set(urls)) > 40  # none doubled
    assert json.loads(again)["status"] == "unchanged"  # and none missing
    assert not (host_b / "landing").exists() or not any((host_b / "landing").iterdir())
    assert file_store(workspace).keys(f"crawl-parts/{run_id}/") == []  # the parts were removed
