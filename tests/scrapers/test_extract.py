"""Extractors against saved pages: structured data, article text, tables."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import lxml.html
from extruct.jsonld import JsonLdExtractor

from scrapers.extract import article_row, jsonld_entities, structured_row, table_rows
from scrapers.spec import columns_of
from tests.scrapers.conftest import FIXTURES

PRODUCT = (FIXTURES / "product.html").read_text()
URL = "https://shop.example/shop/p/lamp-17"


def test_jsonld_product_flattened_and_breadcrumbs_skipped() -> None:
    row = structured_row(PRODUCT, URL, ["jsonld"])
    assert row["schema_type"] == "Product" and row["name"] == "Brass Desk Lamp & Shade"
    assert (row["sku"], row["gtin"], row["brand"]) == ("LAMP-17", "4006381333931", "Acme Lighting")
    assert (row["price"], row["currency"], row["availability"]) == (1299.0, "USD", "InStock")
    assert (row["rating"], row["review_count"], row["category"]) == (4.5, 12, "Lighting")
    assert row["image"] == "https://shop.example/img/lamp-17.png"


LENIENT_JSONLD = """<html><head>
<script type="application/ld+json">{"@type": "Product", "name": "Tab\there"}</script>
<script type="application/ld+json"><!-- a CMS comment -->
{"@type": "Offer", "price": "5"}</script>
<script type="application/ld+json">[{"@type": "Thing", "name": "a"}, {}, {"@type": "Thing", "name": "b"}]</script>
<script type="application/ld+json">{"@type": "Event", // a JavaScript comment
 "name": "Fair"}</script>
<script type="application/ld+json">{"@graph": [{"@type": "WebSite"}, {"@type": "Book"}]}</script>
<script type="application/ld+json">"just a string"</script>
<script type="text/javascript">{"@type": "NotJsonLd"}</script>
</head><body></body></html>"""


def test_jsonld_read_as_extruct_reads_it() -> None:
    tree = lxml.html.fromstring(LENIENT_JSONLD)
    ours = list(jsonld_entities(tree))
    assert ours == JsonLdExtractor().extract_items(lxml.html.fromstring(LENIENT_JSONLD))
    assert [item.get("@type") for item in ours] == [
        "Product", "Offer", "Thing", "Thing", "Event", None,
    ]  # fmt: skip
    assert list(jsonld_entities(lxml.html.fromstring(PRODUCT))) == JsonLdExtractor().extract(
        PRODUCT
    )


def test_broken_and_empty_jsonld_scripts_are_skipped_and_the_rest_is_read() -> None:
    page = (
        '<html><head><script type="application/ld+json">{"@type": "Product", </script>'
        '<script type="application/ld+json"></script>'
        '<script type="application/ld+json">{"@type": "Product", "name": "Lamp"}</script>'
        "</head></html>"
    )
    assert [item["name"] for item in jsonld_entities(lxml.html.fromstring(page))] == ["Lamp"]
    assert structured_row(page, URL, ["jsonld"])["name"] == "Lamp"


def test_jsonld_alone_does_not_import_extruct() -> None:
    code = (
        "import sys; from scrapers.extract import structured_row; "
        f"row = structured_row(open({str(FIXTURES / 'product.html')!r}).read(), 'https://x/', ['jsonld']); "
        "assert row['sku'] == 'LAMP-17', row; print('extruct' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_microdata_alone() -> None:
    row = structured_row(PRODUCT, URL, ["microdata"])
    assert (row["name"], row["sku"], row["brand"], row["price"], row["currency"]) == (
        "Brass Desk Lamp & Shade",
        "LAMP-17",
        "Acme Lighting",
        1299.0,
        "USD",
    )
    assert row.get("gtin") is None


def test_opengraph_alone_and_syntaxes_fill_each_other() -> None:
    og = structured_row(PRODUCT, URL, ["opengraph"])
    assert (og["name"], og["price"], og["currency"], og["schema_type"]) == (
        "Brass Desk Lamp & Shade",
        1299.0,
        "USD",
        "product",
    )
    assert (
        og["image"] == "https://shop.example/img/lamp-17.png" or og["image"] == "/img/lamp-17.png"
    )
    merged = structured_row(PRODUCT, URL, ["microdata", "jsonld"])
    assert merged["gtin"] == "4006381333931" and merged["schema_type"] == "Product"


def test_article_main_text_without_boilerplate() -> None:
    html = (FIXTURES / "article.html").read_text()
    row = article_row(html, "https://mag.example/magazine/1")
    assert row["title"] == "Rain Returns to the Valley"
    assert row["author"] == "Ann Lee" and row["date"] == date(2024, 3, 5)
    text = str(row["text"])
    assert "driest winter in forty years" in text and "keep saving water" in text
    assert (
        "All rights reserved" not in text and "Privacy policy" not in text and "Related" not in text
    )


def test_tables_multi_row_headers_spans_and_layout_tables() -> None:
    rows = table_rows((FIXTURES / "tables.html").read_text())
    sales = [r for r in rows if r["_table"] == "Sales by region"]
    assert sales[0] == {
        "_table": "Sales by region",
        "_row": 1,
        "_section": None,
        "Region": "North",
        "2023 / H1": "1,200",
        "2023 / H2": "1,350",
        "2024 / H1": "1,410",
        "2024 / H2": "1,520",
    }
    assert sales[1]["2024 / H2"] is None
    stock = [r for r in rows if r.get("Product")]
    assert [(r["Product"], r["Stock"]) for r in stock] == [
        ("Lamp", "In stock"),
        ("Lamp", "Back order"),
    ]
    assert {r["_table"] for r in rows} == {
        "Sales by region",
        "table 3",
    }  # the layout and one-cell tables are skipped


def test_every_extractor_has_fixed_columns() -> None:
    assert "price" in columns_of("jsonld") and columns_of("jsonld") == columns_of("opengraph")
    assert columns_of("article")[:4] == ("title", "author", "date", "text")
    assert columns_of("tables") == ("_table", "_row", "_section")
