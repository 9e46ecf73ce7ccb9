"""The bundled source specs: valid, found by name, and scraping the demo site fully."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import Catalog
from core.errors import NotFoundError
from core.workspace import Workspace
from demo_site import DemoData, DemoSite
from scrapers.crawl import scrape
from scrapers.sources import BUNDLED, find_source, source_files
from scrapers.spec import load_spec

DATA = DemoData(seed=7)


def test_bundled_specs_are_valid_and_user_specs_shadow_them(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path)
    assert {s.name for s in source_files(workspace)} == {
        "products",
        "reviews",
        "articles",
        "tables",
    }
    for source in source_files(workspace):
        spec = load_spec(source.path, "http://127.0.0.1:1")
        assert spec.name == source.name and spec.schedule and spec.title and spec.license
        assert all(url.startswith("http://127.0.0.1:1/") for url in spec.start_urls)
    workspace.sources.mkdir(parents=True)
    (workspace.sources / "tables.yml").write_text(
        "name: tables\nstart_urls: [https://example.org/]\n"
    )
    assert find_source("tables", workspace).origin == "user"
    assert find_source("products", workspace).path == BUNDLED / "products.yaml"
    with pytest.raises(NotFoundError, match="No source named 'nope'"):
        find_source("nope", workspace)


def scrape_bundled(
    name: str, site: DemoSite, home: Path, **options: object
) -> tuple[int, list[dict[str, object]]]:
    result = scrape(BUNDLED / f"{name}.yaml", Workspace.at(home), base_url=site.url, **options)  # type: ignore[arg-type]
    assert result.run.status == "committed", result.run
    with Catalog.open(home) as catalog:
        return result.run.errors, catalog.read(f"raw.{name}").to_pylist()


@pytest.mark.slow
def test_products_every_product_and_its_duplicate_urls(demo_site: DemoSite, tmp_path: Path) -> None:
    errors, rows = scrape_bundled("products", demo_site, tmp_path)
    on_sale = DATA.day(1).products
    assert errors == 0
    assert len(rows) == len(on_sale) + sum(p.duplicate for p in on_sale)
    assert len({r["sku"] for r in rows}) == len(on_sale)
    assert all(r["image"] and r["title"] and r["schema_type"] == "Product" for r in rows)
    priced = [r for r in rows if r["shown_price"] is not None]
    assert priced and {r["shown_price_currency"] for r in priced} <= {"USD", "EUR", "GBP"}
    assert any(r["was_price"] for r in rows) and any(r["in_stock"] is False for r in rows)
    assert all(r["regular_price"] == r["was_price"] for r in rows)  # extract: [product]
    assert {r["price_source"] for r in priced} == {"structured"}
    assert all(r["price"] == r["shown_price"] for r in priced)


@pytest.mark.slow
def test_articles_and_tables(demo_site: DemoSite, tmp_path: Path) -> None:
    errors, articles = scrape_bundled("articles", demo_site, tmp_path)
    assert errors == 0 and len(articles) == len(DATA.articles)
    assert all(a["section"] and a["text"] and a["author"] and a["date"] for a in articles)
    assert not any(
        "Advertisement" in str(a["text"]) or "Comments are closed" in str(a["text"])
        for a in articles
    )
    _, tables = scrape_bundled("tables", demo_site, tmp_path)
    assert len(tables) == sum(len(t.rows) for t in DATA.tables)
    assert any("2024 / Q1" in row for row in tables)


@pytest.mark.browser
def test_reviews_come_from_rendered_product_pages(demo_site: DemoSite, tmp_path: Path) -> None:
    _, reviews = scrape_bundled("reviews", demo_site, tmp_path, max_pages=12)
    assert reviews and all(
        r["review_id"] and r["product_sku"] and 1 <= r["rating"] <= 5 for r in reviews
    )  # type: ignore[operator]
