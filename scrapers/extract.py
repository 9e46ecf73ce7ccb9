"""Automatic extractors: structured data, article text and HTML tables, as flat rows.

- ``jsonld``, ``microdata``, ``opengraph``: the page's main schema.org entity (a
  Product, an Article...; breadcrumbs and site boilerplate are skipped), flattened to
  fixed columns (``STRUCTURED``) such as name, price, currency, sku, gtin, brand,
  availability. When several syntaxes describe the page, the first listed wins and later
  ones fill what it lacks. Microdata and Open Graph come from extruct. JSON-LD is read
  here the way extruct's own ``JsonLdExtractor`` reads it (every
  ``script[type="application/ld+json"]``, lenient JSON, comments tolerated): importing
  extruct's package also imports bs4, mf2py and rdflib, 0.3-0.4 s in every crawl process,
  and a JSON-LD-only crawl need not pay that.
- ``article`` (via trafilatura): main text, title, author and date, boilerplate removed.
- ``tables``: every data table (one with header cells, not marked ``role=presentation``,
  not holding other tables) as records; multi-row headers (with colspan/rowspan) become
  column names joined with `` / ``. Cells stay text: the raw stage keeps what the
  page said and cleaning types it.

Every extractor has a fixed set of columns so a dataset's schema does not change with
what one crawl happened to see (table headers aside).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from scrapers.values import Row, Value, parse_date, parse_number

_SYNTAX = {"jsonld": "json-ld", "microdata": "microdata", "opengraph": "opengraph"}
_JSONLD_SCRIPTS = lxml.etree.XPath('descendant-or-self::script[@type="application/ld+json"]')
_LEADING_COMMENT = re.compile(r"^\s*(//.*|<!--.*-->)")
_SKIPPED_TYPES = {
    "BreadcrumbList",
    "WebSite",
    "WebPage",
    "Organization",
    "SearchAction",
    "ItemList",
    "SiteNavigationElement",
    "ListItem",
}
_OPENGRAPH = {
    "og:title": "name",
    "og:description": "description",
    "og:image": "image",
    "og:url": "url",
    "product:price:amount": "price",
    "product:price:currency": "currency",
    "product:availability": "availability",
    "og:availability": "availability",
    "product:brand": "brand",
    "product:retailer_item_id": "sku",
    "product:category": "category",
    "product:condition": "condition",
    "article:author": "author",
    "article:published_time": "date_published",
    "article:section": "category",
}


# -- structured data -----------------------------------------------------------------


def structured_row(page: str | HtmlElement, url: str, extractors: Sequence[str]) -> Row:
    """The page's main entity from the listed syntaxes, flattened (empty when none is found).

    ``page`` is the HTML or, to save parsing it again, its lxml tree (left unchanged).
    """
    syntaxes = [_SYNTAX[e] for e in extractors if e in _SYNTAX]
    if not syntaxes:
        return {}
    tree = lxml.html.fromstring(page) if isinstance(page, str) else page
    others = [syntax for syntax in syntaxes if syntax != "json-ld"]
    found: dict[str, Any] = {}
    if others:
        import extruct  # heavy; only specs that use microdata or Open Graph pay for the import

        found = extruct.extract(tree, base_url=url, syntaxes=others, uniform=True, errors="ignore")
    if "json-ld" in syntaxes:
        found["json-ld"] = list(jsonld_entities(tree))
    row: Row = {}
    for syntax in syntaxes:
        entities = found.get(syntax) or []
        flat = (
            _flatten_opengraph(entities)
            if syntax == "opengraph"
            else _flatten(_main_entity(entities))
        )
        for column, value in flat.items():
            if row.get(column) is None and value is not None:
                row[column] = value
    return row


def jsonld_entities(tree: HtmlElement) -> Iterator[Any]:
    """Every top-level JSON-LD item of the page; a script that is not JSON is skipped."""
    for script in _JSONLD_SCRIPTS(tree):
        text = str(script.xpath("string()"))
        try:
            data = json.loads(text, strict=False)
        except ValueError:
            import jstyleson  # JSON with JavaScript comments, as extruct reads it

            try:
                data = jstyleson.loads(_LEADING_COMMENT.sub("", text), strict=False)
            except ValueError:
                continue
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        yield from (item for item in items if item)


def _main_entity(entities: Iterable[Any]) -> Mapping[str, Any]:
    candidates = [e for e in _walk_graph(entities) if isinstance(e, Mapping)]
    for entity in candidates:
        if not set(_types(entity)) & _SKIPPED_TYPES:
            return entity
    return {}


def _walk_graph(entities: Iterable[Any]) -> Iterable[Any]:
    for entity in entities:
        if isinstance(entity, Mapping) and isinstance(entity.get("@graph"), list):
            yield from entity["@graph"]
        else:
            yield entity


def _types(entity: Mapping[str, Any]) -> list[str]:
    kind = entity.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [str(k).rsplit("/", 1)[-1] for k in kinds if k]


def _first(value: Any) -> Any:
    return (
        value[0]
        if isinstance(value, list) and value
        else (None if isinstance(value, list) else value)
    )


def _text(value: Any, *keys: str) -> str | None:
    """A scalar from a schema.org value: strings as they are, objects by ``keys`` (name, url...)."""
    value = _first(value)
    if isinstance(value, Mapping):
        for key in (*keys, "name", "@value", "url", "@id"):
            if value.get(key) is not None:
                return _text(value[key])
        return None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _enum(value: Any) -> str | None:
    """``https://schema.org/InStock`` -> ``InStock``."""
    text = _text(value)
    return text.rstrip("/").rsplit("/", 1)[-1] if text else None


def _float(value: Any) -> float | None:
    text = _text(value)
    number = parse_number(text) if text else None
    return float(number) if number is not None else None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _flatten(entity: Mapping[str, Any]) -> Row:
    if not entity:
        return {}
    offers = _first(entity.get("offers")) or {}
    offers = offers if isinstance(offers, Mapping) else {}
    spec = _first(offers.get("priceSpecification")) or {}
    spec = spec if isinstance(spec, Mapping) else {}
    rating = _first(entity.get("aggregateRating")) or {}
    rating = rating if isinstance(rating, Mapping) else {}
    authors = entity.get("author")
    author_list = authors if isinstance(authors, list) else [authors]
    author_names = [a for a in (_text(a) for a in author_list) if a]
    published = _text(entity.get("datePublished"))
    return {
        "name": _text(entity.get("name")) or _text(entity.get("headline")),
        "description": _text(entity.get("description")),
        "sku": _text(entity.get("sku")) or _text(offers.get("sku")),
        "gtin": next(
            (
                _text(entity.get(k))
                for k in ("gtin13", "gtin", "gtin12", "gtin14", "gtin8")
                if entity.get(k)
            ),
            None,
        ),
        "mpn": _text(entity.get("mpn")),
        "brand": _text(entity.get("brand")),
        "price": _float(offers.get("price") or offers.get("lowPrice") or spec.get("price")),
        "currency": _text(offers.get("priceCurrency") or spec.get("priceCurrency")),
        "availability": _enum(offers.get("availability")),
        "condition": _enum(offers.get("itemCondition") or entity.get("itemCondition")),
        "category": _text(entity.get("category")),
        "image": _text(entity.get("image"), "contentUrl", "url"),
        "url": _text(entity.get("url")),
        "rating": _float(rating.get("ratingValue")),
        "review_count": _int(rating.get("reviewCount") or rating.get("ratingCount")),
        "author": ", ".join(author_names) or None,
        "date_published": parse_date(published) if published else None,
        "schema_type": next(iter(_types(entity)), None),
    }


def _flatten_opengraph(entities: Iterable[Any]) -> Row:
    row: Row = {}
    for entity in entities:
        if not isinstance(entity, Mapping):
            continue
        for prop, column in _OPENGRAPH.items():
            value: Value = _text(entity.get(prop))
            if value is None or row.get(column) is not None:
                continue
            if column == "price":
                value = _float(value)
            elif column == "date_published":
                value = parse_date(str(value))
            row[column] = value
        if row.get("schema_type") is None and entity.get("@type"):
            row["schema_type"] = str(entity["@type"])
    return row


# -- article -------------------------------------------------------------------------


def article_row(html: str, url: str) -> Row:
    """Main text, title, author, date (and description, site, categories, tags) of an article."""
    import trafilatura  # heavy; only specs that use it pay for the import

    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=False
    )
    if document is None:
        return {}
    found = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    date_text = found.get("date")
    return {
        "title": found.get("title") or None,
        "author": found.get("author") or None,
        "date": parse_date(date_text) if date_text else None,
        "text": found.get("text") or None,
        "description": found.get("description") or None,
        "sitename": found.get("sitename") or None,
        "categories": ", ".join(found.get("categories") or []) or None,
        "tags": ", ".join(found.get("tags") or []) or None,
    }


# -- tables --------------------------------------------------------------------------


def table_rows(page: str | HtmlElement) -> list[Row]:
    """Every data table on the page as rows keyed by header; ``_table`` and ``_row`` say where."""
    root = lxml.html.fromstring(page) if isinstance(page, str) else page
    rows: list[Row] = []
    for index, table in enumerate(root.iter("table"), start=1):
        if _is_layout(table):
            continue
        grid = _grid(table)
        header_count = _header_rows(table, grid)
        width = max((len(cells) for cells, _ in grid), default=0)
        if header_count == 0 or width < 2 or len(grid) - header_count < 1:
            continue  # no header cells: layout, not data
        headers = _header_names([r for r, _ in grid[:header_count]], width)
        caption = table.find("caption")
        name = _clean(caption.text_content()) if caption is not None else ""
        label = name or table.get("id") or f"table {index}"
        for number, (cells, _) in enumerate(grid[header_count:], start=1):
            row: Row = {"_table": label, "_row": number}
            for column, cell in zip(headers, cells, strict=False):
                row[column] = cell or None
            rows.append(row)
    return rows


def _is_layout(table: HtmlElement) -> bool:
    """Tables that arrange a page rather than hold data: marked so, or holding other tables."""
    if table.get("role") in ("presentation", "none"):
        return True
    return any(t is not table for t in table.iter("table"))


def _clean(text: str) -> str:
    return " ".join(text.split())


def _grid(table: HtmlElement) -> list[tuple[list[str], bool]]:
    """The table as a rectangular grid of cell texts (spans repeated), with 'all header cells' flags."""
    grid: list[tuple[list[str], bool]] = []
    pending: dict[int, tuple[str, int]] = {}  # column -> (text, rows still to fill)
    for tr in _own_rows(table):
        cells: list[str] = []
        column = 0
        all_th = True
        for cell in tr:
            if not isinstance(cell.tag, str) or cell.tag not in ("td", "th"):
                continue
            while column in pending:
                column = _fill_pending(cells, pending, column)
            all_th = all_th and cell.tag == "th"
            text = _clean(cell.text_content())
            colspan = _span(cell.get("colspan"))
            rowspan = _span(cell.get("rowspan"))
            for _ in range(colspan):
                cells.append(text)
                if rowspan > 1:
                    pending[column] = (text, rowspan - 1)
                column += 1
        while column in pending:
            column = _fill_pending(cells, pending, column)
        grid.append((cells, all_th and bool(cells)))
    return grid


def _fill_pending(cells: list[str], pending: dict[int, tuple[str, int]], column: int) -> int:
    text, left = pending.pop(column)
    cells.append(text)
    if left > 1:
        pending[column] = (text, left - 1)
    return column + 1


def _own_rows(table: HtmlElement) -> list[HtmlElement]:
    rows = []
    for child in table:
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(tr for tr in child if tr.tag == "tr")
    return rows


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def _header_rows(table: HtmlElement, grid: list[tuple[list[str], bool]]) -> int:
    thead = table.find("thead")
    if thead is not None:
        return sum(1 for tr in thead if tr.tag == "tr")
    count = 0
    for _, all_th in grid:
        if not all_th:
            break
        count += 1
    return count


def _header_names(header_rows: list[list[str]], width: int) -> list[str]:
    names: list[str] = []
    for column in range(width):
        parts: list[str] = []
        for row in header_rows:
            text = row[column] if column < len(row) else ""
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        name = " / ".join(parts) or f"column_{column + 1}"
        if name.startswith("_"):
            name = name.lstrip("_") or f"column_{column + 1}"
        candidate, n = name, 2
        while candidate in names:
            candidate, n = f"{name} ({n})", n + 1
        names.append(candidate)
    return names
