"""Downloader middlewares and the cache policy that make Harvest's safety defaults.

- ``BackoffRetryMiddleware``: Scrapy's retries (5xx, 408, 429, timeouts, dropped and
  truncated responses), waiting ``RETRY_BACKOFF_BASE * 2**n`` seconds (capped, plus
  jitter, or the site's ``Retry-After``) before each retry.
- ``BrowserPages``: for requests rendered by Playwright, gives every page a context of
  the current *generation*, closes the page as soon as its HTML is captured or its
  download failed, and closes a retired generation's context once its last page is
  closed, so a long browser crawl keeps a flat memory profile.
- ``RobotsTxtMiddleware``: Scrapy's, with a 2.19 bug fixed (see the class).
- ``RevalidatePolicy``: the HTTP cache stores every response but never serves one
  without asking the site first (a conditional request when it sent validators), so a
  scheduled re-scrape always sees today's prices; ``--replay`` swaps in Scrapy's
  ``DummyPolicy`` to re-parse from the cache without touching the network.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxtMiddleware
from scrapy.extensions.httpcache import RFC2616Policy
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class BackoffRetryMiddleware(RetryMiddleware):
    """Retry like Scrapy does, after an exponential backoff (or ``Retry-After``)."""

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 0.5)
        self.cap = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, f"{response.status}")
        if retry is None:
            return response
        await self._wait(retry, response)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | Response | None:
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get(
            "dont_retry", False
        ):
            return None
        retry = self._retry(request, exception)
        if retry is not None:
            await self._wait(retry, None)
        return retry

    async def _wait(self, retry: Request, response: Response | None) -> None:
        delay = self.delay(int(retry.meta.get("retry_times", 1)), response)
        if delay > 0:
            await asyncio.sleep(delay)

    def delay(self, attempt: int, response: Response | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        header = response.headers.get(b"Retry-After") if response is not None else None
        if header is not None:
            try:
                return min(float(header.decode()), self.cap)
            except ValueError:
                pass
        backoff = self.base * 2 ** (attempt - 1)
        return min(backoff * random.uniform(1.0, 1.5), self.cap)


SCROLL = """async (times) => {
  const grown = (before) => new Promise((done) => {
    const start = Date.now();
    const tick = () => {
      if (document.body.scrollHeight > before) done(true);
      else if (Date.now() - start > 3000) done(false);
      else setTimeout(tick, 100);
    };
    tick();
  });
  for (let i = 0; i < times; i++) {
    const before = document.body.scrollHeight;
    window.scrollTo(0, before);
    if (!(await grown(before))) break;
  }
}"""
"""Scroll to the bottom up to ``times`` times, stopping when the page stops growing."""


class RenderTimeout(Exception):
    """A rendered page never showed the spec's ``wait_for`` selector."""


class BrowserPages:
    """Finishes rendering pages, closes them on every path, recycles contexts by generation.

    After Playwright navigated (``playwright_include_page`` keeps the page open), a page
    that answered below 400 waits for ``harvest_wait_for`` and scrolls ``harvest_scroll``
    times, and its HTML replaces the response body. Error statuses skip the wait, so they
    reach the retry middleware as the statuses they are.
    """

    def __init__(self, pages_per_context: int, stats: Any = None) -> None:
        self.pages_per_context = max(1, pages_per_context)
        self.stats = stats
        self.started = 0
        self.contexts: dict[int, Any] = {}  # generation -> playwright BrowserContext seen in use

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getint("HARVEST_PAGES_PER_CONTEXT", 100), crawler.stats)

    def _count(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)

    @property
    def generation(self) -> int:
        return self.started // self.pages_per_context

    def process_request(self, request: Request, spider: Any = None) -> None:
        if not request.meta.get("playwright"):
            return
        request.meta["playwright_include_page"] = True
        request.meta["harvest_generation"] = self.generation
        request.meta["playwright_context"] = f"harvest-{self.generation}"
        self.started += 1
        self._count("harvest/browser_pages")

    async def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response:
        page = request.meta.get("playwright_page")
        try:
            if page is not None and response.status < 400:
                response = await self._finish(page, request, response)
        finally:
            await self._release(request)
        return response

    async def _finish(self, page: Any, request: Request, response: Response) -> Response:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        wait_for = request.meta.get("harvest_wait_for")
        scroll = int(request.meta.get("harvest_scroll", 0))
        if not wait_for and not scroll:
            return response
        if wait_for:
            try:
                await page.wait_for_selector(
                    wait_for, state="attached", timeout=request.meta.get("harvest_wait_ms", 30000)
                )
            except PlaywrightTimeout:
                raise RenderTimeout(f"{wait_for} never appeared") from None
        if scroll:
            await page.evaluate(SCROLL, scroll)
        return response.replace(body=(await page.content()).encode("utf-8"), encoding="utf-8")

    async def process_exception(
        self, request: Request, exception: Exception, spider: Any = None
    ) -> None:
        await self._release(request)

    async def _release(self, request: Request) -> None:
        page = request.meta.pop("playwright_page", None)
        if page is None:
            return
        generation = int(request.meta.get("harvest_generation", 0))
        context = page.context
        self.contexts.setdefault(generation, context)
        try:
            if not page.is_closed():
                await page.close()
        except Exception as error:  # a crashed page or browser: nothing left to close
            logger.debug("Closing a page failed: %s", error)
        self._count("harvest/browser_pages_closed")
        for old in [g for g in self.contexts if g < self.generation]:
            if not self.contexts[old].pages:
                stale = self.contexts.pop(old)
                try:
                    await stale.close()
                    self._count("harvest/browser_contexts_closed")
                except Exception as error:
                    logger.debug("Closing a browser context failed: %s", error)


class RobotsTxtMiddleware(ScrapyRobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, with every waiter for a site's robots.txt checked.

    In Scrapy 2.19 the requests that wait for a robots.txt all await one shared Deferred;
    the first consumes its result and the rest get None, "no robots.txt", and go through
    unchecked (a third start URL under a disallowed path is fetched). Here each waiter
    gets its own Deferred, relayed from the shared one without consuming its result.
    """

    async def robot_parser(self, request: Request) -> Any:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if not isinstance(pending, Deferred):
            return await super().robot_parser(request)
        own: Deferred[Any] = Deferred()

        def relay(result: Any) -> Any:
            own.callback(result)
            return result

        pending.addBoth(relay)
        return await maybe_deferred_to_future(own)


class RevalidatePolicy(RFC2616Policy):
    """Store every response; reuse a stored one only when the site answers 304 Not Modified."""

    def is_cached_response_fresh(self, cachedresponse: Response, request: Request) -> bool:
        self._set_conditional_validators(request, cachedresponse)
        return False

    def is_cached_response_valid(
        self, cachedresponse: Response, response: Response, request: Request
    ) -> bool:
        return response.status == 304
