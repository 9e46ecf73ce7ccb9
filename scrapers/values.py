"""Typed field values: selecting text, running processors, converting to a field's type.

Pure functions over parsel selectors and strings. ``field_columns`` turns one field of a
spec into the columns it contributes to a record: ``price`` adds ``<name>_currency``,
``image``/``file`` add ``<name>_url`` (the media pipeline fills ``<name>`` with the stored
path later).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from price_parser import Price

from catalog.vocabulary import boolean_of, currency_of
from scrapers.select import Scope, select, text_of
from scrapers.spec import MEDIA_TYPES, FieldSpec, Processor

Value = (
    str
    | int
    | float
    | bool
    | date
    | list[str]
    | list[int]
    | list[float]
    | list[bool]
    | list[date]
    | None
)
Row = dict[str, Value]

_WHITESPACE = re.compile(r"\s+")


def select_texts(scope: Scope, field: FieldSpec) -> list[str]:
    """The raw strings a field selects inside ``scope`` (element matches give their text)."""
    return [text_of(match) for match in select(scope, field.css, field.xpath)]


def apply_processors(texts: Sequence[str], processors: Sequence[Processor]) -> list[str]:
    """Run processors in order (``strip`` alone when none are given); empty strings are dropped."""
    values = list(texts)
    for processor in processors or (Processor(kind="strip"),):
        if processor.kind == "strip":
            values = [_WHITESPACE.sub(" ", v).strip() for v in values]
        elif processor.kind == "join":
            values = [processor.arg.join(v for v in values if v)]
        else:
            values = [m for m in (_first_match(processor.arg, v) for v in values) if m is not None]
    return [v for v in values if v != ""]


def _first_match(pattern: str, text: str) -> str | None:
    match = _compiled(pattern).search(text)
    if match is None:
        return None
    return match.group(1) if match.re.groups else match.group(0)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def field_columns(name: str, field: FieldSpec, texts: Sequence[str], base_url: str) -> Row:
    """The columns one field contributes, converted to its type from the selected ``texts``."""
    values = apply_processors(texts, field.processors)
    if field.type == "price":
        amount, currency = parse_price(values[0]) if values else (None, None)
        return {name: amount, f"{name}_currency": currency}
    if field.type == "bool":
        return {
            name: [to_bool(v) for v in values]
            if field.many
            else (to_bool(values[0]) if values else False)
        }
    converted = [c for c in (convert(v, field.type, base_url) for v in values) if c is not None]
    value: Value = converted if field.many else (converted[0] if converted else None)  # type: ignore[assignment]
    if field.type in MEDIA_TYPES:
        return {name: None, f"{name}_url": value}
    return {name: value}


def convert(text: str, kind: str, base_url: str) -> Value:
    """``text`` as a value of type ``kind`` (None when it does not read as one)."""
    if kind in ("text",):
        return text
    if kind in ("url", "image", "file"):
        return absolute_url(text, base_url)
    if kind == "int":
        number = parse_number(text)
        return int(number) if number is not None and number == int(number) else None
    if kind == "float":
        number = parse_number(text)
        return float(number) if number is not None else None
    if kind == "date":
        return parse_date(text)
    if kind == "bool":
        return to_bool(text)
    raise ValueError(f"unknown field type {kind}")


def absolute_url(text: str, base_url: str) -> str | None:
    from urllib.parse import urljoin

    url = urljoin(base_url, text.strip())
    return url if url.startswith(("http://", "https://")) else None


def parse_number(text: str) -> Decimal | None:
    """A number written the way people write them: ``1,299.00``, ``1.299,00``, ``12 reviews``."""
    return Price.fromstring(text).amount


def parse_price(text: str) -> tuple[float | None, str | None]:
    """Amount and ISO currency of a price such as ``$1,299.00``, ``1.299,00 €`` or ``from £12``."""
    price = Price.fromstring(text)
    return price.amount_float, currency_of(text, price.currency)


def parse_date(text: str) -> date | None:
    """A date in ISO form or anything dateparser reads (``3 March 2024``, ``03/04/2024``)."""
    cleaned = text.strip()
    try:
        return datetime.fromisoformat(cleaned.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    import dateparser  # heavy; ISO dates never need it

    parsed = dateparser.parse(
        cleaned, settings={"PREFER_DAY_OF_MONTH": "first", "STRICT_PARSING": False}
    )
    return parsed.date() if parsed else None


def to_bool(text: str) -> bool:
    """False for what says no (``no``, ``0``, ``out of stock``...), True for anything else.

    The words mean what they mean to cleaning (:mod:`catalog.vocabulary`); a field that is
    there but says neither yes nor no reads as True, as an "in stock" badge would.
    """
    return boolean_of(text) is not False
