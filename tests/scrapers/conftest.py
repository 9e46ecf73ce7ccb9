"""Shared helpers for scraper tests: saved HTML fixtures, spec shortcuts, the demo site."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from scrapy.http import HtmlResponse

from demo_site import DemoSite
from scrapers.spec import SourceSpec, parse_spec

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_response(name: str, url: str) -> HtmlResponse:
    """The saved page ``fixtures/<name>`` as if fetched from ``url``."""
    return HtmlResponse(url=url, body=(FIXTURES / name).read_bytes(), encoding="utf-8")


def make_spec(**keys: Any) -> SourceSpec:
    """A valid spec with ``keys`` over a minimal one."""
    data: dict[str, Any] = {"name": "test", "start_urls": ["https://shop.example/"], **keys}
    return parse_spec(data, "test.yaml")


@pytest.fixture
def product_page() -> HtmlResponse:
    return fixture_response("product.html", "https://shop.example/shop/p/lamp-17")


@pytest.fixture(scope="module")
def demo_site() -> Iterator[DemoSite]:
    """The demo site on a loopback port, shared by a test module (day 1)."""
    with DemoSite() as site:
        yield site


@pytest.fixture
def fresh_site() -> Iterator[DemoSite]:
    """A demo site of its own, for tests that move its day."""
    with DemoSite() as site:
        yield site


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Crawl children back off 50 ms before a retry instead of half a second."""
    monkeypatch.setenv("HARVEST_RETRY_BACKOFF", "0.05")


def write_spec(folder: Path, base_url: str, **keys: Any) -> Path:
    """A spec file in ``folder`` whose relative start URLs resolve against ``base_url``."""
    data: dict[str, Any] = {
        "base_url": base_url,
        "politeness": {"delay": 0, "concurrency": 8},
        **keys,
    }
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
