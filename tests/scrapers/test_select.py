"""Compiled selectors: CSS pseudo-elements, parsel's XPath extensions, scoped matches."""

from __future__ import annotations

import pytest
from parsel import Selector

from scrapers.select import select, text_of

PAGE = """<html><body>
<div class="card wide"><h2>Lamp <b>brass</b></h2><a href="/p/1">one</a>
  <span data-price="12.50">£12.50</span><!-- a note --></div>
<div class="card"><h2>Desk</h2><a href="/p/2">two</a><area href="/p/3"></div>
</body></html>"""


@pytest.mark.parametrize(
    ("css", "xpath", "expected"),
    [
        ("h2::text", None, ["Lamp ", "Desk"]),
        ("h2", None, ["Lamp brass", "Desk"]),
        (".card.wide a::attr(href)", None, ["/p/1"]),
        ("a::attr(href), area::attr(href)", None, ["/p/1", "/p/2", "/p/3"]),
        ("span::attr(data-price)", None, ["12.50"]),
        (None, "//div[has-class('wide')]//b/text()", ["brass"]),
        (None, r"//a[re:test(@href, '/p/\d$')]/@href", ["/p/1", "/p/2"]),
        (None, "count(//div)", ["2.0"]),
        (None, "boolean(//area)", ["1"]),
        (None, "//comment()", [" a note "]),
    ],
)
def test_selects_what_parsel_selects(
    css: str | None, xpath: str | None, expected: list[str]
) -> None:
    page = Selector(text=PAGE)
    assert [text_of(m) for m in select(page.root, css, xpath)] == expected
    theirs = page.css(css) if css is not None else page.xpath(xpath or "")
    if all(isinstance(m.root, str) for m in theirs):  # text, attributes: parsel's own strings
        assert [m.root for m in theirs] == expected


def test_matches_inside_an_element_are_relative_to_it() -> None:
    cards = select(Selector(text=PAGE).root, css="div.card")
    assert [text_of(m) for m in select(cards[1], css="h2::text")] == ["Desk"]
    assert [text_of(m) for m in select(cards[0], css="a::attr(href)")] == ["/p/1"]
