"""Scrapy's side of the shared frontier: a scheduler over ``scrapers.frontier`` and the two
middlewares that tell it when a leased request is done.

``FrontierScheduler`` implements Scrapy's scheduler interface (``open``, ``close``,
``has_pending_requests``, ``enqueue_request``, ``next_request``). Requests go to Redis as
JSON (``Request.to_dict``; bytes as base64; a browser request's page methods are rebuilt by
the spider, not stored), deduplicated by Scrapy's request fingerprint across every
worker and within the crawl's page budget. ``next_request`` leases one from Redis when the
domain's politeness allows; when none is ready yet but the crawl is not drained, a short
timer keeps asking and hands what it leases to the engine with ``engine.crawl``. The
spider closes only when the whole frontier is drained: nothing queued, nothing leased by
any worker.

A leased request is acknowledged only once everything its response produced is safe:
``LeaseOutputs`` (the spider middleware nearest the engine) counts what the callback yielded
and tags its requests with their parent; the scheduler counts items as they leave the
pipelines (``item_scraped``/``item_dropped``/``item_error``) and requests as they reach
Redis, and acknowledges when the counts meet (the landing part is written a line at a
time, so what is acknowledged is on disk). A retry or
redirect replaces its lease in the same Redis step that queues it; a download that failed
for good is acknowledged by ``LeaseFailures`` (the downloader middleware nearest the engine).
Leases are renewed every third of their length while the worker lives.
"""

from __future__ import annotations

import base64
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.request import request_from_dict
from twisted.internet import reactor
from twisted.internet.task import LoopingCall

from scrapers.frontier import Frontier, lease_seconds

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from twisted.internet.base import DelayedCall

logger = logging.getLogger(__name__)

LEASE = "harvest_lease"  # meta: the frontier entry this request was leased as
PARENT = "harvest_parent"  # meta: the lease whose response yielded this request
READY = "harvest_ready"  # meta: leased by the wake timer, for the local queue
_LOCAL_META = (LEASE, PARENT, READY, "playwright_page_methods")
outputs_counted = object()  # signal: (lease, url, count) once a callback's output is known
request_failed = object()  # signal: (lease) when a leased request's download failed for good
WAKE_S = 0.02


class FrontierScheduler(BaseScheduler):
    """Scrapy's scheduler over the crawl's shared Redis frontier (see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.frontier = Frontier(
            settings["HARVEST_FRONTIER"], settings["HARVEST_RUN_ID"], settings["HARVEST_WORKER"]
        )
        self.budget = settings.getint("HARVEST_PAGE_BUDGET")
        self.done_status = settings.get("HARVEST_WORKER_DONE_STATUS", "finished")
        self.concurrency = settings.getint("HARVEST_DOMAIN_CONCURRENCY")
        self.delay = settings.getfloat("HARVEST_DOMAIN_DELAY")
        self.lease_s = lease_seconds()
        self.ready: deque[Request] = deque()
        self.leased: dict[str, int | None] = {}  # lease → outputs expected (None: not known yet)
        self.finished: dict[str, int] = {}  # lease → outputs handled so far
        self.urls: dict[str, str] = {}
        self.renewal = LoopingCall(self.renew)
        self.wake: DelayedCall | None = None
        self.spider: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = cls(crawler)
        connect = crawler.signals.connect
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            connect(scheduler.item_done, signal=signal)
        connect(scheduler.request_dropped, signal=signals.request_dropped)
        connect(scheduler.outputs_counted, signal=outputs_counted)
        connect(scheduler.request_failed, signal=request_failed)
        return scheduler

    # -- Scrapy's scheduler interface ----------------------------------------------------

    def open(self, spider: Any) -> None:
        self.spider = spider
        self.frontier.report("crawling", self.lease_s)
        self.renewal.start(self.lease_s / 3, now=False)

    def close(self, reason: str) -> None:
        if self.renewal.running:
            self.renewal.stop()
        if self.wake is not None and self.wake.active():
            self.wake.cancel()
        self.frontier.report(self.done_status if reason == "finished" else reason, self.lease_s)

    def has_pending_requests(self) -> bool:
        return bool(self.ready or self.leased) or not self.frontier.counts().drained

    def enqueue_request(self, request: Request) -> bool:
        if request.meta.pop(READY, False):
            self.ready.append(request)
            return True
        replaces = request.meta.pop(LEASE, None)  # a retry or a redirect of a leased request
        parent = request.meta.pop(PARENT, None)
        fingerprint = (
            None
            if request.dont_filter
            else self.crawler.request_fingerprinter.fingerprint(request).hex()  # type: ignore[union-attr]
        )
        queued = self.frontier.push(
            to_json(request, self.spider),
            urlsplit(request.url).hostname or "",
            fingerprint,
            self.budget,
            replaces=replaces,
        )
        if replaces is not None:
            self.forget(replaces)
        if parent is not None:
            self.output_done(parent)
        return queued

    def next_request(self) -> Request | None:
        if self.ready:
            return self.ready.popleft()
        request = self.lease()
        if request is None:
            self.wake_later()
        return request

    # -- leases -------------------------------------------------------------------------

    def lease(self) -> Request | None:
        entry = self.frontier.take(self.lease_s, self.concurrency, self.delay)
        if entry is None:
            return None
        request = from_json(entry.request, self.spider)
        request.meta[LEASE] = entry.id
        self.leased[entry.id] = None
        self.finished[entry.id] = 0
        return request

    def wake_later(self) -> None:
        """Keep asking Redis while the crawl is not drained (other workers may queue more)."""
        if self.wake is None or not self.wake.active():
            self.wake = reactor.callLater(WAKE_S, self.try_wake)  # type: ignore[attr-defined,arg-type]

    def try_wake(self) -> None:
        self.wake = None
        if self.ready:
            return
        if self.frontier.counts().drained:
            if not self.leased:
                self.close_drained()
            return
        request = self.lease()
        if request is None:
            self.wake_later()
            return
        request.meta[READY] = True
        self.crawler.engine.crawl(request)  # type: ignore[union-attr]

    def close_drained(self) -> None:
        """Close the spider now that no worker has anything left (the engine would only
        notice at its next five-second heartbeat)."""
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason="finished"))

    def renew(self) -> None:
        self.frontier.renew(self.leased, self.lease_s)
        self.frontier.report("crawling", self.lease_s)

    def forget(self, lease: str) -> None:
        self.leased.pop(lease, None)
        self.finished.pop(lease, None)
        self.urls.pop(lease, None)

    def acknowledge(self, lease: str, url: str | None) -> None:
        self.frontier.ack([(lease, url)])
        self.forget(lease)

    # -- what tells the scheduler a leased request is done ------------------------------

    def outputs_counted(self, lease: str, url: str, count: int) -> None:
        if lease not in self.leased:
            return
        self.leased[lease] = count
        self.urls[lease] = url
        self.check(lease)

    def output_done(self, lease: str) -> None:
        if lease in self.finished:
            self.finished[lease] += 1
            self.check(lease)

    def check(self, lease: str) -> None:
        expected = self.leased.get(lease)
        if expected is not None and self.finished.get(lease, 0) >= expected:
            self.acknowledge(lease, self.urls.get(lease))

    def item_done(self, item: Any, response: Response | None = None, **_: Any) -> None:
        if response is not None and LEASE in response.meta:
            self.output_done(response.meta[LEASE])

    def request_dropped(self, request: Request, **_: Any) -> None:
        """A request refused before reaching ``enqueue_request`` still counts as handled."""
        parent = request.meta.pop(PARENT, None)
        if parent is not None:
            self.output_done(parent)

    def request_failed(self, lease: str) -> None:
        if lease in self.leased:
            self.acknowledge(lease, None)


class LeaseOutputs:
    """Spider middleware nearest the engine: counts what a leased response's callback yields
    and tags the requests among it with their parent lease."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        lease = response.meta.get(LEASE)
        count = 0
        try:
            async for output in result:
                if lease is not None and isinstance(output, Request):
                    output.meta[PARENT] = lease
                count += 1
                yield output
        finally:
            if lease is not None:
                self.crawler.signals.send_catch_log(
                    outputs_counted, lease=lease, url=response.url, count=count
                )


class LeaseFailures:
    """Downloader middleware nearest the engine: a download that failed for good (no
    middleware retried it) ends its lease; the errback only counts it."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_exception(self, request: Request, exception: Exception) -> None:
        lease = request.meta.get(LEASE)
        if lease is not None:
            self.crawler.signals.send_catch_log(request_failed, lease=lease)


def to_json(request: Request, spider: Any) -> dict[str, Any]:
    """``request`` as plain JSON values: Scrapy's dict form, bytes as base64 text."""
    data = request.to_dict(spider=spider)
    data["headers"] = {
        _text(name): [_text(value) for value in values] for name, values in data["headers"].items()
    }
    data["body"] = base64.b64encode(data["body"]).decode("ascii")
    data["meta"] = {k: v for k, v in data["meta"].items() if k not in _LOCAL_META}
    return data


def from_json(data: dict[str, Any], spider: Any) -> Request:
    """The request ``to_json`` stored, with the spider's callbacks and browser page methods."""
    request = request_from_dict({**data, "body": base64.b64decode(data["body"])}, spider=spider)
    if request.meta.get("playwright") and hasattr(spider, "page_methods"):
        request.meta["playwright_page_methods"] = spider.page_methods()
    return request


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
