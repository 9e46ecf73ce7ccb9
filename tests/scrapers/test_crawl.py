"""Crawls against the demo site on a loopback port: commits, faults, limits, increments, media."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from catalog import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace
from demo_site import DemoData, DemoSite
from scrapers.crawl import scrape
from scrapers.runs import last_runs
from tests.scrapers.conftest import write_spec

FAULTS = [
    "/faults/status/500",
    "/faults/status/503",
    "/private/reports",  # third and fifth: Scrapy 2.19 let these through unchecked
    "/faults/status/429",
    "/private/",
    "/faults/status/404",
    "/faults/flaky/crawl-test/2",
    "/faults/slow?seconds=5",
    "/faults/drop",
    "/faults/truncated",
    "/faults/redirect-loop",
    "/faults/redirect/3",
    "/faults/redirect/9",
    "/faults/calendar/2025/03",
    "/faults/huge?mb=8",
    "/faults/huge?mb=8&declare=1",
]


def garden_spec(folder: Path, base_url: str, **keys: object) -> Path:
    """The last listing page of one category and its products: a small, complete crawl."""
    fields = {
        "title": "h1.product-title",
        "price": {"css": ".offer .price::text", "type": "price"},
        "image": {"css": "img.product-image::attr(src)", "type": "image"},
    }
    spec: dict[str, object] = {
        "name": "garden",
        "start_urls": ["/shop/garden/?page=4"],
        "follow": [{"css": ".listing .product-grid a.product-link"}],
        "item": {"pages": "/shop/product/", "fields": fields},
        "extract": ["jsonld"],
        "key": ["sku"],
    }
    return write_spec(folder, base_url, **{**spec, **keys})


def test_faults_are_retried_recorded_and_never_stored(demo_site: DemoSite, tmp_path: Path) -> None:
    demo_site.reset_hits()
    spec = write_spec(
        tmp_path,
        demo_site.url,
        name="faults",
        start_urls=FAULTS,
        follow=[{"css": ".calendar-nav a.next"}],
        limits={"max_pages": 100, "depth": 3, "max_bytes": 1024 * 1024, "timeout": 1},
        cache=False,
    )
    result = scrape(spec, Workspace.at(tmp_path / "home"))
    run = result.run
    assert run.status == "committed" and run.finish_reason == "finished"
    with Catalog.open(tmp_path / "home") as catalog:
        urls = set(catalog.read("raw.faults").column("_url").to_pylist())
    calendar = {f"{demo_site.url}/faults/calendar/2025/{m:02d}" for m in (3, 4, 5, 6)}
    assert urls == {
        *calendar,
        f"{demo_site.url}/faults/flaky/crawl-test/2",
        f"{demo_site.url}/faults/redirect/0",
    }
    assert run.errors_by_reason == {
        "http 500": 1,
        "http 503": 1,
        "http 429": 1,
        "http 404": 1,
        "timeout": 1,
        "connection dropped": 1,
        "truncated body": 1,
        "redirect loop": 1,
        "too many redirects": 1,
        "too large": 2,
    }
    assert run.errors == 11 and {e.url for e in run.error_samples} >= {
        f"{demo_site.url}/faults/status/503"
    }
    for path in (
        "/faults/status/500",
        "/faults/status/503",
        "/faults/status/429",
        "/faults/slow",
        "/faults/truncated",
    ):
        assert demo_site.hits(path) == 3, path  # the first try and two retries
    assert demo_site.hits("/faults/status/404") == 1  # a 404 is not retried
    assert demo_site.hits("/faults/flaky/crawl-test/") == 3  # two 503s, then the page
    assert demo_site.hits("/faults/calendar/") == 4  # the endless calendar stops at depth 3
    assert demo_site.hits("/faults/redirect-loop") == 2
    assert demo_site.hits("/private/") == 0  # disallowed by robots.txt
    assert demo_site.hits("/faults/huge") == 2  # cancelled, not retried


DROPPING = [
    "/faults/gzip-bomb?mb=8",  # 8 KiB on the wire, 8 MiB once decompressed
    "/faults/huge?mb=2&declare=1",
    "/faults/huge?mb=2",
    "/private/",
    "/private/reports",
    "/images/products/1001.png",
    "/faults/redirect/0",
]


def test_dropped_responses_are_counted_by_reason(demo_site: DemoSite, tmp_path: Path) -> None:
    demo_site.reset_hits()
    spec = write_spec(
        tmp_path,
        demo_site.url,
        name="dropping",
        start_urls=DROPPING,
        limits={"max_pages": 20, "depth": 0, "max_bytes": 1024 * 1024, "timeout": 5},
        cache=False,
    )
    run = scrape(spec, Workspace.at(tmp_path / "home")).run
    assert run.status == "committed" and run.items == 1  # only the page at redirect/0
    assert run.dropped == {"size": 3, "robots": 2, "type": 1}
    assert run.errors_by_reason == {"too large": 3}  # the bomb counts like the other two
    assert demo_site.hits("/faults/gzip-bomb") == 1 and demo_site.hits("/private/") == 0
    with Catalog.open(tmp_path / "home") as catalog:
        assert last_runs(catalog, "dropping")[0].dropped == run.dropped


def test_page_limit_stops_the_calendar_trap(demo_site: DemoSite, tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        demo_site.url,
        name="calendar",
        start_urls=["/faults/calendar/1990/01"],
        follow=[{"css": ".calendar-nav a"}],
        limits={"max_pages": 7, "depth": 0},
    )
    run = scrape(spec, Workspace.at(tmp_path / "home")).run
    assert (run.pages, run.items, run.status) == (7, 7, "committed")


def test_rescrapes_commit_only_change_and_replay_reads_the_cache(
    fresh_site: DemoSite, tmp_path: Path
) -> None:
    home = Workspace.at(tmp_path / "home")
    spec = garden_spec(tmp_path, fresh_site.url)
    first = scrape(spec, home)
    assert first.run.status == "committed" and first.version is not None
    assert first.run.items == first.version.rows > 0
    with Catalog.open(home) as catalog:
        rows = catalog.read("raw.garden").to_pylist()
    for row in rows:  # images downloaded into the workspace, once per distinct content
        assert row["image"].startswith("images/") and (home.media / row["image"]).stat().st_size > 0
        assert row["image_url"].startswith(f"{fresh_site.url}/images/products/")
    assert (
        len(list((home.media / "images").iterdir())) == len({r["image"] for r in rows}) == len(rows)
    )

    second = scrape(spec, home)
    assert second.run.status == "unchanged" and second.version == first.version
    assert second.run.message.startswith("content equals raw.garden@1")

    fresh_site.set_day(2)
    fresh_site.reset_hits()
    replayed = scrape(spec, home, replay=True)
    assert fresh_site.hits("/shop/") == 0 and fresh_site.hits("/images/") == 0
    assert (
        replayed.run.status == "unchanged" and replayed.version == first.version
    )  # day 1, from the cache

    third = scrape(spec, home)
    assert (
        third.run.status == "committed" and third.version is not None and third.version.number == 2
    )
    with Catalog.open(home) as catalog:
        diff = catalog.diff("raw.garden@1", "raw.garden@2")
        changed_columns = set(diff.changed.column("column").to_pylist())
        assert "price" in changed_columns  # moved prices, by SKU
        assert not changed_columns & {"_fetched_at", "_run_id", "_status", "_content_hash"}
        moved = diff.changed.filter(pc.equal(diff.changed.column("column"), "price")).to_pylist()
        assert moved and all(row["before"] != row["after"] for row in moved)
        runs = last_runs(catalog, "garden")
    assert [r.status for r in runs] == ["committed", "unchanged", "unchanged", "committed"]
    assert [r.version for r in runs] == [2, 1, 1, 1]


def test_killed_crawl_commits_nothing_and_says_why(demo_site: DemoSite, tmp_path: Path) -> None:
    home = Workspace.at(tmp_path / "home")
    spec = write_spec(
        tmp_path,
        demo_site.url,
        name="killed",
        start_urls=["/tables"],
        spider="tests.scrapers.spiders:KillingSpider",
    )
    result = scrape(spec, home)
    assert result.run.status == "failed" and result.version is None
    assert "killed (signal 9)" in result.run.message
    slow = write_spec(
        tmp_path,
        demo_site.url,
        name="slow",
        start_urls=["/faults/slow?seconds=60"],
        limits={"timeout": 90},
    )
    stopped = scrape(slow, home, timeout_s=3)
    assert stopped.run.status == "failed" and "time limit" in stopped.run.message
    with Catalog.open(home) as catalog:
        assert [d.name for d in catalog.datasets()] == []
        assert {r.source: r.status for r in last_runs(catalog)} == {
            "killed": "failed",
            "slow": "failed",
        }
    assert not any(home.landing.iterdir())


def test_a_spec_names_a_spider_subclass(demo_site: DemoSite, tmp_path: Path) -> None:
    home = Workspace.at(tmp_path / "home")
    spec = write_spec(
        tmp_path,
        demo_site.url,
        name="words",
        start_urls=["/tables"],
        spider="tests.scrapers.spiders:CountingSpider",
    )
    result = scrape(spec, home)
    with Catalog.open(home) as catalog:
        (row,) = catalog.read("raw.words").to_pylist()
    assert result.run.status == "committed" and row["words"] > 50
    bad = write_spec(
        tmp_path,
        demo_site.url,
        name="bad",
        start_urls=["/"],
        spider="tests.scrapers.spiders:NotASpider",
    )
    with pytest.raises(
        InvalidInputError, match=r"must be a subclass of scrapers\.spider\.SourceSpider"
    ):
        scrape(bad, home)


def test_a_dead_page_parser_loses_no_records(demo_site: DemoSite, tmp_path: Path) -> None:
    """The parser process dies on the first page: that page and the rest parse in the crawl."""
    home = Workspace.at(tmp_path / "home")
    normal = scrape(garden_spec(tmp_path, demo_site.url), home)
    killed = garden_spec(
        tmp_path,
        demo_site.url,
        name="garden_killed",
        spider="tests.scrapers.spiders:ParserKillingSpider",
    )
    survived = scrape(killed, home)
    assert normal.run.status == survived.run.status == "committed"
    assert survived.run.errors == 0 and survived.run.pages == normal.run.pages
    with Catalog.open(home) as catalog:
        columns = ["sku", "title", "price", "image"]
        before = catalog.read("raw.garden").select(columns).sort_by("sku").to_pylist()
        after = catalog.read("raw.garden_killed").select(columns).sort_by("sku").to_pylist()
    assert len(before) > 5 and after == before


REVIEW_FIELDS = {
    "review_id": {"css": "::attr(data-review-id)"},
    "rating": {"css": ".review-rating::attr(data-rating)", "type": "int"},
    "author": ".review-author",
}


def product_paths(count: int) -> list[str]:
    return [p.path for p in DemoData(seed=7).day(1).products[:count]]


@pytest.mark.browser
def test_reviews_need_the_browser_and_every_page_is_closed(
    demo_site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_PAGES_PER_CONTEXT", "2")
    home = Workspace.at(tmp_path / "home")
    keys: dict[str, object] = {
        "start_urls": [*product_paths(5), "/faults/status/500", "/tables"],
        "item": {
            "pages": "/shop/product/",
            "each": "#reviews article.review",
            "fields": REVIEW_FIELDS,
        },
        "key": ["review_id"],
        "limits": {"timeout": 10},
        "cache": False,
    }
    browser = scrape(
        write_spec(
            tmp_path,
            demo_site.url,
            name="reviews_browser",
            render="browser",
            wait_for="#reviews[data-state=loaded]",
            **keys,
        ),
        home,
    ).run
    plain = scrape(write_spec(tmp_path, demo_site.url, name="reviews_plain", **keys), home).run
    assert browser.status == "committed" and browser.items > 0
    assert plain.status == "empty" and plain.items == 0  # the reviews are not in the HTML
    with Catalog.open(home) as catalog:
        rows = catalog.read("raw.reviews_browser").to_pylist()
    assert all(1 <= r["rating"] <= 5 and r["author"] for r in rows)
    assert browser.errors_by_reason["http 500"] == 1  # rendered, retried, recorded
    assert browser.errors_by_reason["render timeout"] == 1  # /tables never shows reviews
    stats = browser.counters
    assert (
        stats["browser_pages"] == stats["browser_pages_closed"] >= 7 + 2
    )  # retries of the 500 too
    assert stats["browser_contexts_closed"] >= 2


@pytest.mark.browser
def test_scroll_loads_more_of_an_infinite_page(demo_site: DemoSite, tmp_path: Path) -> None:
    home = Workspace.at(tmp_path / "home")
    keys: dict[str, object] = {
        "start_urls": ["/magazine/infinite"],
        "render": "browser",
        "wait_for": "#feed li.feed-item",
        "item": {
            "each": "#feed li.feed-item",
            "fields": {
                "title": "a.feed-link",
                "link": {"css": "a.feed-link::attr(href)", "type": "url"},
            },
        },
        "key": ["link"],
    }
    still = scrape(write_spec(tmp_path, demo_site.url, name="still", **keys), home).run
    scrolled = scrape(
        write_spec(tmp_path, demo_site.url, name="scrolled", scroll=3, **keys), home
    ).run
    assert still.items == 20 and scrolled.items > 40
