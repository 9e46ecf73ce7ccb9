"""A page's embedded JavaScript state as JSON: what client-rendered shops carry in ``<script>``.

Shops put the product they render in JSON inside the page: ``<script type="application/json">``
(Next.js' ``__NEXT_DATA__``, Shopify's product JSON), assignments such as
``window.__INITIAL_STATE__ = {...}`` and ``dataLayer.push({...})`` calls. ``script_documents``
finds those documents (JSON, or JavaScript object literals with unquoted keys, single
quotes and trailing commas); ``product_objects`` walks them for objects shaped like a
product: a name beside a price, an offer or variants. JSON-LD is not read here (it is
structured data, ``scrapers.extract.jsonld_entities``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import lxml.etree
from lxml.html import HtmlElement

_SCRIPTS = lxml.etree.XPath(
    "//script[not(@src) and not(@type='application/ld+json')]", smart_strings=False
)
# Where an object literal starts in JavaScript: after "=", "(" of a call or "return".
_OPENING = re.compile(r"(?:=|\(|\breturn)\s*(?=[{\[])")
_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JS_WORDS = re.compile(r"(?<![\w$\"])(undefined|NaN|!0|!1)(?![\w$\"])")
MAX_SCRIPT_CHARS = 2_000_000
MAX_DEPTH = 14

NAME_KEYS = ("name", "title", "productName", "product_name", "item_name", "productTitle")
PRICE_KEYS = (
    "price",
    "salePrice",
    "sale_price",
    "finalPrice",
    "final_price",
    "currentPrice",
    "current_price",
    "specialPrice",
    "offerPrice",
    "sellingPrice",
    "priceValue",
    "minPrice",
    "price_min",
    "lowPrice",
    "amount",
    "priceRange",
    "price_range",
)
REGULAR_KEYS = (
    "compare_at_price",
    "compareAtPrice",
    "regularPrice",
    "regular_price",
    "listPrice",
    "list_price",
    "originalPrice",
    "original_price",
    "oldPrice",
    "old_price",
    "wasPrice",
    "was_price",
    "strikePrice",
    "strikethroughPrice",
    "msrp",
    "rrp",
)
SHAPE_KEYS = ("offers", "variants", "sku", "prices")


@dataclass(frozen=True)
class StateObject:
    """A product-shaped object found in the page's state, with the currency around it."""

    data: Mapping[str, Any]
    currency: str | None  # a currency key of an enclosing object (dataLayer's ecommerce.currency)
    order: int  # where it was found: earlier objects come first


def script_documents(tree: HtmlElement) -> Iterator[Any]:
    """Every JSON document embedded in the page's inline scripts (JSON-LD aside)."""
    for script in _SCRIPTS(tree):
        text = script.text or ""
        if not text.strip() or len(text) > MAX_SCRIPT_CHARS:
            continue
        kind = (script.get("type") or "").lower()
        if "json" in kind:
            found = _loads(text.strip())
            if found is not None:
                yield found
            continue
        if kind and "javascript" not in kind and "ecmascript" not in kind and kind != "module":
            continue  # templates and other non-scripts
        yield from _literals(text)


def _literals(text: str) -> Iterator[Any]:
    position = 0
    for match in _OPENING.finditer(text):
        start = match.end()
        if start < position:
            continue  # inside a literal already read
        end = _literal_end(text, start)
        if end is None:
            continue
        found = _loads(text[start:end])
        if isinstance(found, Mapping | list) and found:
            yield found
            position = end


def _literal_end(text: str, start: int) -> int | None:
    """The end of the bracketed literal starting at ``start`` (strings and escapes respected)."""
    depth, quote, escaped = 0, "", False
    for index in range(start, min(len(text), start + MAX_SCRIPT_CHARS)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _loads(text: str) -> Any:
    """JSON, else a JavaScript object literal made JSON; None when neither reads."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    converted = _TRAILING_COMMA.sub(r"\1", _UNQUOTED_KEY.sub(r'\1"\2":', _single_quotes(text)))
    converted = _JS_WORDS.sub(
        lambda m: {"!0": "true", "!1": "false"}.get(m.group(), "null"), converted
    )
    try:
        return json.loads(converted)
    except ValueError:
        return None


def _single_quotes(text: str) -> str:
    """JavaScript's single-quoted strings as JSON's double-quoted ones."""
    if "'" not in text:
        return text
    out: list[str] = []
    quote, escaped = "", False
    for char in text:
        if quote:
            if escaped:
                escaped = False
                out.append("'" if char == "'" and quote == "'" else "\\" + char)
                continue
            if char == "\\":
                escaped = True
                continue
            if char == quote:
                quote = ""
                out.append('"')
            elif char == '"' and quote == "'":
                out.append('\\"')
            else:
                out.append(char)
        elif char in "\"'":
            quote = char
            out.append('"')
        else:
            out.append(char)
    return "".join(out)


def product_objects(documents: Iterator[Any]) -> list[StateObject]:
    """Objects shaped like a product in the documents, in the order found."""
    found: list[StateObject] = []
    for document in documents:
        _walk(document, None, 0, found)
    return found


def _walk(value: Any, currency: str | None, depth: int, found: list[StateObject]) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            _walk(item, currency, depth + 1, found)
        return
    if not isinstance(value, Mapping):
        return
    here = value.get("currency") or value.get("currencyCode") or value.get("priceCurrency")
    currency = here if isinstance(here, str) and len(here) == 3 else currency
    if is_product_shaped(value):
        found.append(StateObject(data=value, currency=currency, order=len(found)))
    for item in value.values():
        if isinstance(item, Mapping | list):
            _walk(item, currency, depth + 1, found)


def is_product_shaped(value: Mapping[str, Any]) -> bool:
    """A name (text) beside a price, a regular price, offers, variants or a SKU."""
    name = first_of(value, NAME_KEYS)
    if not isinstance(name, str) or not name.strip() or len(name) > 300:
        return False
    return any(
        value.get(key) not in (None, "", [], {})
        for key in (*PRICE_KEYS, *REGULAR_KEYS, *SHAPE_KEYS)
    )


def first_of(value: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` that ``value`` has (not None or empty)."""
    for key in keys:
        found = value.get(key)
        if found not in (None, "", [], {}):
            return found
    return None
