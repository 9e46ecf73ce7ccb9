"""Workspaces for the dashboard tests: an empty one and one populated through the real catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from catalog import Catalog, Listing
from catalog.importer import import_file
from catalog.samples import IRIS, IRIS_LISTING

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"

PRODUCTS = Listing(
    title="Demo shop products",
    description="Products scraped from the demo shop: <b>names</b>, prices and stock. [not a link](http://x)",
    license="CC-BY-4.0",
    tags=("shop", "prices"),
    publisher="Harvest demo",
    source_url="http://127.0.0.1:8000/shop",
    cadence="0 6 * * *",
)


def products(version: int) -> pa.Table:
    skus = [f"sku-{i:03d}" for i in range(40 + 5 * version)]
    return pa.table(
        {
            "sku": skus,
            "name": [f"Product {i}" for i in range(len(skus))],
            "category": [("tools", "garden", "kitchen")[i % 3] for i in range(len(skus))],
            "price": [10.0 + i + version for i in range(len(skus))],
            "in_stock": [i % 4 != 0 for i in range(len(skus))],
        }
    )


def populate(home: Path) -> None:
    """Two raw versions, a clean version with a quality report, and the iris import."""
    with Catalog.open(home) as cat:
        for n in (1, 2):
            cat.commit(
                "raw.products",
                products(n),
                producer=f"scrape:run{n}",
                message=f"crawl {n}",
                key=("sku",),
                listing=PRODUCTS,
            )
        cat.commit(
            "clean.products",
            products(2),
            producer="clean:abc123",
            message="typed and deduplicated",
            parents=("raw.products@2",),
            key=("sku",),
            listing=Listing(
                title="Clean products",
                description="Typed demo products.",
                license="CC-BY-4.0",
                tags=("shop",),
            ),
            quality_score=92.5,
            report={"score": 92.5, "rules": [{"rule": "price > 0", "passed": True, "failures": 0}]},
        )
        import_file(
            cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import:iris.csv"
        )
        train_iris(cat, seed=0)
        train_iris(cat, seed=1, families="tree")


def train_iris(cat: Catalog, seed: int, families: str = "linear") -> None:
    """A tiny real training run: iris species, one family, a few seconds."""
    from training.spec import spec_from_mapping
    from training.train import train

    spec = spec_from_mapping(
        {
            "name": "iris-species",
            "dataset": "imports.iris",
            "target": "species",
            "families": [families],
            "time_budget": 5,
            "trials": 1,
            "seed": seed,
        }
    )
    train(spec, cat)


@pytest.fixture(scope="session")
def populated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("populated")
    populate(home)
    return home


@pytest.fixture
def empty_home(tmp_path: Path) -> Path:
    return tmp_path / "empty"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A function that makes an AppTest of the whole app on page ``page`` of workspace ``home``."""

    def make(home: Path, page: str) -> AppTest:
        monkeypatch.setenv("HARVEST_HOME", str(home))
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.switch_page(f"app_pages/{page}.py")
        return at

    yield make
    st.cache_data.clear()


TABLES_SPEC = """
name: tables
title: Demo shop store tables
description: The data tables of the demo shop's store-information page.
license: CC0-1.0
tags: [shop, tables]
base_url: "{base}"
start_urls: [/tables]
limits: {{max_pages: 3, depth: 0}}
extract: [tables]
key: [_table, _row]
schedule: "0 8 * * 1"
politeness: {{delay: 0, concurrency: 4, robots: true}}
"""


@pytest.fixture
def demo_site() -> Iterator[str]:
    """The demo site on a loopback port (a thread of this process); yields its base URL."""
    from demo_site import DemoSite

    site = DemoSite(port=0)
    try:
        yield f"http://127.0.0.1:{site.port}"
    finally:
        site.stop()


def add_tables_source(home: Path, base_url: str) -> None:
    """A user source spec for the demo site's tables page."""
    folder = home / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tables.yaml").write_text(TABLES_SPEC.format(base=base_url))
