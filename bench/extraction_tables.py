"""The tables corpus: how many of its tables Harvest's ``tables`` extractor gets right, and
how many ``pandas.read_html`` does on the same pages.

The corpus is ``tests/scrapers/corpus/tables/``: pages written to reproduce real table
markup (Wikipedia's wikitables, infoboxes and navboxes, a statistics office, WooCommerce,
Bootstrap, a 1990s layout), each ``<page>.html`` beside ``<page>.json`` holding the tables
a person reads there (``columns`` and ``rows``; ``totals`` apart, not rows).

A table is **right** when some table read from its page has the same columns (header
names equal), the same number of rows and at least 95% of its cells equal. Cells are
compared after the same normalisation on both sides: spaces collapsed, an empty cell
equal to a missing one, and numbers compared as numbers (pandas reads ``1,200`` as
1200 and ``33.70`` as 33.7, which is no error of its). pandas' header levels are joined
with `` / `` the way Harvest joins header rows, its ``Unnamed: ...`` levels dropped.

``table_figures()`` returns the figures as a dict (``python -m bench extraction`` prints
them); ``python -m bench.extraction_tables`` prints them alone, with the tables missed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from scrapers.html_tables import read_tables

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "scrapers" / "corpus" / "tables"
CELLS_EQUAL = 0.95
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")

Cell = str | None


@dataclass(frozen=True)
class ReadTable:
    """A table as some reader gave it: header names and rows of cells."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class ExpectedTable:
    """A table of the corpus as a person reads it."""

    page: str
    name: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    totals: tuple[tuple[Cell, ...], ...] = ()
    sections: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class CorpusPage:
    name: str
    html: str
    tables: tuple[ExpectedTable, ...]


def load_corpus(folder: Path = CORPUS) -> list[CorpusPage]:
    """Every page of the corpus with the tables expected on it."""
    pages = []
    for html_path in sorted(folder.glob("*.html")):
        expected = json.loads(html_path.with_suffix(".json").read_text(encoding="utf-8"))
        tables = tuple(
            ExpectedTable(
                page=html_path.stem,
                name=t.get("name"),
                columns=tuple(t["columns"]),
                rows=tuple(tuple(r) for r in t["rows"]),
                totals=tuple(tuple(r) for r in t.get("totals", ())),
                sections=tuple(t.get("sections", ())),
            )
            for t in expected["tables"]
        )
        pages.append(CorpusPage(html_path.stem, html_path.read_text(encoding="utf-8"), tables))
    return pages


def harvest_tables(html: str) -> list[ReadTable]:
    """The tables Harvest's ``tables`` extractor reads from a page."""
    return [ReadTable(t.columns, t.rows) for t in read_tables(html)]


def pandas_tables(html: str) -> list[ReadTable]:
    """The tables ``pandas.read_html`` reads from a page (header levels joined)."""
    import pandas as pd

    try:
        frames = pd.read_html(StringIO(html))
    except ValueError:  # no tables found
        return []
    return [
        ReadTable(
            tuple(_pandas_column(c) for c in frame.columns),
            tuple(tuple(_pandas_cell(v) for v in row) for row in frame.itertuples(index=False)),
        )
        for frame in frames
    ]


def _pandas_column(column: Any) -> str:
    levels = column if isinstance(column, tuple) else (column,)
    parts: list[str] = []
    for level in (str(v) for v in levels):
        if not level.startswith("Unnamed:") and (not parts or parts[-1] != level):
            parts.append(level)
    return " / ".join(parts)


def _pandas_cell(value: Any) -> Cell:
    return None if value is None or value != value else str(value)  # NaN != NaN


def cell_key(value: Cell) -> str:
    """A cell as compared: spaces collapsed, numbers as numbers, empty as ``""``."""
    text = " ".join(str(value or "").split())
    if _NUMBER.match(text):
        return repr(float(text.replace(",", "")))
    return text


def cells_equal(expected: ExpectedTable, found: ReadTable) -> float:
    """The share of the expected table's cells that ``found`` has equal (same shape assumed)."""
    pairs = [
        (e, f)
        for want, got in zip(expected.rows, found.rows, strict=True)
        for e, f in zip(want, got, strict=True)
    ]
    return sum(cell_key(e) == cell_key(f) for e, f in pairs) / len(pairs) if pairs else 1.0


def is_right(expected: ExpectedTable, found: ReadTable) -> bool:
    """Same header, same rows, and at least 95% of cells equal."""
    same_header = [cell_key(c) for c in expected.columns] == [cell_key(c) for c in found.columns]
    if not same_header or len(expected.rows) != len(found.rows):
        return False
    return cells_equal(expected, found) >= CELLS_EQUAL


def missed(
    pages: Sequence[CorpusPage], reader: Callable[[str], list[ReadTable]]
) -> list[ExpectedTable]:
    """The corpus tables that no table the reader gives on their page gets right."""
    wrong: list[ExpectedTable] = []
    for page in pages:
        found = reader(page.html)
        wrong.extend(t for t in page.tables if not any(is_right(t, f) for f in found))
    return wrong


def table_figures(folder: Path = CORPUS) -> dict[str, Any]:
    """Tables right out of the corpus for Harvest and for pandas, and which were missed."""
    pages = load_corpus(folder)
    total = sum(len(p.tables) for p in pages)
    harvest_missed = missed(pages, harvest_tables)
    pandas_missed = missed(pages, pandas_tables)
    return {
        "pages": len(pages),
        "tables": total,
        "harvest_right": total - len(harvest_missed),
        "pandas_right": total - len(pandas_missed),
        "harvest_missed": [_label(t) for t in harvest_missed],
        "pandas_missed": [_label(t) for t in pandas_missed],
    }


def _label(table: ExpectedTable) -> str:
    return f"{table.page}: {table.name or ', '.join(table.columns[:2])}"


def main() -> int:
    figures = table_figures()
    n = figures["tables"]
    print(f"tables corpus: {figures['pages']} pages, {n} tables")
    print(f"  harvest tables right   {figures['harvest_right']:3d} / {n}")
    print(f"  pandas.read_html right {figures['pandas_right']:3d} / {n}")
    for who in ("harvest", "pandas"):
        for label in figures[f"{who}_missed"]:
            print(f"  {who} missed: {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
