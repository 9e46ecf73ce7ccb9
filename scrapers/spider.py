"""The one spider that runs any source spec.

``SourceSpider(spec=...)`` starts from ``spec.start_urls``, yields a ``PageRecord`` per
record a page holds (``scrapers.parse.page_rows``) and follows the links its follow
rules select, rendering with Playwright only the requests whose rule (or the spec) says
``browser``. It keeps its own page budget (``limits.max_pages`` requests, start URLs
included) so a crawl stops where the spec says, whatever the site does. Failed requests
(after their retries) are counted by reason and sampled for the crawl's stats.

A source that needs code subclasses it and names the class in the spec's ``spider`` key
(``package.module:ClassName``); override ``parse_page`` (or ``records``/``next_pages``)
and keep the rest.
"""

from __future__ import annotations

import hashlib
import importlib
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

from harvest.errors import InvalidInputError
from scrapers.items import PageRecord
from scrapers.landing import CrawlError
from scrapers.middlewares import RenderTimeout, finish_rendering
from scrapers.parse import follow_links, page_rows
from scrapers.spec import Render, SourceSpec

ERROR_SAMPLES = 50


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

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_dropped, signal=signals.request_dropped)
        return spider

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

    def parse_page(self, response: Response) -> Iterator[PageRecord | Request]:
        """Records of the page, then the pages it links to."""
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("harvest/skipped_binary")
            return
        self.crawler.stats.inc_value("harvest/pages")
        yield from self.records(response)
        yield from self.next_pages(response)

    def records(self, response: TextResponse) -> Iterator[PageRecord]:
        fetched_at = datetime.now(UTC)
        content_hash = hashlib.sha256(response.body).hexdigest()
        for row in page_rows(response, self.spec):
            yield PageRecord(
                row=row,
                url=response.url,
                fetched_at=fetched_at,
                status=response.status,
                content_hash=content_hash,
            )

    def next_pages(self, response: TextResponse) -> Iterator[Request]:
        if len(self.scheduled) >= self.max_pages:  # the budget is spent: nothing to follow
            return
        for link in follow_links(response, self.spec.follow, self.spec.render):
            request = self.request_for(link.url, link.render)
            if request is not None:
                yield request

    def on_error(self, failure: Failure) -> None:
        """Count a request that failed for good; robots.txt and offsite refusals are not errors."""
        request: Request = failure.request  # type: ignore[attr-defined]
        reason, status = error_reason(failure.value)
        if reason is not None:
            self.record_error(request.url, reason, status)

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
    if isinstance(error, DownloadCancelledError):
        return "too large", None
    if isinstance(error, ConnectionLost | ConnectionDone | DownloadFailedError):
        return "connection dropped", None
    return type(error).__name__ if error is not None else "unknown", None


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
