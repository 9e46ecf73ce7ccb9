"""Fixtures for the Dagster project: the demo site, small source specs, resources, an instance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance

from core.workspace import Workspace
from dagster_project.definitions import default_resources
from dagster_project.resources import ScraperResource
from demo_site.server import DemoSite
from demo_site.specs import STORE_TABLES, shop


@pytest.fixture(scope="session")
def site() -> Iterator[DemoSite]:
    """The demo site on a free loopback port, day 1."""
    with DemoSite() as running:
        yield running


@pytest.fixture
def sources(workspace: Workspace) -> Workspace:
    """The workspace with two small user sources: one table page, two departments' products."""
    (workspace.sources / "storeinfo.yaml").write_text(STORE_TABLES, encoding="utf-8")
    (workspace.sources / "shop.yaml").write_text(shop(), encoding="utf-8")
    return workspace


@pytest.fixture
def resources(sources: Workspace, site: DemoSite) -> dict[str, object]:
    """The default resources of the workspace, crawling the demo site."""
    site.set_day(1)
    return {
        **default_resources(sources),
        "scraper": ScraperResource(home=str(sources.home), base_url=site.url),
    }


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


SHOP_PRICE = """\
name: shop-price
dataset: clean.shop
target: shown_price
features: [title, category_name]
families: [linear, tree]
time_budget: 10
trials: 2
"""

SHOP_CLEAN = """\
columns:
  shown_price: {required: true}
rules:
  - {kind: min_rows, min: 20, name: enough products}
"""


@pytest.fixture
def shop_model(sources: Workspace) -> Workspace:
    """The workspace with a small training spec on clean.shop (HARVEST_HOME/training/)."""
    folder = sources.home / "training"
    folder.mkdir(exist_ok=True)
    (folder / "shop-price.yaml").write_text(SHOP_PRICE, encoding="utf-8")
    (sources.sources / "shop.clean.yaml").write_text(SHOP_CLEAN, encoding="utf-8")
    return sources
