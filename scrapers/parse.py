"""What a fetched page yields under a spec: its records and the links to follow.

Pure functions over a Scrapy ``TextResponse`` (in tests, one built from a saved HTML
fixture), so parsing is tested without crawling.

A page yields records only when it matches ``item.pages`` (every page when absent). Its
page-level row merges, in rising precedence, the structured extractors, ``product``,
``article`` and the item fields; with ``item.each`` each match is one record (its fields over the
page-level row), with ``tables`` each table row is one record (over the page-level row),
and otherwise the page is one record. A spec with neither ``item`` nor ``extract`` records
every page it fetches (provenance columns only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scrapy.http import TextResponse

from scrapers.extract import article_row, structured_row, table_rows
from scrapers.product import product_row
from scrapers.select import Node, select
from scrapers.spec import FollowRule, Render, SourceSpec, is_xpath
from scrapers.values import Row, field_columns, select_texts

_STRUCTURED = ("jsonld", "microdata", "opengraph")


@dataclass(frozen=True)
class Link:
    """A link to follow, and how to fetch it."""

    url: str
    render: Render


def yields_records(spec: SourceSpec, url: str) -> bool:
    """Whether the page at ``url`` yields records (``item.pages``)."""
    pattern = spec.item.pages if spec.item else None
    return pattern is None or re.search(pattern, url) is not None


def page_rows(response: TextResponse, spec: SourceSpec) -> list[Row]:
    """The records one page yields under ``spec`` (provenance columns are added later)."""
    if not spec.item and not spec.extract:
        return [{}]
    if not yields_records(spec, response.url):
        return []
    page: Row = {}
    structured = [e for e in spec.extract if e in _STRUCTURED]
    if structured:
        page.update(structured_row(response.selector.root, response.url, structured))
    if "product" in spec.extract:
        found = product_row(response.selector.root, response.url, spec.product.fields)
        page.update({k: v for k, v in found.items() if v is not None or k not in page})
    if "article" in spec.extract:
        page.update(
            {
                k: v
                for k, v in article_row(response.text, response.url).items()
                if v is not None or k not in page
            }
        )
    item = spec.item
    if item is not None and item.each is None:
        for name, field in item.fields.items():
            page.update(field_columns(name, field, select_texts(response, field), response.url))
    rows: list[Row] = []
    if item is not None and item.each is not None:
        for scope in _each(response, item.each):
            row = dict(page)
            for name, field in item.fields.items():
                row.update(field_columns(name, field, select_texts(scope, field), response.url))
            rows.append(row)
    if "tables" in spec.extract:
        rows.extend({**page, **table} for table in table_rows(response.selector.root))
    if (
        (item is None or item.each is None)
        and "tables" not in spec.extract
        and any(v is not None for v in page.values())
    ):
        rows.append(page)
    return rows


def _each(response: TextResponse, each: str) -> list[Node]:
    return select(response, xpath=each) if is_xpath(each) else select(response, css=each)


def follow_links(
    response: TextResponse, rules: tuple[FollowRule, ...], default: Render
) -> list[Link]:
    """Links the follow rules select on this page, absolute, without fragments, in page order."""
    found: dict[str, Link] = {}
    for rule in rules:
        pattern = re.compile(rule.pattern) if rule.pattern else None
        for href in _hrefs(response, rule):
            url = response.urljoin(href.strip()).split("#", 1)[0]
            if not url.startswith(("http://", "https://")) or url in found:
                continue
            if pattern is None or pattern.search(url):
                found[url] = Link(url=url, render=rule.render or default)
    return list(found.values())


_LINKS = "a::attr(href), area::attr(href)"


def _hrefs(response: TextResponse, rule: FollowRule) -> list[str]:
    if rule.css is None and rule.xpath is None:
        return [str(href) for href in select(response, css=_LINKS)]
    hrefs: list[str] = []
    for region in select(response, rule.css, rule.xpath):
        if isinstance(region, str):
            hrefs.append(region)
        elif getattr(region, "tag", None) in ("a", "area"):
            if (href := region.get("href")) is not None:
                hrefs.append(href)
        elif isinstance(getattr(region, "tag", None), str):  # a region: its links
            hrefs.extend(str(href) for href in select(region, css=_LINKS))
    return hrefs
