"""How well an extractor reads labelled pages: per-field precision, recall and F1.

A labelled corpus is a folder of ``<page>.html`` files, each beside a ``<page>.json`` that
gives its ``url`` and ``labels`` (field -> the value a person reads on the page, ``null``
where the page has none). A prediction is right when it equals the label the way the
field compares: prices to the cent, text with whitespace and case folded, descriptions
when one starts with the other, images by the main picture's host and path (query strings
aside: the same picture at another size). A wrong value counts against precision and
recall both; a value where the label is ``null`` against precision only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapers.values import Row

_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class LabelledPage:
    """One page of a corpus and what a person reads on it."""

    name: str
    url: str
    html: str
    labels: Mapping[str, Any]
    notes: Mapping[str, Any] = field(default_factory=dict)  # platform, quirks


@dataclass(frozen=True)
class FieldScore:
    """Counts for one field over a corpus, and what they make."""

    field: str
    right: int  # a value, equal to the label
    wrong: int  # a value where the label differs or is null
    missed: int  # a label with no value or a different one

    @property
    def precision(self) -> float:
        given = self.right + self.wrong
        return self.right / given if given else 1.0

    @property
    def recall(self) -> float:
        expected = self.right + self.missed
        return self.right / expected if expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_corpus(folder: Path) -> list[LabelledPage]:
    """Every labelled page of ``folder`` (``x.html`` with ``x.json``), by name."""
    pages = []
    for labels_file in sorted(folder.glob("*.json")):
        data = json.loads(labels_file.read_text(encoding="utf-8"))
        html = labels_file.with_suffix(".html").read_text(encoding="utf-8")
        notes = {k: v for k, v in data.items() if k not in ("url", "labels")}
        pages.append(LabelledPage(labels_file.stem, data["url"], html, data["labels"], notes))
    return pages


def score_fields(
    results: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]], fields: Sequence[str]
) -> dict[str, FieldScore]:
    """Per-field counts over ``(predicted, labels)`` pairs."""
    counts = {name: [0, 0, 0] for name in fields}
    for predicted, labels in results:
        for name in fields:
            value, label = _present(predicted.get(name)), _present(labels.get(name))
            right = value is not None and label is not None and same(name, value, label)
            counts[name][0] += right
            counts[name][1] += value is not None and not right
            counts[name][2] += label is not None and not right
    return {name: FieldScore(name, *c) for name, c in counts.items()}


def _present(value: Any) -> Any:
    return None if value in (None, "", []) else value


def same(field: str, value: Any, label: Any) -> bool:
    """Whether an extracted ``value`` of ``field`` is the labelled one."""
    if field in ("price", "regular_price"):
        try:
            return abs(float(value) - float(label)) < 0.005
        except (TypeError, ValueError):
            return False
    if field == "images":
        first = value[0] if isinstance(value, list | tuple) else value
        wanted = label[0] if isinstance(label, list | tuple) else label
        return _picture(str(first)) == _picture(str(wanted))
    got, want = _folded(value), _folded(label)
    if field == "description":
        shorter = min(len(got), len(want))
        return got == want or (shorter >= 20 and (got.startswith(want) or want.startswith(got)))
    return got == want


def _folded(value: Any) -> str:
    return " ".join(_TAGS.sub(" ", str(value)).split()).casefold()


def _picture(url: str) -> str:
    parts = urlsplit(url if "//" in url else "//" + url)
    return f"{parts.hostname}{parts.path}"


def structured_prediction(row: Row) -> dict[str, Any]:
    """A row of the structured extractors (``jsonld``, ``microdata``, ``opengraph``) in the
    product fields' terms, to measure them on the same corpus."""
    renamed = {
        k: row.get(k)
        for k in (
            "name",
            "price",
            "currency",
            "availability",
            "sku",
            "gtin",
            "mpn",
            "brand",
            "description",
        )
    }
    category = row.get("category")
    return {
        **renamed,
        "regular_price": None,
        "images": [row["image"]] if row.get("image") else None,
        "category": category,
    }
