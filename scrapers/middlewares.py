"""Downloader middlewares and the cache policy that make Harvest's safety defaults.

- ``BackoffRetryMiddleware``: Scrapy's retries (5xx, 408, 429, timeouts, dropped and
  truncated responses), waiting ``RETRY_BACKOFF_BASE * 2**n`` seconds (capped, plus
  jitter, or the site's ``Retry-After``) before each retry.
- ``finish_rendering`` (a Playwright page method) and ``BrowserPages``: a rendered page
  that answered below 400 waits for the spec's ``wait_for`` and scrolls; every page gets
  a browser context of the current *generation*, is closed as soon as its HTML is
  captured or its download failed, and a retired generation's context is closed once its
  last page is, so a long browser crawl keeps a flat memory profile.
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
  if ((performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0) >= 400) return;
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


async def finish_rendering(page: Any, wait_for: str | None, scroll: int, timeout_ms: float) -> None:
    """A Playwright page method: wait for ``wait_for`` and scroll, unless the page is an error.

    A page that answered 400 or more is left as it is, so it reaches the retry middleware
    as the status it is instead of waiting for content that will never come.
    """
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if wait_for:
        ready = "([selector]) => (performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0) >= 400 || document.querySelector(selector) !== null"
        try:
            await page.wait_for_function(ready, arg=[wait_for], polling=100, timeout=timeout_ms)
        except PlaywrightTimeout:
            raise RenderTimeout(f"{wait_for} never appeared") from None
    if scroll:
        await page.evaluate(SCROLL, scroll)


class BrowserPages:
    """Closes Playwright pages on every path and recycles browser contexts by generation."""

    def __init__(self, pages_per_context: int, stats: Any = None, user_agent: str = "") -> None:
        self.pages_per_context = max(1, pages_per_context)
        self.user_agent = user_agent
        self.stats = stats
        self.started = 0
        self.contexts: dict[int, Any] = {}  # generation -> playwright BrowserContext seen in use

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        return cls(
            settings.getint("HARVEST_PAGES_PER_CONTEXT", 100), crawler.stats, settings["USER_AGENT"]
        )

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
        request.meta["playwright_context_kwargs"] = {"user_agent": self.user_agent}
        self.started += 1
        self._count("harvest/browser_pages")

    async def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response:
        await self._release(request)
        return response

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
