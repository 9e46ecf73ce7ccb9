"""Selectors compiled once per crawl and run on the page's lxml tree.

Parsel translates and compiles a selector again on every call and wraps every match in a
``Selector``; over thousands of pages with a dozen selectors each, that was most of what
parsing cost. Here each spec selector (CSS through parsel's own translator, so ``::text``
and ``::attr()`` mean the same, or XPath with parsel's ``re:`` and ``set:`` namespaces and
``has-class()``) is compiled to an ``lxml.etree.XPath`` once and run on lxml nodes
directly. Matches are strings (text and attribute nodes, XPath values) or elements.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeAlias

import html_text
from lxml import etree
from parsel.csstranslator import css2xpath
from scrapy.http import TextResponse

Node = Any  # an lxml element, or a string when a selector ends in text or an attribute
Scope: TypeAlias = "TextResponse | etree._Element"
NAMESPACES = {"re": "http://exslt.org/regular-expressions", "set": "http://exslt.org/sets"}


@lru_cache(maxsize=1024)
def compiled(css: str | None = None, xpath: str | None = None) -> etree.XPath:
    """``css`` (or else ``xpath``) as a compiled XPath, relative to the node it runs on."""
    query = css2xpath(css) if css is not None else (xpath or "")
    # only the prefixes it uses: lxml logs an error for each EXSLT registration per call
    used = {prefix: uri for prefix, uri in NAMESPACES.items() if f"{prefix}:" in query}
    return etree.XPath(query, namespaces=used, smart_strings=False)


def select(scope: Scope, css: str | None = None, xpath: str | None = None) -> list[Node]:
    """What ``css`` (or ``xpath``) matches inside ``scope``, in document order."""
    found = compiled(css, xpath)(root_of(scope))
    return found if isinstance(found, list) else [found]


def root_of(scope: Scope) -> etree._Element:
    """The lxml node of a response, or a node itself."""
    return scope.selector.root if isinstance(scope, TextResponse) else scope


def text_of(match: Node) -> str:
    """A match as text: strings as they are, elements as their visible text (html-text:
    cells and blocks apart, whitespace collapsed), XPath numbers and booleans as parsel
    gives them."""
    if isinstance(match, str):
        return match
    if isinstance(match, bool):
        return "1" if match else "0"
    if isinstance(match, float):
        return str(match)
    if not isinstance(match.tag, str):  # a comment or processing instruction
        return str(match.text or "")
    return str(html_text.etree_to_text(match, guess_layout=False))
