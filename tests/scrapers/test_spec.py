"""Source specs: every key is read, and every kind of mistake is one sentence naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInputError
from scrapers.spec import DEFAULT_DEMO_URL, load_spec, parse_spec
from tests.scrapers.conftest import make_spec

FULL = """
name: shop
title: Demo shop
description: Products of the demo shop.
license: CC0-1.0
tags: [shop, products]
publisher: Harvest
base_url: http://127.0.0.1:9999/
start_urls: [/shop/, "http://127.0.0.1:9999/magazine/"]
allowed_domains: [127.0.0.1]
follow:
  - css: a.next
  - {xpath: "//div[@class='cards']", pattern: "/p/\\\\d+", render: browser}
  - pattern: "/shop/[a-z]+/$"
limits: {max_pages: 50, depth: 3, max_bytes: 100000, timeout: 5}
render: http
wait_for: ".reviews"
scroll: 2
item:
  each: .card
  pages: "/shop/"
  fields:
    title: h1::text
    price: {css: .price::text, type: price}
    tags: {css: .tag::text, many: true, processors: [strip, {join: ", "}]}
    stars: {xpath: "//p/@data-stars", type: int, processors: [{regex: "(\\\\d+)"}]}
extract: [jsonld, microdata, opengraph, article, tables]
key: [sku, _url]
schedule: "0 6 * * *"
politeness: {delay: 0.1, concurrency: 4, robots: false}
cache: false
spider: tests.scrapers.spiders:CountingSpider
"""


def test_every_key_is_read(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(FULL)
    spec = load_spec(path)
    assert spec.name == "shop" and spec.title == "Demo shop" and spec.license == "CC0-1.0"
    assert spec.tags == ("shop", "products") and spec.publisher == "Harvest"
    assert spec.start_urls == ("http://127.0.0.1:9999/shop/", "http://127.0.0.1:9999/magazine/")
    assert spec.allowed_hosts == ("127.0.0.1",)
    assert [r.css for r in spec.follow] == ["a.next", None, None]
    assert spec.follow[1].render == "browser" and spec.uses_browser
    assert (
        spec.limits.max_pages,
        spec.limits.depth,
        spec.limits.max_bytes,
        spec.limits.timeout,
    ) == (50, 3, 100000, 5)
    assert spec.wait_for == ".reviews" and spec.scroll == 2
    assert spec.item is not None and spec.item.each == ".card" and spec.item.pages == "/shop/"
    assert spec.item.fields["title"].css == "h1::text"
    assert spec.item.fields["tags"].many and [
        p.kind for p in spec.item.fields["tags"].processors
    ] == ["strip", "join"]
    assert spec.item.fields["tags"].processors[1].arg == ", "
    assert (
        spec.item.fields["stars"].type == "int"
        and spec.item.fields["stars"].processors[0].arg == "(\\d+)"
    )
    assert spec.extract == ("jsonld", "microdata", "opengraph", "article", "tables")
    assert spec.key == ("sku", "_url") and spec.schedule == "0 6 * * *"
    assert (spec.politeness.delay, spec.politeness.concurrency, spec.politeness.robots) == (
        0.1,
        4,
        False,
    )
    assert spec.cache is False and spec.spider == "tests.scrapers.spiders:CountingSpider"
    assert "price_currency" in spec.columns() and "_content_hash" in spec.columns()


def test_defaults_are_safe() -> None:
    spec = make_spec()
    assert spec.render == "http" and spec.key == ("_url",) and spec.cache
    assert spec.politeness.robots and spec.politeness.delay > 0
    assert spec.limits.max_pages == 1000 and spec.limits.depth == 10
    assert spec.allowed_hosts == ("shop.example",)


def test_base_url_option_wins_and_demo_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"name": "d", "base_url": "{demo}", "start_urls": ["/shop/"]}
    monkeypatch.delenv("HARVEST_DEMO_URL", raising=False)
    assert parse_spec(data, "d.yaml").start_urls == (f"{DEFAULT_DEMO_URL}/shop/",)
    monkeypatch.setenv("HARVEST_DEMO_URL", "http://127.0.0.1:5555")
    assert parse_spec(data, "d.yaml").start_urls == ("http://127.0.0.1:5555/shop/",)
    assert parse_spec(data, "d.yaml", base_url="http://localhost:1/x/").start_urls == (
        "http://localhost:1/x/shop/",
    )


MISTAKES: list[tuple[dict[str, Any], str]] = [
    ({"nmae": "x"}, "unknown key `nmae`"),
    ({"limits": {"max_page": 3}}, "unknown key `limits.max_page`"),
    ({"item": {"fields": {"a": {"css": "a", "typ": "int"}}}}, "unknown key `item.fields.a.typ`"),
    ({"start_urls": []}, "`start_urls`"),
    ({"limits": {"max_pages": "many"}}, "`limits.max_pages`"),
    ({"politeness": {"concurrency": 0}}, "`politeness.concurrency`"),
    ({"render": "chrome"}, "`render`"),
    ({"extract": ["rss"]}, "`extract[0]`"),
    ({"item": {"fields": {"a": {"css": "a", "type": "money"}}}}, "`item.fields.a.type`"),
    (
        {"item": {"fields": {"a": {"css": "a[", "type": "text"}}}},
        "`item.fields.a.css` is not a valid CSS selector",
    ),
    (
        {"item": {"fields": {"a": {"xpath": "//a[", "type": "text"}}}},
        "`item.fields.a.xpath` is not a valid XPath",
    ),
    (
        {"item": {"fields": {"a": {"css": "a", "xpath": "//a"}}}},
        "`item.fields.a` needs exactly one of `css` or `xpath`",
    ),
    (
        {"item": {"fields": {"a": {"type": "int"}}}},
        "`item.fields.a` needs exactly one of `css` or `xpath`",
    ),
    (
        {"item": {"fields": {"a": {"css": "a", "many": True, "type": "price"}}}},
        "`item.fields.a` cannot be `many`",
    ),
    (
        {"item": {"fields": {"a": {"css": "a", "processors": [{"regex": "("}]}}}},
        "`item.fields.a.processors[0]` is not a valid regular expression",
    ),
    (
        {"item": {"fields": {"a": {"css": "a", "processors": ["upper"]}}}},
        "`item.fields.a.processors[0].kind`",
    ),
    ({"item": {"fields": {"Bad Name": "a"}}}, "`item.fields` has a field named 'Bad Name'"),
    ({"item": {"pages": "(["}}, "`item.pages` is not a valid regular expression"),
    ({"item": {"each": "div["}}, "`item.each` is not a valid CSS selector"),
    ({"follow": [{"render": "browser"}]}, "`follow[0]` needs `css`, `xpath` or `pattern`"),
    ({"follow": [{"pattern": "*x"}]}, "`follow[0].pattern` is not a valid regular expression"),
    ({"name": "Shop Items"}, "`name` must be lower-case"),
    ({"schedule": "every day"}, "`schedule` 'every day' is not a cron expression"),
    ({"key": ["sku"]}, "`key` names 'sku', which no field or extractor"),
    ({"wait_for": ".x"}, "only apply with `render: browser`"),
    ({"spider": "not a class"}, "`spider` must name a spider class"),
]


@pytest.mark.parametrize(("keys", "message"), MISTAKES, ids=[m for _, m in MISTAKES])
def test_each_mistake_is_one_sentence_naming_the_key(keys: dict[str, Any], message: str) -> None:
    data = {"name": "test", "start_urls": ["https://shop.example/"], **keys}
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(data, "bad.yaml")
    text = str(caught.value)
    assert message in text
    assert text.startswith("Source spec bad.yaml: ") and text.endswith(".") and "\n" not in text


def test_missing_name_and_relative_url_without_base() -> None:
    with pytest.raises(InvalidInputError, match="`name` is required"):
        parse_spec({"start_urls": ["https://x.example/"]}, "s.yaml")
    with pytest.raises(InvalidInputError, match=r"relative URL '/shop/'.*--base-url"):
        parse_spec({"name": "s", "start_urls": ["/shop/"]}, "s.yaml")
    with pytest.raises(InvalidInputError, match="not an http"):
        parse_spec({"name": "s", "start_urls": ["ftp://x.example/"]}, "s.yaml")


def test_not_yaml_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(InvalidInputError, match=r"broken\.yaml is not valid YAML at line"):
        load_spec(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(InvalidInputError, match="must be a YAML mapping"):
        load_spec(listed)
    with pytest.raises(InvalidInputError, match="Cannot read source spec"):
        load_spec(tmp_path / "absent.yaml")
