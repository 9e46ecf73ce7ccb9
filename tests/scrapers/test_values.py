"""Field values: selection, processors and every field type."""

from __future__ import annotations

from datetime import date

import pytest
from scrapy.http import HtmlResponse

from scrapers.spec import FieldSpec, Processor
from scrapers.values import (
    apply_processors,
    convert,
    field_columns,
    parse_price,
    select_texts,
    to_bool,
)

BASE = "https://shop.example/shop/p/1"


def field(**keys: object) -> FieldSpec:
    return FieldSpec.model_validate(keys)


def test_css_xpath_text_attribute_and_element_matches(product_page: HtmlResponse) -> None:
    assert select_texts(product_page, field(css="h1::text")) == ["Brass Desk Lamp & Shade"]
    assert select_texts(product_page, field(css="img.main::attr(src)")) == ["/img/lamp-17.png"]
    assert select_texts(product_page, field(css=".description")) == [
        "A lamp for the desk. Brass, with a linen shade."
    ]
    assert select_texts(product_page, field(xpath="//p[@class='sku']/span/text()")) == ["LAMP-17"]


@pytest.mark.parametrize(
    ("processors", "texts", "expected"),
    [
        ((), ["  a \n b  ", "", "c"], ["a b", "c"]),
        ((Processor(kind="join", arg=", "),), ["a", "b"], ["a, b"]),
        ((Processor(kind="regex", arg=r"(\d+) reviews"),), ["12 reviews", "none"], ["12"]),
        ((Processor(kind="regex", arg=r"\d+"),), ["a 7 b"], ["7"]),
        ((Processor(kind="strip"), Processor(kind="join", arg=" ")), [" a ", " b "], ["a b"]),
    ],
)
def test_processors(
    processors: tuple[Processor, ...], texts: list[str], expected: list[str]
) -> None:
    assert apply_processors(texts, processors) == expected


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Lamp", "text", "Lamp"),
        ("1,299", "int", 1299),
        ("12 reviews", "int", 12),
        ("3.5", "int", None),
        ("1.250,5 g", "float", 1250.5),
        ("2024-03-05", "date", date(2024, 3, 5)),
        ("2024-03-05T08:00:00Z", "date", date(2024, 3, 5)),
        ("3 March 2024", "date", date(2024, 3, 3)),
        ("not a date at all", "date", None),
        ("/img/a.png", "url", "https://shop.example/img/a.png"),
        ("mailto:x@y.z", "url", None),
        ("/img/a.png", "image", "https://shop.example/img/a.png"),
        ("/f/manual.pdf", "file", "https://shop.example/f/manual.pdf"),
        ("Out of stock", "bool", False),
        ("yes", "bool", True),
    ],
)
def test_convert_every_type(text: str, kind: str, expected: object) -> None:
    assert convert(text, kind, BASE) == expected


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$1,299.00", 1299.0, "USD"),
        ("1.299,00 €", 1299.0, "EUR"),
        ("from £12", 12.0, "GBP"),
        ("12.50 CHF", 12.5, "CHF"),
        ("call us", None, None),
    ],
)
def test_messy_prices(text: str, amount: float | None, currency: str | None) -> None:
    assert parse_price(text) == (amount, currency)


def test_field_columns_price_media_many_and_bool(product_page: HtmlResponse) -> None:
    price = field(css=".price::text", type="price")
    assert field_columns("price", price, select_texts(product_page, price), BASE) == {
        "price": 1299.0,
        "price_currency": "USD",
    }
    image = field(css="img.main::attr(src)", type="image")
    assert field_columns("image", image, ["/img/lamp-17.png"], BASE) == {
        "image": None,
        "image_url": "https://shop.example/img/lamp-17.png",
    }
    tags = field(css=".tags li::text", many=True)
    assert field_columns("tags", tags, select_texts(product_page, tags), BASE) == {
        "tags": ["brass", "desk", "lamp"]
    }
    missing = field(css=".nothing::text", type="int")
    assert field_columns("n", missing, [], BASE) == {"n": None}
    stock = field(css=".stock", type="bool")
    assert field_columns("in_stock", stock, select_texts(product_page, stock), BASE) == {
        "in_stock": True
    }
    assert field_columns("in_stock", stock, [], BASE) == {"in_stock": False}
    assert to_bool("  SOLD OUT ") is False
