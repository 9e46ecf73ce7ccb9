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
- ``tables``: every data table as records, read as its author meant it (spans expanded,
  multi-row headers joined with `` / ``, notes and sort keys dropped, totals apart); see
  ``scrapers.html_tables``. Cells stay text: the raw stage keeps what the page said and
  cleaning types it.

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

from scrapers.html_tables import table_rows as table_rows
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
