"""A cleaning spec inferred from the raw data when none is written, and the columns a
written spec leaves out.

A column's type is read from a sample of its distinct values: Arrow types are kept
(numbers, booleans, timestamps); text is tried, in order, as booleans (yes/no, stock
words, schema.org availability), numbers, prices (a currency sign or code, or a name
like ``price``), dates, URLs (or a name like ``url``/``image`` with no spaces), and is
otherwise text. A type is taken when at least 90% of the sample parses (95% for
booleans and numbers, 60% for prices in a column named like ``price``, where "Price on
request" is common). Provenance columns (``_url``, ``_run_id`` ...) are kept as they are,
except ``_fetched_at``, read as a timestamp.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.parsers import (
    parse_booleans,
    parse_dates,
    parse_numbers,
    parse_prices,
    parse_urls,
)
from catalog.cleaning.spec import CleanSpec, ColumnSpec, DedupSpec, NearDupSpec, RuleSpec
from catalog.cleaning.values import as_text, one_array, typed_input

SAMPLE = 1000
_STRICT = 0.95
_LOOSE = 0.9
_NAMED_PRICE = 0.6  # a column called price may say "Price on request" now and then
_CURRENCY_MARK = r"[$€£¥₹₩₽]|\b(USD|EUR|GBP|JPY|CHF|CAD|AUD|SEK|NOK|DKK|PLN|INR)\b"
_PRICE_NAME = re.compile(r"price|cost|amount|fee", re.IGNORECASE)
_URL_NAME = re.compile(r"url|link|href|image|img|src|photo|picture", re.IGNORECASE)
_URL_SHAPE = r"^(https?://|/|\./|\.\./)\S*$"
_MEDIA_PATH = r"^(images|files)/[0-9a-f]{40}(\.\w+)?$"  # scrapers.pipelines' file names
_DATE_NAME = re.compile(r"date|time|published|updated|created|_at$", re.IGNORECASE)
_LANGUAGE_CHARS = 80
_IDENTIFIER_NAME = re.compile(
    r"(^|_)(id|sku|gtin\d*|ean\d*|isbn\d*|upc|mpn|code|zip|postcode|postal_code|phone)$",
    re.IGNORECASE,
)
_LONG_TEXT = 64  # more than 10% of values this long: prose, no parser is tried
_NEAR_DUP_CHARS = 200
_CURRENCY_NAMES = ("currency", "pricecurrency", "price_currency", "currency_code")


def _share(parsed: pa.Array, sample: pa.Array) -> float:
    return (len(sample) - parsed.null_count) / len(sample) if len(sample) else 0.0


def _matches(sample: pa.Array, pattern: str) -> float:
    found = pc.sum(pc.fill_null(pc.match_substring_regex(sample, pattern), False)).as_py()
    return (found or 0) / len(sample) if len(sample) else 0.0


def infer_type(name: str, column: pa.Array | pa.ChunkedArray) -> str:
    """The cleaning type of a column (see the module docstring)."""
    array = one_array(column)
    kind = array.type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "date"
    if pa.types.is_nested(kind):
        return "keep"
    strings = pc.drop_null(typed_input(as_text(array)[0]))
    sample = pc.unique(strings)[:SAMPLE]
    if len(sample) == 0:
        return "text"
    long_values = pc.sum(pc.greater(pc.utf8_length(sample), _LONG_TEXT)).as_py() or 0
    if long_values > len(sample) * (1 - _LOOSE):
        return "text"
    if _matches(sample, _MEDIA_PATH) >= _STRICT:
        return "keep"  # files the scraper stored under the workspace's media/, as they are
    if _IDENTIFIER_NAME.search(name) or _matches(sample, r"^0\d+$") > 0:
        return "category"  # identifiers: digits, but not numbers (leading zeros matter)
    words = pc.sum(pc.invert(pc.match_substring_regex(sample, r"^[+-]?[\d.,\s]+$"))).as_py()
    if words and _share(parse_booleans(sample).values, sample) >= _STRICT:
        return "boolean"
    if _share(parse_numbers(sample).values, sample) >= _STRICT:
        return "number"
    priced = _share(parse_prices(sample).amount, sample)
    named = _PRICE_NAME.search(name) is not None
    if (named and priced >= _NAMED_PRICE) or (
        priced >= _LOOSE and _matches(sample, _CURRENCY_MARK) >= 0.5
    ):
        return "price"
    dated = _share(parse_dates(sample, languages=None).values, sample)
    if dated >= _LOOSE and (_DATE_NAME.search(name) or _matches(sample, r"[-/.,: ]") >= _LOOSE):
        return "date"
    urls = _matches(sample, _URL_SHAPE)
    url_like = urls >= _LOOSE or (_URL_NAME.search(name) and _matches(sample, r"^\S+$") >= _LOOSE)
    joined = parse_urls(sample, base="http://base.invalid/").values if url_like else None
    if joined is not None and _share(joined, sample) >= _LOOSE:
        return "url"
    return "text"


def _mean_length(column: pa.Array | pa.ChunkedArray) -> float:
    strings = as_text(one_array(column))[0]
    mean = pc.mean(pc.utf8_length(strings[: SAMPLE * 10])).as_py()
    return float(mean or 0.0)


def infer_column(
    name: str, column: pa.Array | pa.ChunkedArray, names: tuple[str, ...] = ()
) -> ColumnSpec:
    """A column spec for a raw column nobody described (``names``: the table's columns, so a
    price can take its currency from a ``currency`` column)."""
    if name.startswith("_"):
        if name == "_fetched_at":
            return ColumnSpec(name=name, type="date")
        return ColumnSpec(name=name, type="keep")
    kind = infer_type(name, column)
    if kind == "text":
        return ColumnSpec(name=name, type="text", language=_mean_length(column) >= _LANGUAGE_CHARS)
    currency = next((n for n in names if n.lower() in _CURRENCY_NAMES), None)
    return ColumnSpec(
        name=name,
        type=kind,
        outliers=kind in ("number", "price", "integer"),
        currency_column=currency if kind == "price" else None,
    )


def complete_spec(spec: CleanSpec, table: pa.Table, key: tuple[str, ...]) -> CleanSpec:
    """The spec with the raw columns it does not mention inferred (or dropped when it says
    ``keep_unlisted: false``; provenance columns are always kept) and its key settled."""
    listed = {c.name for c in spec.columns}
    added = [
        infer_column(name, table.column(name), tuple(table.column_names))
        for name in table.column_names
        if name not in listed
        and name not in spec.drop
        and (spec.keep_unlisted or name.startswith("_"))
    ]
    return replace(
        spec, columns=(*spec.columns, *added), key=spec.key if spec.key is not None else key
    )


def infer_spec(source: str, table: pa.Table, key: tuple[str, ...] = ()) -> CleanSpec:
    """A whole spec for ``raw.<source>``: typed columns, the key required and unique, no more
    than half the rows lost against the previous version (a warning), and near-duplicate
    removal on the longest text when it reads like articles."""
    names = tuple(table.column_names)
    columns = tuple(infer_column(name, table.column(name), names) for name in names)
    columns = tuple(replace(c, missing="drop") if c.name in key else c for c in columns)
    texts = [(c.name, _mean_length(table.column(c.name))) for c in columns if c.type == "text"]
    longest = max(texts, key=lambda item: item[1], default=None)
    near = (
        NearDupSpec(column=longest[0], threshold=0.9)
        if longest and longest[1] >= _NEAR_DUP_CHARS
        else None
    )
    rules: list[RuleSpec] = [RuleSpec(kind="min_rows", min=1, name="not empty")]
    if key:
        rules += [
            RuleSpec(kind="required", columns=key, name="key present"),
            RuleSpec(kind="unique", columns=key, name="key unique"),
        ]
    rules.append(RuleSpec(kind="max_row_drop", max=0.5, severity="warn", name="row count holds"))
    return CleanSpec(
        source=source,
        key=key,
        columns=columns,
        dedup=DedupSpec(near=near),
        rules=tuple(rules),
        origin="inferred",
    )
