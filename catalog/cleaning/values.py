"""Arrow helpers the cleaning steps share: one array from any column, text from any type,
and parsing each distinct value once.

Scraped columns repeat themselves (the same price, date or stock text on many rows), so
the parsers work on a column's distinct values and map the answers back, which keeps the
per-value fallbacks (``price-parser``, ``dateparser``) off the hot path.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from catalog.importer import detect_encoding

TEXT = pa.large_string()
_MAX_EXAMPLE_CHARS = 60
_MAX_EXAMPLES = 5


def one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The column as a single contiguous array."""
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def decode_bytes(raw: bytes) -> tuple[str, bool]:
    """Text of ``raw`` in the encoding the importer would detect; True when it was not UTF-8."""
    encoding = detect_encoding(raw)
    return raw.decode(encoding, errors="replace"), encoding not in ("utf-8", "utf-8-sig")


def as_text(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, int]:
    """The column as large strings, and how many binary values were not UTF-8 (and were decoded)."""
    array = one_array(column)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), TEXT), 0
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        decoded = [None if v is None else decode_bytes(v) for v in array.to_pylist()]
        not_utf8 = sum(1 for d in decoded if d is not None and d[1])
        return pa.array([None if d is None else d[0] for d in decoded], TEXT), not_utf8
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(TEXT), 0
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false").cast(TEXT), 0
    if pa.types.is_nested(array.type):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], TEXT), 0
    return pc.cast(array, TEXT), 0


# Written in a typed column, these mean "no value" (a dash in an empty table cell, "n/a").
NULL_TOKENS = ("", "-", "–", "—", "n/a", "N/A", "na", "NA", "null", "NULL", "none", "None", "?")


def blank_to_null(strings: pa.Array, tokens: tuple[str, ...] = ("",)) -> pa.Array:
    """Strings trimmed of whitespace, with empty ones (or any of ``tokens``) as null."""
    trimmed = pc.utf8_trim_whitespace(strings)
    empty = pc.is_in(trimmed, value_set=pa.array(tokens, trimmed.type))
    return pc.if_else(empty, pa.scalar(None, strings.type), trimmed)


def typed_input(strings: pa.Array) -> pa.Array:
    """What a typed parser reads: trimmed text, with empty values and null tokens as null."""
    return blank_to_null(strings, NULL_TOKENS)


def map_distinct(strings: pa.Array, parse: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``parse`` applied to each distinct value of ``strings`` once, mapped back to every row."""
    if len(strings) == 0:
        return parse(strings)
    encoded = pc.dictionary_encode(strings)
    parsed = parse(encoded.dictionary)
    return pc.take(parsed, encoded.indices)


def failures(before: pa.Array, after: pa.Array) -> tuple[int, tuple[str, ...]]:
    """How many non-null inputs became null, and a few of those inputs (shortened) as examples."""
    lost = pc.and_(pc.is_valid(before), pc.is_null(after))
    count = int(pc.sum(lost).as_py() or 0)
    if not count:
        return 0, ()
    seen: list[str] = []
    for value in pc.filter(before, lost).to_pylist():
        text = str(value)[:_MAX_EXAMPLE_CHARS]
        if text not in seen:
            seen.append(text)
        if len(seen) == _MAX_EXAMPLES:
            break
    return count, tuple(seen)
