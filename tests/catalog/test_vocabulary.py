"""One vocabulary: the scraper and the cleaner read every listed word and currency the same way."""

from __future__ import annotations

import pyarrow as pa
import pytest

from catalog.cleaning.parsers import parse_booleans, parse_prices
from catalog.vocabulary import (
    CURRENCY_SYMBOLS,
    FALSE_WORDS,
    ISO_CURRENCIES,
    TRUE_WORDS,
    boolean_of,
    currency_code,
)
from scrapers.values import convert, parse_price, to_bool

WORDS = sorted(TRUE_WORDS | FALSE_WORDS)


def test_no_word_means_both_yes_and_no() -> None:
    assert not TRUE_WORDS & FALSE_WORDS


@pytest.mark.parametrize("word", [*WORDS, *(w.upper() for w in WORDS), *(f" {w} " for w in WORDS)])
def test_a_yes_no_word_means_the_same_when_scraped_and_when_cleaned(word: str) -> None:
    meaning = word.strip().lower() in TRUE_WORDS
    assert boolean_of(word) is meaning
    assert to_bool(word) is meaning
    assert convert(word, "bool", "https://shop.example/") is meaning
    assert parse_booleans(pa.array([word])).values.to_pylist() == [meaning]


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("https://schema.org/OutOfStock", False),
        ("http://schema.org/InStock", True),
        ("https://schema.org/PreOrder", False),
        ("Only 3 left, in stock", True),
        ("Sorry, currently out of stock", False),
        ("f", False),
        ("preorder", False),
    ],
)
def test_stock_phrases_and_schema_org_urls_read_the_same(text: str, meaning: bool) -> None:
    assert to_bool(text) is meaning
    assert parse_booleans(pa.array([text])).values.to_pylist() == [meaning]


def test_an_unknown_word_is_true_when_scraped_and_unparsed_when_cleaned() -> None:
    assert to_bool("Lamp") is True  # a field that is there, saying neither yes nor no
    assert parse_booleans(pa.array(["Lamp"])).failed == 1


TOKENS = sorted(
    {*CURRENCY_SYMBOLS, "zł", "Fr.", "us$", *ISO_CURRENCIES, *map(str.lower, ISO_CURRENCIES)}
)


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("written", ["{t}12.50", "12.50 {t}", "from {t} 1.299,50"])
def test_a_currency_means_the_same_when_scraped_and_when_cleaned(token: str, written: str) -> None:
    text = written.format(t=token)
    amount = 1299.5 if "1.299" in text else 12.5
    code = currency_code(token)
    assert code is not None
    cleaned = parse_prices(pa.array([text]))
    assert parse_price(text) == (amount, code)
    assert (cleaned.amount.to_pylist(), cleaned.currency.to_pylist()) == ([amount], [code])


@pytest.mark.parametrize("text", ["12 kr", "12,50 kr"])
def test_an_ambiguous_currency_is_unknown_in_both(text: str) -> None:
    assert parse_price(text)[1] is None
    assert parse_prices(pa.array([text])).currency.to_pylist() == [None]
