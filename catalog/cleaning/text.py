"""Readable text from scraped text: markup stripped, entities decoded, Unicode normalised.

HTML goes through lxml (``huge_tree`` so a 10 MB field still parses) and ``html-text``,
whose cleaner drops ``<script>``, ``<style>`` and other invisible content: scripts are
never run and never kept. Then, column-at-a-time with Arrow kernels: NUL and other
control characters removed, Unicode NFKC, whitespace collapsed, empty text made null.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from typing import Any

import html_text
import lxml.etree
import lxml.html
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.values import TEXT, as_text, blank_to_null, map_distinct, one_array

_ENTITY = r"&(#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z]{2,8});"
_LOOKS_LIKE_HTML = r"<\s*[a-zA-Z!/?]|" + _ENTITY
# Control characters, zero-width spaces, soft hyphens, byte-order marks and bidi overrides
# (invisible, and used to spoof text); zero-width (non-)joiners stay: some scripts need them.
_CONTROL = (
    r"[\x{0000}-\x{0008}\x{000B}\x{000C}\x{000E}-\x{001F}\x{007F}\x{00AD}\x{200B}"
    r"\x{200E}\x{200F}\x{202A}-\x{202E}\x{2060}-\x{2064}\x{2066}-\x{2069}\x{FEFF}]"
)
_LANGUAGE_CHARS = 600
_MIN_LANGUAGE_CHARS = 20
_MIN_LANGUAGE_CONFIDENCE = 0.5
_LANGUAGE_BATCH = 1024


@dataclass(frozen=True)
class NormalizedText:
    """A normalised text column and what was done to it."""

    values: pa.Array
    html_stripped: int = 0
    not_utf8: int = 0


@cache
def _parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(
        huge_tree=True, remove_comments=True, remove_pis=True, no_network=True
    )


def strip_html(text: str) -> str:
    """The visible text of an HTML fragment: tags, scripts and styles removed, entities decoded."""
    try:
        tree = lxml.html.document_fromstring(text, parser=_parser())
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return html.unescape(text)
    return str(html_text.extract_text(tree, guess_layout=True))


def _strip_distinct(distinct: pa.Array) -> pa.Array:
    return pa.array([None if v is None else strip_html(v) for v in distinct.to_pylist()], TEXT)


def _unescape_distinct(distinct: pa.Array) -> pa.Array:
    return pa.array([None if v is None else html.unescape(v) for v in distinct.to_pylist()], TEXT)


def normalize_text(
    column: pa.Array | pa.ChunkedArray, *, strip_markup: bool = True
) -> NormalizedText:
    """Clean text: markup stripped (when asked; else only entities decoded), control
    characters removed, NFKC, whitespace collapsed to single spaces, empty values null."""
    strings, not_utf8 = as_text(one_array(column))
    strings = pc.replace_substring_regex(strings, _CONTROL, "")
    stripped = 0
    if strip_markup and len(strings):
        markup = pc.fill_null(pc.match_substring_regex(strings, _LOOKS_LIKE_HTML), False)
        stripped = int(pc.sum(markup).as_py() or 0)
        if stripped:
            rows = pc.filter(strings, markup)
            strings = pc.replace_with_mask(strings, markup, map_distinct(rows, _strip_distinct))
    elif len(strings):
        entities = pc.fill_null(pc.match_substring_regex(strings, _ENTITY), False)
        if pc.any(entities).as_py():
            rows = pc.filter(strings, entities)
            strings = pc.replace_with_mask(
                strings, entities, map_distinct(rows, _unescape_distinct)
            )
    strings = pc.utf8_normalize(strings, "NFKC")
    strings = pc.replace_substring_regex(strings, r"\s+", " ")
    return NormalizedText(blank_to_null(strings), stripped, not_utf8)


@cache
def _identifier() -> Any:
    from langid.langid import LanguageIdentifier, model  # a large model: load once, on use

    return LanguageIdentifier.from_modelstring(model, norm_probs=True)


def _languages(texts: list[str | None]) -> list[str | None]:
    """langid's naive Bayes for many texts at once: its features per text, then one matrix
    product for the whole batch instead of one per text (the same answers as ``classify``)."""
    identifier = _identifier()
    found: list[str | None] = [None] * len(texts)
    rows = [i for i, t in enumerate(texts) if t is not None and len(t) >= _MIN_LANGUAGE_CHARS]
    for start in range(0, len(rows), _LANGUAGE_BATCH):
        batch = rows[start : start + _LANGUAGE_BATCH]
        features = np.vstack(
            [identifier.instance2fv(str(texts[i])[:_LANGUAGE_CHARS]) for i in batch]
        )
        log_probs = features.astype(np.float64) @ identifier.nb_ptc + identifier.nb_pc
        log_probs -= log_probs.max(axis=1, keepdims=True)
        probs = np.exp(log_probs)
        probs /= probs.sum(axis=1, keepdims=True)
        best = probs.argmax(axis=1)
        for i, label, confidence in zip(
            batch, best, probs[np.arange(len(batch)), best], strict=True
        ):
            if confidence >= _MIN_LANGUAGE_CONFIDENCE:
                found[i] = str(identifier.nb_classes[label])
    return found


def language_of(text: str | None) -> str | None:
    """The ISO 639-1 code of the text's language, None when too short or unsure."""
    return _languages([text])[0]


def detect_languages(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The language of each value (see :func:`language_of`)."""
    strings = as_text(one_array(column))[0]
    return map_distinct(strings, lambda d: pa.array(_languages(d.to_pylist()), pa.string()))
