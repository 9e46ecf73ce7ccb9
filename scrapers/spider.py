"""The one spider that runs any source spec.

``SourceSpider(spec=...)`` starts from ``spec.start_urls``, yields a ``PageRecord`` per
record a page holds (``scrapers.parse.page_rows``) and follows the links its follow
rules select, rendering with Playwright only the requests whose rule (or the spec) says
``browser``. It keeps its own page budget (``limits.max_pages`` requests, start URLs
included) so a crawl stops where the spec says, whatever the site does. Failed requests
(after their retries) are counted by reason and sampled for the crawl's stats; responses
dropped by a limit (over the size limit, compressed or not) or because they are not text
are also counted as dropped (``harvest/dropped/<reason>``; robots.txt refusals are Scrapy's
``robotstxt/forbidden``).

Pages are parsed on a worker process (``scrapers.offload``) while the crawl goes on
fetching; if the worker dies, the spider parses in its own process from then on.

A source that needs code subclasses it and names the class in the spec's ``spider`` key
(``package.module:ClassName``); override ``parse_page`` (or ``records``/``next_pages``)
and keep the rest. A subclass that overrides ``records`` or ``next_pages`` has its pages
parsed in the crawl's own process, where its code runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectionDone, ConnectionLost, TimeoutError
from twisted.python.failure import Failure

from core.errors import InvalidInputError
from scrapers.items import PageRecord
from scrapers.landing import CrawlError
from scrapers.middlewares import RenderTimeout, finish_rendering
from scrapers.offload import PageParser, ParsedPage, ParserDied, parse_response
from scrapers.parse import Link, follow_links
from scrapers.spec import Render, SourceSpec
from scrapers.values import Row

ERROR_SAMPLES = 50
logger = logging.getLogger(__name__)


class SourceSpider(scrapy.Spider):
    """Crawls one source spec; see the module docstring."""

    name = "harvest"

    def __init__(self, spec: SourceSpec, max_pages: int | None = None, **kwargs: Any) -> None:
        super().__init__(name=spec.name, **kwargs)
        self.spec = spec
        self.allowed_domains = list(spec.allowed_hosts)
        self.max_pages = max_pages or spec.limits.max_pages
        self.scheduled: set[str] = set()
        self.error_samples: list[CrawlError] = []
        self.parser: PageParser | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_dropped, signal=signals.request_dropped)
        if spider.parses_elsewhere():
            spider.parser = PageParser(spider.spec)
            crawler.signals.connect(spider.close_parser, signal=signals.spider_closed)
        return spider

    def parses_elsewhere(self) -> bool:
        """Whether pages can be parsed on a worker: only the generic hooks run there."""
        cls = type(self)
        return cls.records is SourceSpider.records and cls.next_pages is SourceSpider.next_pages

    def close_parser(self) -> None:
        if self.parser is not None:
            self.parser.close()
            self.parser = None

    async def start(self) -> AsyncIterator[Request]:
        for url in self.spec.start_urls:
            request = self.request_for(url, self.spec.render)
            if request is not None:
                yield request

    def request_for(self, url: str, render: Render) -> Request | None:
        """A request for ``url`` within the page budget (None when seen or over budget)."""
        if url in self.scheduled or len(self.scheduled) >= self.max_pages:
            return None
        self.scheduled.add(url)
        meta: dict[str, Any] = {}
        if render == "browser":
            meta.update(
                playwright=True, dont_cache=True, playwright_page_methods=self.page_methods()
            )
        return Request(url, callback=self.parse_page, errback=self.on_error, meta=meta)

    def page_methods(self) -> list[Any]:
        """What a browser page does after loading: wait for ``wait_for``, scroll ``scroll`` times."""
        from scrapy_playwright.page import PageMethod

        spec = self.spec
        if not spec.wait_for and not spec.scroll:
            return []
        return [
            PageMethod(finish_rendering, spec.wait_for, spec.scroll, spec.limits.timeout * 1000)
        ]

    # -- callbacks ----------------------------------------------------------------------

    async def parse_page(self, response: Response) -> AsyncIterator[PageRecord | Request]:
        """Records of the page, then the pages it links to."""
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("harvest/dropped/type")
            return
        self.crawler.stats.inc_value("harvest/pages")
        parsed = await self.parsed_elsewhere(response)
        if parsed is None:
            for record in self.records(response):
                yield record
            for request in self.next_pages(response):
                yield request
            return
        for record in self.to_records(response, parsed.rows, parsed.content_hash):
            yield record
        for request in self.to_requests(parsed.links):
            yield request

    async def parsed_elsewhere(self, response: TextResponse) -> ParsedPage | None:
        """The page parsed on the worker; None without one (or when it died just now)."""
        if self.parser is None:
            return None
        try:
            return await self.parser.parse(response, follow=self.budget_left())
        except ParserDied:
            if self.parser is not None:
                logger.warning(
                    "The page parser process died; parsing in the crawl process from now on."
                )
                self.crawler.stats.inc_value("harvest/parser_died")
                self.close_parser()
            return None

    def records(self, response: TextResponse) -> Iterator[PageRecord]:
        parsed = parse_response(response, self.spec, follow=False)
        yield from self.to_records(response, parsed.rows, parsed.content_hash)

    def next_pages(self, response: TextResponse) -> Iterator[Request]:
        if self.budget_left():
            yield from self.to_requests(follow_links(response, self.spec.follow, self.spec.render))

    def budget_left(self) -> bool:
        """Whether the page budget allows more requests (if not, links are not even extracted)."""
        return len(self.scheduled) < self.max_pages

    def to_records(
        self, response: TextResponse, rows: list[Row], digest: str
    ) -> Iterator[PageRecord]:
        fetched_at = datetime.now(UTC)
        for row in rows:
            yield PageRecord(
                row=row,
                url=response.url,
                fetched_at=fetched_at,
                status=response.status,
                content_hash=digest,
            )

    def to_requests(self, links: list[Link]) -> Iterator[Request]:
        for link in links:
            request = self.request_for(link.url, link.render)
            if request is not None:
                yield request

    def on_error(self, failure: Failure) -> None:
        """Count a request that failed for good; robots.txt and offsite refusals are not errors."""
        request: Request = failure.request  # type: ignore[attr-defined]
        reason, status = error_reason(failure.value)
        if reason is not None:
            self.record_error(request.url, reason, status)
        if too_large(failure.value):
            self.crawler.stats.inc_value("harvest/dropped/size")

    def on_dropped(self, request: Request, spider: Any = None) -> None:
        """A redirect back to a URL of its own chain is a redirect loop; other drops are duplicates."""
        chain = request.meta.get("redirect_urls") or []
        if request.url in chain:
            self.record_error(chain[0], "redirect loop", None)

    def record_error(self, url: str, reason: str, status: int | None) -> None:
        stats = self.crawler.stats
        stats.inc_value("harvest/errors")
        stats.inc_value(f"harvest/errors/{reason}")
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(CrawlError(url=url, reason=reason, status=status))


def error_reason(error: BaseException | None) -> tuple[str | None, int | None]:
    """A short reason for a failed request (None for refusals that are policy, not failure)."""
    if isinstance(error, HttpError):
        status = error.response.status
        return f"http {status}", status
    if too_large(error):
        return "too large", None
    if isinstance(error, IgnoreRequest):
        return ("too many redirects", None) if "redirection" in str(error) else (None, None)
    if isinstance(error, DownloadTimeoutError | TimeoutError):
        return "timeout", None
    if isinstance(error, RenderTimeout):
        return "render timeout", None
    if type(error).__name__ == "TimeoutError":  # Playwright's, when a page never loaded
        return "timeout", None
    if isinstance(error, ResponseDataLossError):
        return "truncated body", None
    if isinstance(error, ConnectionLost | ConnectionDone | DownloadFailedError):
        return "connection dropped", None
    return type(error).__name__ if error is not None else "unknown", None


def too_large(error: BaseException | None) -> bool:
    """Whether a response was dropped for its size: cancelled while downloading past
    ``DOWNLOAD_MAXSIZE`` (or declaring more), or ignored when decompressing it passed that."""
    return isinstance(error, DownloadCancelledError) or (
        isinstance(error, IgnoreRequest) and "DOWNLOAD_MAXSIZE" in str(error)
    )


def spider_class(spec: SourceSpec) -> type:
    """The spider that runs ``spec``: ``SourceSpider`` or the subclass its ``spider`` key names."""
    if spec.spider is None:
        return SourceSpider
    module_name, class_name = spec.spider.split(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise InvalidInputError(
            f"Source spec {spec.name}: `spider` names {spec.spider}, which cannot be imported ({error})."
        ) from None
    if not (isinstance(found, type) and issubclass(found, SourceSpider)):
        raise InvalidInputError(
            f"Source spec {spec.name}: `spider` {spec.spider} must be a subclass of scrapers.spider.SourceSpider."
        )
    return found
