"""What a page yields under a spec: records (per page, per match, per table row) and links."""

from __future__ import annotations

from scrapers.parse import follow_links, page_rows
from tests.scrapers.conftest import fixture_response, make_spec

LISTING = "https://shop.example/shop/lighting/?page=2"


def test_page_record_merges_extractors_under_fields(product_page) -> None:  # type: ignore[no-untyped-def]
    spec = make_spec(
        extract=["jsonld"],
        item={
            "pages": "/shop/p/",
            "fields": {
                "name": {"css": "h1::text", "processors": [{"regex": "^(\\w+)"}]},
                "price": {"css": ".price::text", "type": "price"},
            },
        },
    )
    (row,) = page_rows(product_page, spec)
    assert row["name"] == "Brass"  # the field wins over JSON-LD's name
    assert row["sku"] == "LAMP-17" and row["price"] == 1299.0 and row["price_currency"] == "USD"


def test_pages_pattern_limits_which_pages_yield() -> None:
    spec = make_spec(extract=["jsonld"], item={"pages": "/shop/p/"})
    assert page_rows(fixture_response("listing.html", LISTING), spec) == []


def test_each_match_is_a_record() -> None:
    spec = make_spec(
        item={
            "each": ".card",
            "fields": {"name": "a.card-link", "price": {"css": ".price::text", "type": "price"}},
        }
    )
    rows = page_rows(fixture_response("listing.html", LISTING), spec)
    assert [(r["name"], r["price"], r["price_currency"]) for r in rows] == [
        ("Brass Desk Lamp", 1299.0, "USD"),
        ("Floor Lamp", 1299.0, "EUR"),
        ("Wall Light", 12.0, "GBP"),
        ("Brass Desk Lamp (again)", None, None),
    ]
    xpath = make_spec(item={"each": "//li[@class='card']", "fields": {"name": "a"}})
    assert len(page_rows(fixture_response("listing.html", LISTING), xpath)) == 4


def test_article_with_section_field_and_tables_rows() -> None:
    article = make_spec(extract=["article"], item={"fields": {"section": ".section a"}})
    (row,) = page_rows(fixture_response("article.html", "https://mag.example/magazine/1"), article)
    assert row["section"] == "Science" and row["title"] == "Rain Returns to the Valley"
    tables = make_spec(extract=["tables"], key=["_url", "_table", "_row"])
    assert len(page_rows(fixture_response("tables.html", "https://x.example/tables"), tables)) == 4


def test_spec_without_item_or_extract_records_each_page() -> None:
    assert page_rows(fixture_response("listing.html", LISTING), make_spec()) == [{}]


def test_follow_rules_css_xpath_pattern_and_render() -> None:
    response = fixture_response("listing.html", LISTING)
    spec = make_spec(
        follow=[
            {"css": ".pagination a.next"},
            {"xpath": "//ul[@class='products']", "pattern": "/shop/p/", "render": "browser"},
            {"pattern": r"page=1$"},
        ]
    )
    links = follow_links(response, spec.follow, "http")
    assert [(link.url, link.render) for link in links] == [
        ("https://shop.example/shop/lighting/?page=3", "http"),
        ("https://shop.example/shop/p/lamp-17", "browser"),
        ("https://shop.example/shop/p/lamp-18", "browser"),  # fragment dropped, duplicate dropped
        ("https://shop.example/shop/lighting/?page=1", "http"),
    ]
    every = follow_links(response, make_spec(follow=[{"pattern": "."}]).follow, "http")
    assert not any(link.url.startswith(("mailto", "javascript")) for link in every)
    attr = follow_links(response, make_spec(follow=[{"css": "a.next::attr(href)"}]).follow, "http")
    assert [link.url for link in attr] == ["https://shop.example/shop/lighting/?page=3"]
