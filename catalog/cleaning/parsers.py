"""Typed values from scraped text: numbers, prices, dates, booleans and URLs.

Every parser takes a column of any type and returns a :class:`Parsed` array plus how many
non-empty values could not be parsed (those become null; nothing is guessed). The common
formats are handled column-at-a-time with Arrow's RE2 kernels and pandas' C date parser;
only what they miss goes to the per-value fallbacks (``price-parser``, ``dateparser``),
and each distinct value is parsed once.

Ambiguous separators and day/month order are settled per column, not per value: a column
where some value can only be read one way ("1.299,00", "31/01/2024") is read that way
throughout; with no such evidence the spec's ``decimal``/``dayfirst`` decide, else dot
decimals and month-first dates (documented in docs/cleaning.md).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from price_parser import Price

from catalog.cleaning.values import (
    NULL_TOKENS,
    TEXT,
    as_text,
    blank_to_null,
    failures,
    map_distinct,
    one_array,
    typed_input,
)
from catalog.vocabulary import FALSE_WORDS, TRUE_WORDS, boolean_of, currency_code, currency_of

TIMESTAMP = pa.timestamp("us", tz="UTC")

_GAPS = r"[\s\x{00a0}\x{202f}\x{2009}']"
_DOT_STYLE = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[+-]?\.\d+$"
_COMMA_STYLE = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$|^[+-]?,\d+$"
_SCIENTIFIC = r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$"

_PRICE = (
    r"(?i)^\s*(?:(?:from|only|now|just|price:?|ab|dès|desde|da|ca\.?|approx\.?|~)\s*)?"
    r"(?P<pre>[a-z]{3}|us\$|c\$|a\$|r\$|[$€£¥₹₩₽])?\s*"
    r"(?P<num>[+-]?\d(?:[\d.,\s\x{00a0}\x{202f}']*\d)?)\s*"
    r"(?P<post>[a-z]{3}|zł|fr\.|[$€£¥₹₩₽]|,-|\.-)?\s*$"
)

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
_HAS_OFFSET = r"(Z|[+-]\d{2}:?\d{2}|[+-]\d{4}|GMT|UTC)$"
_NAMED_FORMATS = (
    "%d %B %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d. %B %Y",
    "%A, %B %d, %Y",
    "%A, %d %B %Y",
    "%d %B %Y %H:%M",
    "%B %d, %Y %I:%M %p",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%a, %d %b %Y %H:%M:%S %z",
    "%a, %d %b %Y %H:%M:%S GMT",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d.%m.%Y %H:%M",
)
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})(\s.*)?$")
_MAX_DATE_CHARS = 64
_MAX_TYPED_CHARS = 128  # longer text is no price: not worth a per-value parser
# Null tokens that are also yes/no words ("none") keep the vocabulary's meaning in a boolean column.
_BOOLEAN_NULL_TOKENS = tuple(t for t in NULL_TOKENS if t.lower() not in TRUE_WORDS | FALSE_WORDS)
# dateparser tries every language it knows unless told; these cover the usual shops and
# magazines and keep the fallback to milliseconds a value.
DATE_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
_URL_SCHEME = r"^[a-zA-Z][a-zA-Z0-9+.-]*:"
_WEB_SCHEME = r"(?i)^https?://[^\s/?#]+"


@dataclass(frozen=True)
class Parsed:
    """A parsed column and what could not be parsed."""

    values: pa.Array
    failed: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedPrice:
    """A price column split into amount and ISO currency code."""

    amount: pa.Array
    currency: pa.Array
    failed: int = 0
    examples: tuple[str, ...] = ()


# -- numbers -------------------------------------------------------------------------------


def _mask(strings: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(strings, pattern), False)


def decimal_mark(strings: pa.Array, decimal: str | None = None) -> str:
    """The column's decimal mark: given, else the one its unambiguous values show, else '.'."""
    if decimal in (".", ","):
        return decimal
    compact = pc.replace_substring_regex(strings, _GAPS, "")
    dot, comma = _mask(compact, _DOT_STYLE), _mask(compact, _COMMA_STYLE)
    only_dot = pc.sum(pc.and_(dot, pc.invert(comma))).as_py() or 0
    only_comma = pc.sum(pc.and_(comma, pc.invert(dot))).as_py() or 0
    return "," if only_comma > only_dot else "."


def _numbers(strings: pa.Array, decimal: str) -> pa.Array:
    """Float64 of strings written with thousands separators and either decimal mark."""
    compact = pc.replace_substring_regex(strings, _GAPS, "")
    dot, comma = _mask(compact, _DOT_STYLE), _mask(compact, _COMMA_STYLE)
    scientific = _mask(compact, _SCIENTIFIC)
    as_dot = pc.replace_substring(compact, ",", "")
    as_comma = pc.replace_substring(pc.replace_substring(compact, ".", ""), ",", ".")
    read_comma = pc.and_(comma, pc.or_(pc.invert(dot), pa.scalar(decimal == ",")))
    read_dot = pc.and_(pc.or_(dot, scientific), pc.invert(read_comma))
    chosen = pc.if_else(read_comma, as_comma, pc.if_else(read_dot, as_dot, pa.scalar(None, TEXT)))
    values = pc.cast(chosen, pa.float64())
    finite = pc.is_finite(values)
    return pc.if_else(pc.fill_null(finite, False), values, pa.scalar(None, pa.float64()))


def parse_numbers(column: pa.Array | pa.ChunkedArray, decimal: str | None = None) -> Parsed:
    """Numbers such as ``1,234.5``, ``1.234,5``, ``1 234,5``, ``-12`` and ``1e6`` as float64."""
    array = one_array(column)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return Parsed(pc.cast(array, pa.float64()))
    strings = typed_input(as_text(array)[0])
    mark = decimal_mark(strings, decimal)
    values = map_distinct(strings, lambda distinct: _numbers(distinct, mark))
    return Parsed(values, *failures(strings, values))


def parse_integers(column: pa.Array | pa.ChunkedArray, decimal: str | None = None) -> Parsed:
    """Whole numbers as int64; numbers with a fractional part count as unparseable."""
    numbers = parse_numbers(column, decimal)
    whole = pc.equal(pc.floor(numbers.values), numbers.values)
    in_range = pc.less(pc.abs(numbers.values), 2.0**62)
    ok = pc.fill_null(pc.and_(whole, in_range), False)
    values = pc.cast(pc.if_else(ok, numbers.values, pa.scalar(None, pa.float64())), pa.int64())
    text = typed_input(as_text(one_array(column))[0])
    return Parsed(values, *failures(text, values))


# -- prices --------------------------------------------------------------------------------


def _price_fallback(text: str) -> tuple[float | None, str | None]:
    price = Price.fromstring(text)
    if price.amount is None:
        return None, None
    amount = float(price.amount)
    # "" marks a currency that is written but unknown or ambiguous ("kr"): no default for it.
    code = currency_of(text, price.currency) or ("" if price.currency else None)
    return (amount if math.isfinite(amount) else None), code


def _group(matched: pa.Array, name: str) -> pa.Array:
    """A regex group's text, null where the group did not take part (RE2 gives "")."""
    text = pc.struct_field(matched, name)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)


def _prices(distinct: pa.Array, mark: str) -> pa.Array:
    """Struct(amount, currency) for distinct price strings."""
    matched = pc.extract_regex(distinct, _PRICE)
    numbers = _numbers(pc.struct_field(matched, "num"), mark)
    tokens = pc.coalesce(_group(matched, "pre"), _group(matched, "post"))
    amounts: list[float | None] = []
    currencies: list[str | None] = []
    for text, is_match, number, token in zip(
        distinct.to_pylist(),
        pc.is_valid(matched).to_pylist(),
        numbers.to_pylist(),
        tokens.to_pylist(),
        strict=True,
    ):
        if text is None:
            amounts.append(None)
            currencies.append(None)
        elif is_match and token is not None and token not in (",-", ".-"):
            code = currency_code(token)
            amounts.append(number if code else None)
            currencies.append(code)
        elif is_match:
            amounts.append(number)
            currencies.append(None)
        elif len(text) > _MAX_TYPED_CHARS:
            amount, code = None, None
        else:
            amount, code = _price_fallback(text)
            amounts.append(amount)
            currencies.append(code)
    return pa.StructArray.from_arrays(
        [pa.array(amounts, pa.float64()), pa.array(currencies, pa.string())],
        names=["amount", "currency"],
    )


def parse_prices(
    column: pa.Array | pa.ChunkedArray,
    *,
    default_currency: pa.Array | str | None = None,
    decimal: str | None = None,
) -> ParsedPrice:
    """Prices such as ``$1,299.00``, ``1.299,00 €``, ``£12`` and ``from 12 EUR``.

    A price without its own currency takes ``default_currency`` (a column of codes or
    symbols, or one code); one that has none stays without.
    """
    array = one_array(column)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        amount = pc.cast(array, pa.float64())
        currency = pa.nulls(len(array), pa.string())
    else:
        strings = typed_input(as_text(array)[0])
        numbers = pc.struct_field(pc.extract_regex(strings, _PRICE), "num")
        mark = decimal_mark(pc.drop_null(numbers), decimal)
        parsed = map_distinct(strings, lambda distinct: _prices(distinct, mark))
        amount = pc.struct_field(parsed, "amount")
        currency = pc.struct_field(parsed, "currency")
    if default_currency is not None:
        if isinstance(default_currency, str):
            fallback: pa.Array | pa.Scalar = pa.scalar(currency_code(default_currency), pa.string())
        else:
            codes = typed_input(as_text(default_currency)[0])
            fallback = map_distinct(
                codes, lambda d: pa.array([currency_code(v) for v in d.to_pylist()], pa.string())
            )
        known = pc.is_valid(amount)
        currency = pc.if_else(known, pc.coalesce(currency, fallback), currency)
    currency = pc.if_else(pc.equal(currency, ""), pa.scalar(None, pa.string()), currency)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        return ParsedPrice(amount, currency)
    return ParsedPrice(amount, currency, *failures(strings, amount))


# -- dates ---------------------------------------------------------------------------------


def _to_utc(parsed: pd.Series, timezone: str) -> pd.Series:
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return parsed.dt.tz_convert("UTC")


def _try_format(texts: pd.Series, fmt: str | None, timezone: str) -> pd.Series:
    """UTC timestamps of ``texts`` read with ``fmt`` (ISO 8601 when None); NaT where they fail."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt is None:
            aware = texts.str.contains(_HAS_OFFSET, regex=True)
            out = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
            if aware.any():
                out[aware] = pd.to_datetime(
                    texts[aware], format="ISO8601", errors="coerce", utc=True
                )
            if (~aware).any():
                naive = pd.to_datetime(texts[~aware], format="ISO8601", errors="coerce")
                out[~aware] = _to_utc(naive, timezone)
            return out
        parsed = pd.to_datetime(texts, format=fmt, errors="coerce", utc="%z" in fmt)
        return _to_utc(parsed, timezone) if "%z" not in fmt else parsed


def day_first(strings: pa.Array, dayfirst: bool | None) -> bool:
    """Whether numeric dates like 03/04/2024 are day-first: given, else what the column shows."""
    if dayfirst is not None:
        return dayfirst
    days = months = 0
    for text in pc.drop_null(strings).to_pylist():
        match = _NUMERIC_DATE.match(text)
        if match:
            first, second = int(match[1]), int(match[2])
            days += first > 12 >= second
            months += second > 12 >= first
    return days > months


def _dateparser_one(
    text: str, dayfirst: bool, timezone: str, languages: tuple[str, ...]
) -> datetime | None:
    import dateparser  # imported here: loading its language data takes a second

    if len(text) > _MAX_DATE_CHARS or not any(ch.isdigit() for ch in text):
        return None
    settings = {
        "DATE_ORDER": "DMY" if dayfirst else "MDY",
        "TIMEZONE": timezone,
        "TO_TIMEZONE": "UTC",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "PARSERS": ["custom-formats", "absolute-time", "timestamp"],
        "REQUIRE_PARTS": ["day", "month", "year"],
    }
    try:
        return dateparser.parse(text, settings=settings, languages=list(languages))  # type: ignore[arg-type]
    except (ValueError, OverflowError, TypeError):
        return None


def _dates(
    distinct: pa.Array, dayfirst: bool, timezone: str, languages: tuple[str, ...] | None
) -> pa.Array:
    texts = pd.Series(distinct.to_pylist(), dtype=object)
    result = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
    todo = texts.notna() & (texts.str.len() <= _MAX_DATE_CHARS)
    iso = todo & texts.str.match(_ISO_DATE).fillna(False).astype(bool)
    if iso.any():
        result[iso] = _try_format(texts[iso], None, timezone)
    numeric = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y") if dayfirst else ("%m/%d/%Y", "%m/%d/%y")
    for fmt in (*_NAMED_FORMATS, *numeric, *(f"{f} %H:%M" for f in numeric)):
        remaining = todo & result.isna()
        if not remaining.any():
            break
        found = _try_format(texts[remaining], fmt, timezone)
        result[found.index[found.notna()]] = found[found.notna()]
    for index in texts.index[todo & result.isna()] if languages else ():
        fallback = _dateparser_one(str(texts[index]), dayfirst, timezone, languages or ())
        if fallback is not None:
            result[index] = pd.Timestamp(fallback).tz_convert("UTC")
    return pa.Array.from_pandas(result, type=TIMESTAMP)


def parse_dates(
    column: pa.Array | pa.ChunkedArray,
    *,
    dayfirst: bool | None = None,
    timezone: str = "UTC",
    languages: tuple[str, ...] | None = DATE_LANGUAGES,
) -> Parsed:
    """Dates and times in the common formats as UTC timestamps; naive ones are in ``timezone``.
    What the vectorised formats miss goes to ``dateparser`` in ``languages`` (None: no
    fallback). Relative dates ("yesterday") are not read: they depend on the fetch time."""
    array = one_array(column)
    if pa.types.is_timestamp(array.type):
        if array.type.tz is None:
            series = _to_utc(array.to_pandas(), timezone)
            return Parsed(pa.Array.from_pandas(series, type=TIMESTAMP))
        return Parsed(pc.cast(array, TIMESTAMP))
    if pa.types.is_date(array.type):
        return Parsed(pc.cast(pc.cast(array, pa.timestamp("us")), TIMESTAMP))
    strings = typed_input(as_text(array)[0])
    first = day_first(pc.unique(strings), dayfirst)
    values = map_distinct(strings, lambda distinct: _dates(distinct, first, timezone, languages))
    return Parsed(values, *failures(strings, values))


# -- booleans ------------------------------------------------------------------------------


def parse_booleans(column: pa.Array | pa.ChunkedArray) -> Parsed:
    """Booleans from ``in stock``/``out of stock``, yes/no, true/false, 1/0 and schema.org URLs."""
    array = one_array(column)
    if pa.types.is_boolean(array.type):
        return Parsed(array)
    strings = blank_to_null(as_text(array)[0], _BOOLEAN_NULL_TOKENS)
    values = map_distinct(
        strings,
        lambda d: pa.array([boolean_of(v) if v else None for v in d.to_pylist()], pa.bool_()),
    )
    return Parsed(values, *failures(strings, values))


# -- URLs ----------------------------------------------------------------------------------


def _join(value: str, base: str | None) -> str | None:
    if not base or not re.match(_WEB_SCHEME, base):
        return None
    joined = urljoin(base, value)
    return joined if re.match(_WEB_SCHEME, joined) else None


def parse_urls(
    column: pa.Array | pa.ChunkedArray,
    *,
    base: pa.Array | pa.ChunkedArray | str | None = None,
) -> Parsed:
    """Absolute http(s) URLs; relative ones are joined to ``base`` (a column such as ``_url``
    or one URL). Other schemes (``javascript:``, ``data:``) and relative URLs without a base
    count as unparseable."""
    strings = typed_input(as_text(one_array(column))[0])
    strings = pc.replace_substring_regex(strings, r"[\s]", "")
    absolute = _mask(strings, _WEB_SCHEME)
    other_scheme = pc.and_(_mask(strings, _URL_SCHEME), pc.invert(absolute))
    relative = pc.and_(pc.is_valid(strings), pc.invert(pc.or_(absolute, other_scheme)))
    values = pc.if_else(absolute, strings, pa.scalar(None, TEXT))
    if pc.any(relative).as_py():
        rows = pa.array(np.flatnonzero(relative.to_numpy(zero_copy_only=False)))
        if isinstance(base, str) or base is None:
            bases: list[str | None] = [base] * len(rows)
        else:
            bases = pc.take(as_text(one_array(base))[0], rows).to_pylist()
        texts = pc.take(strings, rows).to_pylist()
        joined = pa.array([_join(t, b) for t, b in zip(texts, bases, strict=True)], TEXT)
        values = pc.replace_with_mask(values, relative, joined)
    return Parsed(values, *failures(strings, values))
