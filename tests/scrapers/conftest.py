"""Shared helpers for scraper tests: saved HTML fixtures as Scrapy responses, spec shortcuts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse

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
