"""``harvest demo`` end to end: two days through Dagster, a summary, runs in the instance."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from catalog import Catalog
from core.workspace import Workspace
from training.registry import Registry


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(1200)
def test_demo_runs_the_graph_twice_and_summarises_it(workspace: Workspace) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harvest",
            "--home",
            str(workspace.home),
            "demo",
            "--max-pages",
            "80",
            "--browser-pages",
            "6",
            "--time-budget",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=1100,
    )
    out = done.stdout
    assert "Day 1: running the whole graph through Dagster" in out
    assert "Day 2: running the whole graph through Dagster" in out
    assert "✓ raw_products: raw.products@1" in out
    assert "✓ raw_products: raw.products@2" in out, "prices move on day 2"
    for heading in ("Datasets", "Models"):
        assert heading in out
    home = str(workspace.home)
    assert f"harvest --home {home} dashboard" in out
    assert f"harvest --home {home} dagster" in out
    served = [line for line in out.splitlines() if "/invocations →" in line]
    assert len(served) == 1 and " predicted " in served[0], "the champion answered over HTTP"

    for version in (1, 2):  # day 2's new version reached the folder and the webhook too
        for subscription in ("products-to-folder", "products-webhook"):
            assert f"Delivered clean.products@{version} to {subscription}: delivered" in out
        manifest = workspace.home / f"deliveries/products/clean.products/v{version}/_manifest.json"
        assert json.loads(manifest.read_text())["version"] == version
    assert "The loopback webhook verified 2 signed events" in out
    drift = [line for line in out.splitlines() if line.startswith("clean.products: ")]
    assert len(drift) == 1 and "clean.products@1 beyond 0.2" in drift[0], "one drift report"

    failures = [line for line in out.splitlines() if "✗" in line]
    assert done.returncode == 0, "\n".join(failures) + "\n" + out[-3000:] + done.stderr
    assert not failures, "no step failed"
    assert "emitted no result" not in done.stderr, "skipped checks are not reported as faults"

    with Catalog.open(workspace) as catalog:
        models = {v.model for v in Registry(catalog).versions()}
        assert models == {
            "products-category",
            "products-price",
            "products-image",
            "articles-section",
            "articles-lm",
            "products-repricing",
        }
        names = {d.name for d in catalog.datasets()}
        assert {"raw.products", "clean.products", "raw.tables", "clean.tables"} <= names
        assert len(catalog.versions("raw.products")) == 2
        assert len(catalog.versions("raw.tables")) == 1, "the tables page does not move"

    with DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        assert {run.tags["harvest/demo_day"] for run in runs} == {"1", "2"}
        assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
