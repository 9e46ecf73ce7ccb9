"""Parsers: prices, numbers, dates, booleans and URLs; failures become null and are counted."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from catalog.cleaning.parsers import (
    parse_booleans,
    parse_dates,
    parse_integers,
    parse_numbers,
    parse_prices,
    parse_urls,
)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$1,299.00", 1299.0, "USD"),
        ("1.299,00\u00a0€", 1299.0, "EUR"),
        ("1.299,00 €", 1299.0, "EUR"),
        ("£12", 12.0, "GBP"),
        ("from 12 EUR", 12.0, "EUR"),
        ("from £46", 46.0, "GBP"),
        ("EUR 5.50", 5.5, "EUR"),
        ("CHF 1'299.50", 1299.5, "CHF"),
        ("¥1000", 1000.0, "JPY"),
        ("  $ 12.00 ", 12.0, "USD"),
    ],
)
def test_prices_split_into_amount_and_currency(text: str, amount: float, currency: str) -> None:
    parsed = parse_prices(pa.array([text]))
    assert parsed.amount.to_pylist() == [amount]
    assert parsed.currency.to_pylist() == [currency]
    assert parsed.failed == 0


def test_unparseable_prices_are_null_and_counted_never_guessed() -> None:
    parsed = parse_prices(pa.array(["Price on request", "$5", None, "", "—", "call us"]))
    assert parsed.amount.to_pylist() == [None, 5.0, None, None, None, None]
    assert parsed.failed == 2  # empty and placeholder values are missing, not failures
    assert parsed.examples == ("Price on request", "call us")


def test_price_without_currency_takes_the_row_currency_or_the_default() -> None:
    texts = pa.array(["12.50", "7", "£3", "kr 12"])
    by_row = parse_prices(texts, default_currency=pa.array(["EUR", "usd", "EUR", "EUR"]))
    assert by_row.currency.to_pylist() == ["EUR", "USD", "GBP", None]  # "kr" is ambiguous
    assert parse_prices(texts, default_currency="USD").currency.to_pylist()[:2] == ["USD", "USD"]


def test_numeric_prices_pass_through() -> None:
    parsed = parse_prices(pa.array([12.5, None]), default_currency="EUR")
    assert parsed.amount.to_pylist() == [12.5, None]
    assert parsed.currency.to_pylist() == ["EUR", None]


def test_numbers_with_thousands_separators_and_decimal_commas() -> None:
    texts = ["1,234.5", "1.234,5", "1 234,5", "-12", "1e6", "12,50", "1\u00a0234", "abc"]
    parsed = parse_numbers(pa.array(texts))
    assert parsed.values.to_pylist() == [1234.5, 1234.5, 1234.5, -12.0, 1e6, 12.5, 1234.0, None]
    assert (parsed.failed, parsed.examples) == (1, ("abc",))


def test_ambiguous_separators_follow_the_column() -> None:
    # "1,234" alone reads as a thousands separator; beside decimal commas it is 1.234.
    assert parse_numbers(pa.array(["1,234", "5"])).values.to_pylist() == [1234.0, 5.0]
    assert parse_numbers(pa.array(["1,234", "12,5"])).values.to_pylist() == [1.234, 12.5]
    assert parse_numbers(pa.array(["1.234"]), decimal=",").values.to_pylist() == [1234.0]


def test_integers_reject_fractions() -> None:
    parsed = parse_integers(pa.array(["1,000", "7", "2.5"]))
    assert parsed.values.to_pylist() == [1000, 7, None]
    assert parsed.failed == 1


def _day(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def test_dates_in_common_formats_become_utc_timestamps() -> None:
    texts = [
        "2024-01-05",
        "2024-01-05T10:00:00+02:00",
        "2024-01-05T10:00:00Z",
        "5 January 2024",
        "Jan 5, 2024",
        "05.01.2024",
        "Fri, 05 Jan 2024 10:00:00 +0000",
        "2024/01/05",
        "January 5th, 2024",
    ]
    parsed = parse_dates(pa.array(texts))
    assert parsed.values.to_pylist() == [
        _day(2024, 1, 5),
        _day(2024, 1, 5, 8),
        _day(2024, 1, 5, 10),
        _day(2024, 1, 5),
        _day(2024, 1, 5),
        _day(2024, 1, 5),
        _day(2024, 1, 5, 10),
        _day(2024, 1, 5),
        _day(2024, 1, 5),  # through the dateparser fallback
    ]
    assert parsed.failed == 0


def test_day_month_order_comes_from_the_column() -> None:
    assert parse_dates(pa.array(["02/03/2024"])).values.to_pylist() == [_day(2024, 2, 3)]
    day_first = parse_dates(pa.array(["02/03/2024", "31/01/2024"])).values.to_pylist()
    assert day_first == [_day(2024, 3, 2), _day(2024, 1, 31)]
    assert parse_dates(pa.array(["02/03/2024"]), dayfirst=True).values.to_pylist() == [
        _day(2024, 3, 2)
    ]


def test_naive_dates_are_read_in_the_spec_timezone() -> None:
    parsed = parse_dates(pa.array(["2024-07-01 12:00"]), timezone="Europe/Berlin")
    assert parsed.values.to_pylist() == [_day(2024, 7, 1, 10)]


def test_unparseable_and_relative_dates_are_counted() -> None:
    parsed = parse_dates(pa.array(["yesterday", "garbage 12", "x" * 500, "2024-13-45", None]))
    assert parsed.values.null_count == 5
    assert parsed.failed == 4


def test_booleans_from_stock_words_yes_no_and_schema_org() -> None:
    texts = [
        "In stock",
        "out of stock",
        "https://schema.org/InStock",
        "http://schema.org/OutOfStock",
        "LimitedAvailability",
        "PreOrder",
        "Yes",
        "no",
        "Only 3 left in stock",
        "Sold out",
        "maybe",
    ]
    parsed = parse_booleans(pa.array(texts))
    assert parsed.values.to_pylist() == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        None,
    ]
    assert (parsed.failed, parsed.examples) == (1, ("maybe",))


def test_urls_are_made_absolute_and_unsafe_schemes_refused() -> None:
    pages = pa.array(["http://shop.test/p/1"] * 6)
    texts = [
        "/img/a.jpg",
        "b.jpg",
        "//cdn.test/c.png",
        "https://x.test/d",
        "javascript:alert(1)",
        None,
    ]
    parsed = parse_urls(pa.array(texts), base=pages)
    assert parsed.values.to_pylist() == [
        "http://shop.test/img/a.jpg",
        "http://shop.test/p/b.jpg",
        "http://cdn.test/c.png",
        "https://x.test/d",
        None,
        None,
    ]
    assert parsed.failed == 1


def test_relative_urls_without_a_base_are_counted() -> None:
    parsed = parse_urls(pa.array(["/a", "http://x.test/b"]))
    assert parsed.values.to_pylist() == [None, "http://x.test/b"]
    assert parsed.failed == 1


def test_a_column_whose_type_changed_still_parses() -> None:
    assert parse_numbers(pa.array([1, 2])).values.to_pylist() == [1.0, 2.0]
    assert parse_booleans(pa.array([True, None])).values.to_pylist() == [True, None]
    stamp = pa.array([datetime(2024, 1, 5)], pa.timestamp("s"))
    assert parse_dates(stamp).values.to_pylist() == [_day(2024, 1, 5)]
