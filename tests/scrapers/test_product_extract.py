"""The ``product`` extractor: the labelled corpus with per-field floors, and each source alone."""

from __future__ import annotations

import lxml.html
import pyarrow as pa
import pytest

from bench.bench_extraction import (
    PRODUCT_CORPUS,
    baseline_predictions,
    demo_product_pages,
    product_predictions,
)
from core.errors import InvalidInputError
from scrapers.evaluation import FieldScore, load_corpus, same, score_fields
from scrapers.parse import page_rows
from scrapers.product import FIELDS, product_fields, product_row
from scrapers.product_state import product_objects, script_documents
from scrapers.spec import parse_spec
from scrapers.table import column_types
from tests.scrapers.conftest import fixture_response, make_spec

URL = "https://shop.example/p/1"

# F1 floors per field on the shipped corpus (measured: see docs/scraping.md); a change that
# drops a field below its floor is a regression.
CORPUS_FLOORS = {
    "name": 0.95,
    "price": 0.95,
    "currency": 0.95,
    "regular_price": 0.90,
    "availability": 0.95,
    "sku": 0.90,
    "gtin": 0.95,
    "mpn": 0.85,
    "brand": 0.90,
    "images": 0.95,
    "description": 0.90,
    "category": 0.90,
}


@pytest.fixture(scope="module")
def corpus_scores() -> dict[str, FieldScore]:
    pages = load_corpus(PRODUCT_CORPUS)
    assert len(pages) >= 25
    return score_fields(product_predictions(pages), tuple(FIELDS))


@pytest.mark.parametrize("field", list(CORPUS_FLOORS))
def test_corpus_field_above_its_floor(corpus_scores: dict[str, FieldScore], field: str) -> None:
    score = corpus_scores[field]
    assert score.f1 >= CORPUS_FLOORS[field], score


def test_corpus_covers_the_platforms_and_beats_the_structured_baseline(
    corpus_scores: dict[str, FieldScore],
) -> None:
    pages = load_corpus(PRODUCT_CORPUS)
    platforms = {p.notes["platform"] for p in pages}
    assert {
        "shopify",
        "woocommerce",
        "magento",
        "bigcommerce",
        "prestashop",
        "salesforce",
        "custom",
        "client-rendered",
    } <= platforms
    baseline = score_fields(baseline_predictions(pages), tuple(FIELDS))
    assert corpus_scores["price"].f1 > baseline["price"].f1 + 0.2
    assert corpus_scores["regular_price"].f1 > 0.8 > baseline["regular_price"].f1


def test_demo_pages_lose_nothing_where_jsonld_is_right() -> None:
    pages = demo_product_pages(count=30)
    ours = score_fields(product_predictions(pages), tuple(FIELDS))
    baseline = score_fields(baseline_predictions(pages), tuple(FIELDS))
    for field in FIELDS:
        assert ours[field].f1 >= baseline[field].f1, (field, ours[field], baseline[field])
    assert ours["price"].f1 == 1.0


# -- structured data ---------------------------------------------------------------------

RELATED_FIRST = """<html><head>
<script type="application/ld+json">{"@type": "ItemList", "itemListElement": [
 {"@type": "ListItem", "item": {"@type": "Product", "name": "Oak Table 3", "offers": {"price": "99"}}}]}</script>
<script type="application/ld+json">{"@type": "Product", "name": "Oak Table 5", "sku": "T5",
 "offers": {"@type": "Offer", "price": "149.00", "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock"}}</script>
</head><body><h1>Oak Table 5</h1></body></html>"""


def test_structured_data_main_product_is_the_one_named_in_the_heading() -> None:
    found = product_fields(RELATED_FIRST, URL)
    assert (found["name"].value, found["price"].value, found["sku"].value) == (
        "Oak Table 5",
        149.0,
        "T5",
    )
    assert found["price"].source == "structured" and found["currency"].value == "EUR"
    assert found["availability"].value == "InStock"


def test_list_price_in_price_specification_is_the_regular_price() -> None:
    page = """<html><head><script type="application/ld+json">{"@type": "Product", "name": "Kettle",
      "offers": {"@type": "Offer", "price": "30.00", "priceCurrency": "GBP", "priceSpecification": [
        {"@type": "UnitPriceSpecification", "priceType": "https://schema.org/StrikethroughPrice",
         "price": "40.00", "priceCurrency": "GBP"}]}}</script></head><body><h1>Kettle</h1></body></html>"""
    found = product_fields(page, URL)
    assert (found["price"].value, found["regular_price"].value) == (30.0, 40.0)


def test_rdfa_product() -> None:
    found = product_fields((PRODUCT_CORPUS / "custom_rdfa_drupal.html").read_text(), URL)
    assert (found["price"].value, found["currency"].value) == (22.0, "USD")
    assert found["price"].source == "structured"


# -- meta tags and loose itemprop --------------------------------------------------------


def test_meta_tags_alone() -> None:
    page = """<html><head><meta property="og:title" content="Blue Mug">
      <meta property="product:price:amount" content="12,50">
      <meta property="product:price:currency" content="EUR">
      <meta property="product:availability" content="out of stock">
      <meta property="product:brand" content="Potter"></head><body></body></html>"""
    found = product_fields(page, URL)
    assert (found["price"].value, found["currency"].value) == (12.5, "EUR")
    assert (found["availability"].value, found["brand"].value) == ("OutOfStock", "Potter")
    assert {found[f].source for f in ("price", "currency", "availability", "brand")} == {"meta"}


def test_itemprop_outside_any_scope_is_read() -> None:
    page = """<html><body><h1 itemprop="name">Hoodie</h1>
      <div itemprop="sku">MH07</div><meta itemprop="price" content="54">
      <meta itemprop="priceCurrency" content="USD"></body></html>"""
    found = product_fields(page, URL)
    assert (found["sku"].value, found["price"].value, found["currency"].value) == (
        "MH07",
        54.0,
        "USD",
    )


# -- embedded state ----------------------------------------------------------------------


def test_javascript_literals_and_json_scripts_are_read() -> None:
    tree = lxml.html.fromstring(
        """<html><body>
        <script>window.__STATE__ = {product: {title: 'Rock \\'n\\' Roll Tee', price: 20.5,
          tags: ['a', "b"],},};</script>
        <script type="application/json" id="data">{"x": [1, 2]}</script>
        <script type="text/template">{"not": "read"}</script>
        <script>dataLayer.push({"event": "view_item"});</script></body></html>"""
    )
    documents = list(script_documents(tree))
    assert documents[0] == {
        "product": {"title": "Rock 'n' Roll Tee", "price": 20.5, "tags": ["a", "b"]}
    }
    assert {"x": [1, 2]} in documents and {"event": "view_item"} in documents
    assert not any("not" in d for d in documents if isinstance(d, dict))
    (found,) = product_objects(iter(documents))
    assert found.data["title"] == "Rock 'n' Roll Tee"


def test_next_data_state_only_page() -> None:
    found = product_fields((PRODUCT_CORPUS / "nextjs_state_only.html").read_text(), URL)
    assert (found["price"].value, found["regular_price"].value) == (64.5, 85.0)
    assert found["currency"].value == "GBP" and found["price"].source == "state"
    assert found["name"].value == "Aero Desk Lamp"  # not a recommendation's name


def test_datalayer_push_gives_price_currency_and_sku() -> None:
    page = """<html><head><script>dataLayer.push({event: "view_item", ecommerce: {currency: "PLN",
      items: [{item_id: "K-1", item_name: "Down Jacket", item_brand: "Tatra", price: 599.99}]}});
      </script></head><body><h1>Down Jacket</h1></body></html>"""
    found = product_fields(page, URL)
    assert (found["price"].value, found["currency"].value, found["sku"].value) == (
        599.99,
        "PLN",
        "K-1",
    )
    assert found["brand"].value == "Tatra"


def test_state_amounts_in_cents_are_settled_by_the_page() -> None:
    state = """<script type="application/json" data-product-json>{"title": "Gift Box",
      "price": 4500, "compare_at_price": 6000}</script>"""
    shown = f'<html><body><h1>Gift Box</h1><span class="price">$45.00</span>{state}</body></html>'
    found = product_fields(shown, URL)
    assert (found["price"].value, found["regular_price"].value) == (45.0, 60.0)
    alone = product_fields(f"<html><body><h1>Gift Box</h1>{state}</body></html>", URL)
    assert alone["price"].value == 45.0  # Shopify's product JSON writes cents
    units = '<script type="application/json">{"title": "Sofa", "price": 1299}</script>'
    sofa = product_fields(f"<html><body><h1>Sofa</h1>{units}</body></html>", URL)
    assert sofa["price"].value == 1299.0  # no key says cents


def test_many_unrelated_products_in_state_are_not_the_page_product() -> None:
    page = """<html><body><h1>About us</h1><script>var feed = [{"name": "Lamp", "price": 10},
      {"name": "Chair", "price": 20}];</script></body></html>"""
    assert "price" not in product_fields(page, URL)


# -- the visible page: sale and regular prices -------------------------------------------

SALE = """<html><body>
<header><a class="cart" href="/cart">Cart <span class="cart-total">$0.00</span></a></header>
<h1>Trail Shoe</h1>
<p class="price"><del><span class="amount">$90.00</span></del> <ins><span class="amount">$72.00</span></ins></p>
<p class="instalments">or 4 payments of <b>$18.00</b></p>
<button class="add-to-cart">Add to cart</button>
<section class="related"><h2>You may also like</h2><ul>
 <li class="card"><a href="/a">Road Shoe</a> <span class="price">$120.00</span></li>
 <li class="card"><a href="/b">Sock</a> <span class="price">$9.00</span></li>
 <li class="card"><a href="/c">Insole</a> <span class="price">$25.00</span></li>
</ul></section></body></html>"""


def test_visible_sale_price_beside_struck_regular_price() -> None:
    found = product_fields(SALE, URL)
    assert (found["price"].value, found["regular_price"].value) == (72.0, 90.0)
    assert (found["currency"].value, found["price"].source) == ("USD", "visible")
    assert 0 < found["price"].confidence < 1


def test_was_and_now_words_without_markup() -> None:
    page = """<html><body><h1>Jute Rug</h1><p><span>Was £180.00</span> <span>Now £135.00</span></p>
      <button>Add to basket</button></body></html>"""
    found = product_fields(page, URL)
    assert (found["price"].value, found["regular_price"].value, found["currency"].value) == (
        135.0,
        180.0,
        "GBP",
    )


def test_stale_jsonld_carrying_the_regular_price_loses_to_the_sale_price_shown() -> None:
    jsonld = """<script type="application/ld+json">{"@type": "Product", "name": "Trail Shoe",
      "offers": {"price": "90.00", "priceCurrency": "USD"}}</script>"""
    found = product_fields(SALE.replace("<body>", f"<body>{jsonld}"), URL)
    assert (found["price"].value, found["regular_price"].value) == (72.0, 90.0)


def test_data_price_attributes_final_and_old() -> None:
    page = """<html><body><h1>Hoodie</h1><div class="price-box">
      <span data-price-amount="54" data-price-type="finalPrice"><span class="price">$54.00</span></span>
      <span data-price-amount="72" data-price-type="oldPrice"><span class="price">$72.00</span></span>
      </div><button>Add to Cart</button></body></html>"""
    found = product_fields(page, URL)
    assert (found["price"].value, found["regular_price"].value) == (54.0, 72.0)


def test_a_regular_price_not_above_the_price_is_dropped() -> None:
    page = """<html><head><meta property="product:price:amount" content="50">
      <meta property="product:original_price:amount" content="40"></head><body></body></html>"""
    found = product_fields(page, URL)
    assert found["price"].value == 50.0 and "regular_price" not in found


def test_dollar_of_the_page_locale_and_breadcrumb_category() -> None:
    found = product_fields((PRODUCT_CORPUS / "bigcommerce_no_currency.html").read_text(), URL)
    assert (found["price"].value, found["currency"].value) == (49.0, "AUD")
    assert found["category"].value == "Kitchen"


def test_visible_brand_and_description_and_the_locale_currency() -> None:
    legacy = product_fields((PRODUCT_CORPUS / "shopify_legacy_no_jsonld.html").read_text(), URL)
    assert (legacy["brand"].value, legacy["brand"].source) == ("Bergkamm", "visible")
    assert legacy["description"].value == "Robuster Becher aus emailliertem Stahl, 350 ml."
    headless = product_fields(
        (PRODUCT_CORPUS / "shopify_headless_product_json.html").read_text(), URL
    )
    assert (headless["price"].value, headless["currency"].value) == (45.0, "CAD")
    assert headless["currency"].confidence < 0.5  # only the page's locale says so


# -- records, specs, columns -------------------------------------------------------------


def test_product_row_gives_the_named_fields_with_confidence_and_source() -> None:
    row = product_row(SALE, URL, ("price", "regular_price"))
    assert set(row) == {
        "price",
        "price_confidence",
        "price_source",
        "regular_price",
        "regular_price_confidence",
        "regular_price_source",
    }
    assert row["price"] == 72.0 and row["price_source"] == "visible"
    full = product_row(SALE, URL)
    assert full["sku"] is None and full["sku_confidence"] is None and full["name"] == "Trail Shoe"


def test_spec_with_product_extractor_and_its_fields(product_page) -> None:  # type: ignore[no-untyped-def]
    spec = make_spec(extract=["jsonld", "product"], product={"fields": ["price", "images"]})
    assert "price_confidence" in spec.columns() and "brand_source" not in spec.columns()
    assert column_types(spec)["images"] == pa.list_(pa.string())
    (row,) = page_rows(product_page, spec)
    assert row["price"] == 1299.0 and row["price_source"] == "structured"
    assert row["images"] == ["https://shop.example/img/lamp-17.png"]
    assert row["sku"] == "LAMP-17"  # JSON-LD's columns stay beside


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"extract": ["product"], "product": {"fields": ["price", "colour"]}},
            "`product.fields` has 'colour', which is not a product field",
        ),
        ({"extract": ["jsonld"], "product": {"fields": ["price"]}}, "no `product` in `extract`"),
    ],
)
def test_bad_product_options_are_one_sentence(keys: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_spec({"name": "shop", "start_urls": ["https://x.example/"], **keys}, "shop.yaml")


# -- the evaluation ----------------------------------------------------------------------


def test_field_comparison_and_counts() -> None:
    assert same("price", 12.004, 12.0) and not same("price", 12.01, 12.0)
    assert same("images", ["https://a.example/x.jpg?v=2"], ["http://a.example/x.jpg"])
    assert same("description", "Warm wool jumper, knitted in Wales.", "Warm wool jumper, knitted")
    assert same("name", "  Oak  TABLE ", "oak table") and not same("sku", "A1", "A2")
    scores = score_fields(
        [({"price": 1.0}, {"price": 1.0}), ({"price": 2.0}, {"price": 3.0}), ({}, {"price": 4.0})],
        ("price",),
    )
    assert (scores["price"].right, scores["price"].wrong, scores["price"].missed) == (1, 1, 2)
    assert scores["price"].precision == 0.5 and round(scores["price"].recall, 3) == 0.333


def test_corpus_labels_name_every_field() -> None:
    for page in load_corpus(PRODUCT_CORPUS):
        assert set(page.labels) == set(FIELDS), page.name
        assert page.url.startswith("https://") and page.notes["quirks"], page.name


def test_product_alone_reads_a_saved_page() -> None:
    spec = make_spec(extract=["product"])
    (row,) = page_rows(
        fixture_response("product.html", "https://shop.example/shop/p/lamp-17"), spec
    )
    assert row["gtin"] == "4006381333931" and row["brand"] == "Acme Lighting"
