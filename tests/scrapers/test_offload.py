"""Pages parsed in the worker process: the same rows, links and hash as in the crawl process;
errors come back for their page; a dead worker fails its pages instead of hanging them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
from scrapy.http import HtmlResponse

from scrapers.offload import PageParser, ParsedPage, ParserDied, parse_response
from tests.scrapers.conftest import FIXTURES, fixture_response, make_spec
from tests.scrapers.spiders import UnreadableResponse

SPEC = make_spec(
    extract=["jsonld", "microdata"],
    follow=[{"css": "a"}],
    item={
        "fields": {
            "title": "h1",
            "price": {"css": ".price::text", "type": "price"},
            "links": {"css": "a::attr(href)", "many": True, "type": "url"},
        }
    },
)
PAGES = [
    ("product.html", "https://shop.example/shop/p/lamp-17"),
    ("listing.html", "https://shop.example/shop/lighting/?page=2"),
    ("article.html", "https://shop.example/magazine/a/1"),
    ("tables.html", "https://shop.example/tables"),
]


def parse_all(
    loop: asyncio.AbstractEventLoop, parser: PageParser, responses: list[HtmlResponse], follow: bool
) -> list[object]:
    """Every page sent at once, as a crawl does; each result or the exception it raised."""

    async def together() -> list[object]:
        pages = (parser.parse(response, follow) for response in responses)
        return await asyncio.gather(*pages, return_exceptions=True)

    return loop.run_until_complete(together())


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every page a parser gets, as in a crawl."""
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture
def parser(loop: asyncio.AbstractEventLoop) -> Iterator[PageParser]:
    started = PageParser(SPEC)
    yield started
    close(loop, started)


def close(loop: asyncio.AbstractEventLoop, parser: PageParser) -> None:
    """``close()``, then one turn of the loop, as the crawl's loop goes on after it."""
    parser.close()
    loop.run_until_complete(asyncio.sleep(0))


def test_the_worker_parses_as_the_crawl_process_does(
    loop: asyncio.AbstractEventLoop, parser: PageParser
) -> None:
    responses = [fixture_response(name, url) for name, url in PAGES] * 3
    for follow in (True, False):
        here = [parse_response(response, SPEC, follow) for response in responses]
        there = parse_all(loop, parser, responses, follow)
        assert there == here
    product = here[0]
    assert isinstance(product, ParsedPage) and product.rows[0]["sku"] == "LAMP-17"
    assert product.links == [] and here[1].links == []  # not following: no links extracted
    assert parse_response(responses[1], SPEC, True).links  # the listing has links to follow


def test_an_error_comes_back_for_its_page_only(
    loop: asyncio.AbstractEventLoop, parser: PageParser
) -> None:
    body = (FIXTURES / "product.html").read_bytes()
    broken = UnreadableResponse(url=PAGES[0][1], body=body, encoding="utf-8")
    fine = fixture_response(*PAGES[0])
    first, error, last = parse_all(loop, parser, [fine, broken, fine], follow=False)
    assert isinstance(error, ValueError) and str(error) == "this page cannot be read"
    assert first == last == parse_response(fine, SPEC, False)


def test_a_dead_worker_fails_its_pages_and_every_later_one(
    loop: asyncio.AbstractEventLoop, parser: PageParser
) -> None:
    responses = [fixture_response(name, url) for name, url in PAGES]
    assert all(isinstance(page, ParsedPage) for page in parse_all(loop, parser, responses, True))
    os.kill(parser.pid, signal.SIGKILL)
    outcomes = parse_all(loop, parser, responses * 50, follow=True)
    assert outcomes and all(isinstance(outcome, ParserDied) for outcome in outcomes)


def test_close_ends_the_worker(loop: asyncio.AbstractEventLoop) -> None:
    parser = PageParser(SPEC)
    assert isinstance(parse_all(loop, parser, [fixture_response(*PAGES[0])], True)[0], ParsedPage)
    close(loop, parser)
    with pytest.raises(ChildProcessError):
        os.waitpid(parser.pid, os.WNOHANG)  # reaped: gone
    unused = PageParser(SPEC)  # closed before it parsed anything: still ends
    close(loop, unused)
    with pytest.raises(ChildProcessError):
        os.waitpid(unused.pid, os.WNOHANG)
