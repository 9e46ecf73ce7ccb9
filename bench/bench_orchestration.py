"""Orchestration benchmarks: what running the graph through Dagster costs.

(a) A small graph (two sources of the demo site, their cleaning, one model) materialised
    through Dagster in-process ÷ the same package functions called in sequence: goal ≤ 1.3,
    with the fixed overhead per asset in seconds.
(b) Loading the definitions of a workspace (what ``dagster dev`` does once): a figure.
(c) ``harvest demo`` wall time on a fresh workspace (what ``make demo`` runs once
    installed): a figure for the README. Set ``HARVEST_BENCH_DEMO=0`` to skip it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from bench.common import Figure, ratio
from catalog import Catalog
from catalog.cleaning import clean
from core.workspace import Workspace
from dagster_project.definitions import build_definitions, default_resources
from dagster_project.resources import ScraperResource
from dagster_project.runner import run_pipeline
from demo_site.server import DemoSite
from demo_site.specs import STORE_TABLES, shop
from scrapers import crawl
from scrapers.sources import find_source
from training.spec import load_spec
from training.train import train

SOURCES = {"storeinfo": STORE_TABLES, "shop": shop(("kitchen", "outdoor", "garden"), max_pages=120)}
SHOP_CLEAN = "columns:\n  shown_price: {required: true}\n"
MODEL = """\
name: shop-price
dataset: clean.shop
target: shown_price
features: [title, category_name]
families: [linear, forest]
time_budget: 30
trials: 3
"""
ASSETS = [
    AssetKey(name) for name in ("raw_storeinfo", "raw_shop", "clean_storeinfo", "clean_shop")
] + [AssetKey("shop_price_model")]


def workspace(root: Path, name: str) -> Workspace:
    ws = Workspace.at(root / name).ensure()
    for source, text in SOURCES.items():
        (ws.sources / f"{source}.yaml").write_text(text, encoding="utf-8")
    (ws.sources / "shop.clean.yaml").write_text(SHOP_CLEAN, encoding="utf-8")
    (ws.home / "training").mkdir()
    (ws.home / "training" / "shop-price.yaml").write_text(MODEL, encoding="utf-8")
    return ws


def direct(ws: Workspace, site_url: str) -> float:
    """The package functions in sequence: crawl, clean, train."""
    start = time.perf_counter()
    for source in SOURCES:
        crawl.scrape(find_source(source, ws).path, ws, base_url=site_url)
    with Catalog.open(ws) as catalog:
        for source in SOURCES:
            clean(catalog, f"raw.{source}")
        train(load_spec(ws.home / "training" / "shop-price.yaml"), catalog)
    return time.perf_counter() - start


def through_dagster(ws: Workspace, site_url: str) -> tuple[float, float]:
    """The same work as one Dagster run; (run seconds, definitions load seconds)."""
    start = time.perf_counter()
    resources = {
        **default_resources(ws),
        "scraper": ScraperResource(home=str(ws.home), base_url=site_url),
    }
    defs = build_definitions(ws, resources)
    loaded = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        outcome = run_pipeline(defs, instance, selection=ASSETS)
    if not outcome.success or len(outcome.materialized) != len(ASSETS):
        raise RuntimeError(f"the benchmark run did not materialise every asset: {outcome}")
    return time.perf_counter() - loaded, loaded - start


def demo_wall_time(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(root / "demo"), "demo"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def run() -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch, DemoSite() as site:
        root = Path(scratch)
        direct_s, dagster_s, load_s = [], [], []
        for attempt in range(2):  # alternate the arms; keep the best of each
            direct_s.append(direct(workspace(root, f"direct{attempt}"), site.url))
            run_s, defs_s = through_dagster(workspace(root, f"dagster{attempt}"), site.url)
            dagster_s.append(run_s)
            load_s.append(defs_s)
        harvest, bare = min(dagster_s), min(direct_s)
        figures.append(
            ratio("graph through Dagster ÷ package calls in sequence", harvest, bare, 1.3)
        )
        figures.append(
            Figure(
                "fixed Dagster overhead per asset",
                (harvest - bare) / len(ASSETS),
                unit="s",
                detail=f"{len(ASSETS)} assets",
            )
        )
        figures.append(Figure("definitions load for a workspace", min(load_s), unit="s"))
        if os.environ.get("HARVEST_BENCH_DEMO", "1") != "0":
            figures.append(
                Figure(
                    "harvest demo wall time (make demo once installed)",
                    demo_wall_time(root),
                    unit="s",
                    goal=180.0,
                    op="<=",
                )
            )
    return figures
