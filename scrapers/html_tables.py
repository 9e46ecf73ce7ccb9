"""HTML tables as their authors meant them: the ``tables`` extractor.

``read_tables`` turns every data table on a page into an ``HtmlTable`` (name, columns,
data rows, totals rows); ``table_rows`` flattens those into the records a crawl lands.

- **Which tables**: one with a header (a ``thead``, leading rows of ``th`` cells, or a
  first row of bold cells in a table with no ``th`` at all) or with a label cell heading
  every row (an infobox or a product's specification table). Tables marked
  ``role=presentation``, tables holding other tables or a page's headings, forms or
  navigation (layout), and navigation boxes (and tables inside them) are skipped; the
  data tables inside a layout table are read on their own.
- **Grid**: ``rowspan`` and ``colspan`` are expanded in header and body (``rowspan=0``
  runs to the end of the table); a short row is padded with empty cells.
- **Header**: the header rows are joined per column with `` / `` (``2024 / Q1``); a
  first row that is one cell across the whole table is the table's name when it has no
  ``caption``, not part of the header. A column with no header and no value is dropped,
  and so is the empty half of a header spread over a colour swatch and a name.
- **Body**: a row that is one cell across the whole table is a section label: it is not
  a row, its text is the ``_section`` of the rows under it. Rows that repeat the header
  are dropped. Totals rows (in ``tfoot``, marked ``sortbottom`` or ``sorttop``, or
  labelled ``Total``, ``Grand total``, ``Subtotal``...) are separated: they are not data,
  and land as the rows of a table of their own named ``<name> (totals)``. A one-cell row at the foot
  (``tfoot``, ``sortbottom``: a source line, a key to symbols) is a note and dropped.
- **Cell text**: hidden text (``display:none``, ``visibility:hidden``, ``hidden``,
  ``sortkey`` and screen-reader-only classes, styles and scripts) is dropped; footnote
  and reference markers (``<sup class="reference">``, a ``sup`` linking to a note or
  reading ``[1]``, ``†``, ``*``; ``[1]``, ``[a]``, ``[note 2]``, ``[citation needed]``
  in the text; ``†``/``‡``/``*`` stuck to a word) are removed from cells, headers and
  names; list items are joined with ``"; "``; line breaks and blocks become spaces;
  non-breaking, thin and zero-width spaces are normalised. Dashes are kept as written
  (``—`` for "none" is the author's value). Cells stay text: the raw stage keeps what
  the page said and cleaning types numbers and dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import lxml.html
from lxml.html import HtmlElement

from scrapers.values import Row

Cells = tuple[str | None, ...]

_MAX_SPAN = 1000
_SECTION_CHARS = 80  # a one-cell row longer than this is a note or a summary, not a label
_LAYOUT_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "form", "nav", "header", "footer"})
_SKIPPED_CLASSES = frozenset({"navbox", "vertical-navbox", "sidebar"})
_HIDDEN_CLASSES = frozenset(
    {
        "sortkey",
        "sr-only",
        "visually-hidden",
        "screen-reader-text",
        "mw-cite-backlink",
        "mw-editsection",
        "navbar",
        "noprint",
    }
)
_UNSEEN_TAGS = frozenset({"style", "script", "noscript", "template", "link", "meta"})
_NOTE_CLASSES = frozenset({"reference", "Inline-Template", "Template-Fact"})
_BLOCK_TAGS = frozenset({"p", "div", "li", "dd", "dt", "tr", "td", "th", "table", "dl"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_NOTE_SUP = re.compile(r"^(\[[^\]]{1,30}\]|[*†‡§¶#]+|\(?[a-z]\)?|\d{1,3})$", re.IGNORECASE)
_TEXT_MARKER = re.compile(
    r"\s*\[(?:\d{1,3}|[a-z]|[ivx]{1,4}|(?:note|notes|nb|n|fn|lower-alpha|upper-alpha)\s*\w{1,3}"
    r"|citation needed|clarification needed|dubious|discuss|update|when\?|who\?|which\?"
    r"|by whom\?|according to whom\?|verification needed|failed verification)\]",
    re.IGNORECASE,
)
_TRAILING_MARKER = re.compile(r"(?<=\w)\s*[*†‡§¶]+$")
_STUCK_MARKER = re.compile(r"(?<=[^\s*†‡§¶])[*†‡§¶]+(?=\s|$|[,;)])|(?<![^\s(])[†‡§¶]+(?=\w)")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\xad"), None)
_TOTAL_LABEL = re.compile(
    r"^((grand\s+|sub-?)?totals?|sum|overall|insgesamt|gesamt|summe|totale?)"
    r"\s*(\(.*\))?\s*:?$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[•·‣◦▪-]\s*")


@dataclass(frozen=True)
class HtmlTable:
    """One data table: ``rows`` (and ``sections``, one per row: the section label above
    it, or None) under ``columns``; ``totals`` are the totals rows, kept apart."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[Cells, ...]
    sections: tuple[str | None, ...] = ()
    totals: tuple[Cells, ...] = ()


@dataclass(frozen=True)
class _Cell:
    text: str
    header: bool
    origin: int  # one number per source cell, shared by the grid cells a span fills
    bold: bool = False


@dataclass
class _Line:
    """One grid row: its cells (spans expanded) and where it stood in the table."""

    cells: list[_Cell]
    part: str  # thead, tbody or tfoot
    pinned: bool  # class sortbottom or sorttop: kept in place when the table is sorted
    attached: bool  # class expand-child: belongs to the row above when the table is sorted
    origins: set[int] = field(default_factory=set)

    def texts(self, width: int) -> list[str]:
        return [c.text for c in self.cells] + [""] * (width - len(self.cells))

    def one_cell(self, width: int) -> bool:
        """A single cell across the whole table (a caption, section or note row)."""
        return width >= 2 and len(self.cells) == width and len(self.origins) == 1

    def all_header(self) -> bool:
        """Header cells only (an empty corner cell aside)."""
        return any(c.header for c in self.cells) and all(c.header or not c.text for c in self.cells)

    def empty(self) -> bool:
        return not any(c.text for c in self.cells)


def table_rows(page: str | HtmlElement) -> list[Row]:
    """Every data table on the page as records keyed by header; ``_table`` (its name),
    ``_row`` (from 1) and ``_section`` say where. Totals rows are records of a table named
    ``<name> (totals)``; a table read as one record (an infobox) has one row."""
    rows: list[Row] = []
    for table in read_tables(page):
        parts = [(table.name, table.rows, table.sections)]
        if table.totals:
            parts.append((f"{table.name} (totals)", table.totals, ()))
        for name, cells_list, sections in parts:
            for number, cells in enumerate(cells_list, start=1):
                row: Row = {
                    "_table": name,
                    "_row": number,
                    "_section": sections[number - 1] if sections else None,
                }
                row.update(zip(table.columns, cells, strict=True))
                rows.append(row)
    return rows


def read_tables(page: str | HtmlElement) -> list[HtmlTable]:
    """The page's data tables in document order (see the module docstring)."""
    root = lxml.html.fromstring(page) if isinstance(page, str) else page
    tables: list[HtmlTable] = []
    names: set[str] = set()
    for index, element in enumerate(root.iter("table"), start=1):
        if _is_layout(element):
            continue
        table = _read_table(element, index)
        if table is None:
            continue
        name, n = table.name, 2
        while name in names or f"{name} (totals)" in names:
            name, n = f"{table.name} ({n})", n + 1
        names.add(name)
        tables.append(table if name == table.name else _renamed(table, name))
    return tables


def _renamed(table: HtmlTable, name: str) -> HtmlTable:
    return HtmlTable(name, table.columns, table.rows, table.sections, table.totals)


def _is_layout(table: HtmlElement) -> bool:
    """Tables that arrange a page rather than hold data: marked so, holding other tables or
    a page's headings, forms or navigation, or a navigation box."""
    if table.get("role") in ("presentation", "none"):
        return True
    if any(_SKIPPED_CLASSES & set(e.get("class", "").split()) for e in _self_and_up(table)):
        return True
    return any(
        isinstance(e.tag, str) and (e.tag in _LAYOUT_TAGS or (e.tag == "table" and e is not table))
        for e in table.iter()
    )


def _self_and_up(element: HtmlElement) -> Iterator[HtmlElement]:
    yield element
    yield from element.iterancestors()


def _read_table(element: HtmlElement, index: int) -> HtmlTable | None:
    lines = _grid(element)
    width = _width(lines)
    if width < 2:
        return None
    caption = element.find("caption")
    name = cell_text(caption) if caption is not None else ""
    start, titled = 0, 0
    while start < len(lines) and (lines[start].one_cell(width) or lines[start].empty()):
        if not name and lines[start].cells and lines[start].cells[0].text:
            name, titled = lines[start].cells[0].text, start + 1
        start += 1
    name = name or element.get("id") or f"table {index}"
    header_count = _header_count(lines[start:], width)
    if header_count == 0:
        return _record_table(name, lines[titled:], width)
    headers = [line.texts(width) for line in lines[start : start + header_count]]
    return _data_table(name, headers, lines[start + header_count :], width)


def _width(lines: list[_Line]) -> int:
    """The number of columns some cell starts in; a colspan reaching past them (a header
    spanning one column more than the body has) is cut there."""
    width = max(
        (
            i + 1
            for line in lines
            for i, cell in enumerate(line.cells)
            if i == 0 or cell.origin != line.cells[i - 1].origin
        ),
        default=0,
    )
    for line in lines:
        del line.cells[width:]
        line.origins = {c.origin for c in line.cells}
    return width


def _header_count(lines: list[_Line], width: int) -> int:
    """How many of the leading rows are header rows: a thead's, leading all-th rows, or a
    first row of bold cells when the table has no th at all."""
    in_head = sum(1 for line in lines if line.part == "thead")
    if in_head:
        return in_head
    count = 0  # a one-cell row below the header is the first section's label
    while count < len(lines) and lines[count].all_header() and not lines[count].one_cell(width):
        count += 1
    if count or any(c.header for line in lines for c in line.cells):
        return count
    first = [c for c in lines[0].cells if c.text] if lines else []
    return 1 if first and all(c.bold for c in first) else 0


def _data_table(
    name: str, headers: list[list[str]], body: list[_Line], width: int
) -> HtmlTable | None:
    rows: list[list[str]] = []
    sections: list[str | None] = []
    totals: list[list[str]] = []
    section: str | None = None
    for line in body:
        texts = line.texts(width)
        foot = line.part == "tfoot" or line.pinned
        if line.empty() or texts in headers:  # a header repeated down a long table
            continue
        if line.one_cell(width):
            section = texts[0] if _is_section(line) and not foot else section
            continue
        if foot or _is_total(texts):
            totals.append(texts)
            continue
        rows.append(texts)
        sections.append(section)
    if not rows:
        return None
    names = _header_names(headers, width)
    keep = _kept_columns(names, rows)
    return HtmlTable(
        name=name,
        columns=tuple(_unique([names[i] for i in keep])),
        rows=tuple(_pick(r, keep) for r in rows),
        sections=tuple(sections),
        totals=tuple(_pick(r, keep) for r in totals),
    )


def _is_section(line: _Line) -> bool:
    """A one-cell row that labels the rows under it: a header cell or a short text, and not
    a row attached to the one above it (an episode's summary)."""
    cell = line.cells[0]
    return not line.attached and (cell.header or len(cell.text) <= _SECTION_CHARS)


def _is_total(texts: list[str]) -> bool:
    label = next((t for t in texts if t), "")
    return _TOTAL_LABEL.match(label) is not None


def _kept_columns(names: list[str], rows: list[list[str]]) -> list[int]:
    """The columns to keep: not those with neither header nor value, nor the twin of a
    header spread over two columns that only repeats its neighbour or is empty (a party's
    colour swatch beside its name)."""
    keep: list[int] = []
    for i, name in enumerate(names):
        if not name and not any(row[i] for row in rows):
            continue
        after_twin = bool(keep) and keep[-1] == i - 1 and names[i - 1] == name
        if after_twin and _covered(rows, i, i - 1):
            continue
        before_twin = i + 1 < len(names) and names[i + 1] == name
        if before_twin and _covered(rows, i, i + 1) and not _covered(rows, i + 1, i):
            continue
        keep.append(i)
    return keep


def _covered(rows: list[list[str]], column: int, by: int) -> bool:
    """Whether every value of ``column`` is empty or the same as ``by``'s."""
    return all(not row[column] or row[column] == row[by] for row in rows)


def _pick(texts: list[str], keep: list[int]) -> Cells:
    return tuple(texts[i] or None for i in keep)


def _record_table(name: str, lines: list[_Line], width: int) -> HtmlTable | None:
    """A table whose rows each start with a label cell (an infobox, a specification table):
    the labels are its columns (a bulleted label prefixed with its section's). With one value
    a row (one cell, or one spread over the row) it is one record; when rows hold several
    values (``Year | 2019 | 2020``) each column of values is a record."""
    labelled = [line for line in lines if not line.one_cell(width) and not line.empty()]
    if len(labelled) < 2 or not all(_labelled(line) for line in labelled):
        return None
    columns: list[str] = []
    values: list[list[str]] = []
    section = ""
    for line in lines:
        if line.one_cell(width):
            section = line.cells[0].text if line.cells[0].header else section
        elif not line.empty():
            label = _BULLET.sub("", line.cells[0].text)
            sub_item = label != line.cells[0].text  # a bulleted label belongs to the section
            columns.append(f"{section} / {label}" if section and sub_item else label)
            values.append(line.texts(width)[1:])
    if width == 2 or all(len(line.origins) < width for line in labelled):
        rows = [[" ".join(dict.fromkeys(v for v in row if v)) for row in values]]
    else:
        rows = [list(record) for record in zip(*values, strict=True)]
    names = _unique(columns)
    return HtmlTable(
        name,
        tuple(names),
        tuple(_pick(r, list(range(len(names)))) for r in rows),
        sections=(None,) * len(rows),
    )


def _labelled(line: _Line) -> bool:
    first = line.cells[0]
    return first.header and bool(first.text) and not any(c.header for c in line.cells[1:])


def _header_names(header_rows: list[list[str]], width: int) -> list[str]:
    """Each column's header rows joined with `` / `` (a spanned cell once); empty when none."""
    names: list[str] = []
    for column in range(width):
        parts: list[str] = []
        for row in header_rows:
            text = row[column]
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        names.append(" / ".join(parts).lstrip("_"))
    return names


def _unique(names: list[str]) -> list[str]:
    """Names made unique (``Votes``, ``Votes (2)``); an empty one is ``column_N``."""
    seen: list[str] = []
    for number, name in enumerate(names, start=1):
        base = name or f"column_{number}"
        candidate, n = base, 2
        while candidate in seen:
            candidate, n = f"{base} ({n})", n + 1
        seen.append(candidate)
    return seen


# -- the grid ------------------------------------------------------------------------


def _grid(table: HtmlElement) -> list[_Line]:
    """The table's own rows with spans expanded: a rowspan fills the rows below it."""
    rows = list(_own_rows(table))
    lines: list[_Line] = []
    pending: dict[int, tuple[_Cell, int]] = {}  # column -> (cell, rows still to fill)
    origin = 0
    for number, (tr, part) in enumerate(rows):
        classes = tr.get("class", "").split()
        pinned = "sortbottom" in classes or "sorttop" in classes
        line = _Line([], part, pinned, "expand-child" in classes)
        column = 0
        for td in tr:
            if not isinstance(td.tag, str) or td.tag not in ("td", "th") or _hidden(td):
                continue
            while column in pending:
                column = _fill_pending(line, pending, column)
            origin += 1
            cell = _Cell(cell_text(td), td.tag == "th", origin, _is_bold(td))
            rowspan = _span(td.get("rowspan"), default=len(rows) - number)
            for _ in range(_span(td.get("colspan"))):
                line.cells.append(cell)
                if rowspan > 1:
                    pending[column] = (cell, rowspan - 1)
                column += 1
        while column in pending:
            column = _fill_pending(line, pending, column)
        line.origins = {c.origin for c in line.cells}
        lines.append(line)
    return lines


def _fill_pending(line: _Line, pending: dict[int, tuple[_Cell, int]], column: int) -> int:
    cell, left = pending.pop(column)
    line.cells.append(cell)
    if left > 1:
        pending[column] = (cell, left - 1)
    return column + 1


def _own_rows(table: HtmlElement) -> Iterator[tuple[HtmlElement, str]]:
    for child in table:
        if child.tag == "tr" and not _hidden(child):
            yield child, "tbody"
        elif child.tag in ("thead", "tbody", "tfoot"):
            yield from ((tr, child.tag) for tr in child if tr.tag == "tr" and not _hidden(tr))


def _span(value: str | None, default: int = 1) -> int:
    """A span attribute as a count: 1 when missing or unreadable, ``default`` for 0."""
    try:
        number = int((value or "1").strip().rstrip(";"))
    except ValueError:
        return 1
    return max(1, min(default if number == 0 else number, _MAX_SPAN))


def _is_bold(cell: HtmlElement) -> bool:
    bold = "".join(b.text_content() for b in cell.iter("b", "strong"))
    return bool(bold.strip()) and " ".join(bold.split()) == " ".join(cell.text_content().split())


# -- cell text -----------------------------------------------------------------------


def cell_text(element: HtmlElement) -> str:
    """What a reader sees in a cell: hidden text and note markers dropped, list items joined
    with ``"; "``, spaces normalised."""
    parts = [element.text or ""]
    _collect(element, parts)
    return clean_text("".join(parts))


def clean_text(text: str) -> str:
    """Spaces normalised (non-breaking, thin, zero-width) and note markers removed."""
    text = " ".join(text.translate(_INVISIBLE).split())
    text = _TEXT_MARKER.sub("", text)
    text = _TRAILING_MARKER.sub("", _STUCK_MARKER.sub("", text))
    return " ".join(text.split())


def _collect(element: HtmlElement, parts: list[str]) -> None:
    """Append the visible text inside ``element`` (not its tail)."""
    for child in element:
        if not isinstance(child.tag, str):
            pass  # a comment or processing instruction: its tail is still text
        elif _unseen(child):
            pass
        elif child.tag in ("ul", "ol"):
            items = [cell_text(li) for li in child if li.tag == "li"]
            parts.append(" " + "; ".join(i for i in items if i) + " ")
        elif child.tag == "br":
            parts.append(" ")
        else:
            block = child.tag in _BLOCK_TAGS
            parts.append(" " if block else "")
            parts.append(child.text or "")
            _collect(child, parts)
            parts.append(" " if block else "")
        parts.append(child.tail or "")


def _unseen(element: HtmlElement) -> bool:
    """Hidden from readers (styles, sort keys, screen-reader text) or a note marker."""
    if element.tag in _UNSEEN_TAGS or _hidden(element):
        return True
    classes = set(element.get("class", "").split())
    return bool(classes & _HIDDEN_CLASSES) or (element.tag == "sup" and _is_note(element, classes))


def _hidden(element: HtmlElement) -> bool:
    """Styled or marked not to show."""
    return element.get("hidden") is not None or bool(_HIDDEN_STYLE.search(element.get("style", "")))


def _is_note(sup: HtmlElement, classes: set[str]) -> bool:
    """A superscript that marks a note: classed so, or ``[1]``, ``†``, a lone letter (``p``
    for provisional), or a number linking to a note; a bare ``2`` (km²) is text."""
    if classes & _NOTE_CLASSES:
        return True
    text = " ".join(sup.text_content().split())
    if any(a.get("href", "").startswith("#") for a in sup.iter("a")):
        return bool(_NOTE_SUP.match(text))
    return bool(_NOTE_SUP.match(text)) and not text.isdigit()
