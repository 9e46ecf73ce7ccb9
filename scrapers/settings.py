"""Scrapy settings for one crawl: the safety defaults, and the spec's politeness and limits.

Nothing here is optional to remember: robots.txt is obeyed (``politeness.robots``),
AutoThrottle adapts the delay, retries back off, depth and page limits and a response
size limit hold, telnet and remote control are off, and the HTTP cache is per source.
The browser download handler is installed only when some request of the spec renders
in a browser.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.settings import default_settings

from scrapers.spec import SourceSpec

CHROMIUM = os.environ.get("HARVEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)
RETRY_CODES = (500, 502, 503, 504, 522, 524, 408, 429)
RETRY_EXCEPTIONS = tuple(default_settings.RETRY_EXCEPTIONS)
BLOCKED_RESOURCES = ("image", "media", "font")
_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "scrapers.middlewares.RobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
}
USER_AGENT = "Harvest/0.1 (dataset crawler; obeys robots.txt)"

MEDIA_SCHEME = "harvest-media"  # IMAGES_STORE/FILES_STORE: harvest-media:<workspace home>


def abort_request(request: Any) -> bool:
    """Playwright sub-requests not worth fetching when rendering for text (images, media, fonts)."""
    return bool(request.resource_type in BLOCKED_RESOURCES)


def crawl_settings(
    spec: SourceSpec,
    *,
    landing: Path,
    cache_dir: Path,
    home: Path,
    run_id: str,
    replay: bool = False,
    frontier: SharedFrontier | None = None,
) -> dict[str, Any]:
    """Every Scrapy setting of a crawl of ``spec`` landing in ``landing``."""
    polite = spec.politeness
    limits = spec.limits
    settings: dict[str, Any] = {
        "BOT_NAME": "harvest",
        "USER_AGENT": USER_AGENT,
        "ROBOTSTXT_OBEY": polite.robots,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": os.environ.get("HARVEST_SCRAPY_LOG", "WARNING"),
        "CONCURRENT_REQUESTS": polite.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": polite.concurrency,
        # Items are processed per response with this many workers; Scrapy's 100 costs a
        # hundred asyncio tasks per page, and a page here holds a few records.
        "CONCURRENT_ITEMS": 8,
        "DOWNLOAD_DELAY": polite.delay,
        "AUTOTHROTTLE_ENABLED": polite.autothrottle,
        "AUTOTHROTTLE_START_DELAY": polite.delay,
        "AUTOTHROTTLE_MAX_DELAY": max(30.0, polite.delay),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(polite.concurrency),
        "RETRY_ENABLED": True,
        "RETRY_TIMES": 2,
        "RETRY_HTTP_CODES": list(RETRY_CODES),
        "RETRY_BACKOFF_BASE": float(os.environ.get("HARVEST_RETRY_BACKOFF", "0.5")),
        "RETRY_BACKOFF_MAX": 30.0,
        "RETRY_GIVE_UP_LOG_LEVEL": "WARNING",
        "DEPTH_LIMIT": limits.depth,
        "DOWNLOAD_MAXSIZE": limits.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_TIMEOUT": limits.timeout,
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "REDIRECT_MAX_TIMES": 5,
        "COOKIES_ENABLED": True,
        "DOWNLOADER_MIDDLEWARES": _MIDDLEWARES,
        "ITEM_PIPELINES": {"scrapers.pipelines.LandingPipeline": 900},
        "EXTENSIONS": {
            "scrapers.extensions.CrawlReport": 500,
            # off above, and not even imported: remote control pulls in twisted.web (~0.1 s)
            "scrapy.extensions.telnet.TelnetConsole": None,
            "scrapy.extensions.remote_control.RemoteControl": None,
        },
        "HARVEST_LANDING": str(landing),
        "HARVEST_SOURCE": spec.name,
        "HARVEST_RUN_ID": run_id,
    }
    if (spec.cache or replay) and frontier is None:
        settings.update(_cache(cache_dir, replay))
    if spec.media_fields:
        settings.update(_media(spec, home))
    if spec.uses_browser:
        settings.update(_browser(spec))
    if frontier is not None:
        settings.update(_shared(spec, frontier, settings["DOWNLOADER_MIDDLEWARES"]))
    return settings


@dataclass(frozen=True)
class SharedFrontier:
    """A worker's place in a crawl shared through Redis (``scrapers.frontier``)."""

    url: str
    worker: str
    budget: int
    # What the worker says when its crawl ends well: "finished", or "crawled" for a worker
    # that has yet to put its landing part into the file store (``scrapers.shared``).
    done_status: str = "finished"


def _shared(
    spec: SourceSpec, frontier: SharedFrontier, middlewares: dict[str, Any]
) -> dict[str, Any]:
    """A worker of a shared crawl: the Redis scheduler, and politeness held in Redis for
    every worker (so the local delay is off; the per-domain concurrency is global)."""
    return {
        "SCHEDULER": "scrapers.frontier_scheduler.FrontierScheduler",
        "SPIDER_MIDDLEWARES": {"scrapers.frontier_scheduler.LeaseOutputs": 1},
        "DOWNLOADER_MIDDLEWARES": {
            **middlewares,
            "scrapers.frontier_scheduler.LeaseFailures": 1,
        },
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_START_DELAY": 0,
        "HARVEST_FRONTIER": frontier.url,
        "HARVEST_WORKER": frontier.worker,
        "HARVEST_PAGE_BUDGET": frontier.budget,
        "HARVEST_WORKER_DONE_STATUS": frontier.done_status,
        "HARVEST_DOMAIN_CONCURRENCY": spec.politeness.concurrency,
        "HARVEST_DOMAIN_DELAY": spec.politeness.delay,
    }


def _cache(cache_dir: Path, replay: bool) -> dict[str, Any]:
    return {
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_DIR": str(cache_dir),
        "HTTPCACHE_STORAGE": "scrapers.cache.SqliteCacheStorage",
        "HTTPCACHE_ALWAYS_STORE": True,
        "HTTPCACHE_IGNORE_HTTP_CODES": [*RETRY_CODES, 404, 410],
        "HTTPCACHE_POLICY": (
            "scrapy.extensions.httpcache.DummyPolicy"
            if replay
            else "scrapers.middlewares.RevalidatePolicy"
        ),
        "HTTPCACHE_IGNORE_MISSING": replay,
    }


def _media(spec: SourceSpec, home: Path) -> dict[str, Any]:
    kinds = {spec.item.fields[name].type for name in spec.media_fields} if spec.item else set()
    pipelines: dict[str, int] = {}
    if "image" in kinds:
        pipelines["scrapers.pipelines.MediaImagesPipeline"] = 100
    if "file" in kinds:
        pipelines["scrapers.pipelines.MediaFilesPipeline"] = 110
    return {
        "ITEM_PIPELINES": {**pipelines, "scrapers.pipelines.LandingPipeline": 900},
        # the workspace's file store (its media folder, or S3): scrapers.pipelines.MediaStore
        "IMAGES_STORE": f"{MEDIA_SCHEME}:{home}",
        "FILES_STORE": f"{MEDIA_SCHEME}:{home}",
        "MEDIA_ALLOW_REDIRECTS": True,
    }


def _browser(spec: SourceSpec) -> dict[str, Any]:
    concurrency = spec.politeness.concurrency
    return {
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": CHROMIUM,
            "headless": True,
            "args": list(CHROMIUM_ARGS),
        },
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": concurrency,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": spec.limits.timeout * 1000,
        "PLAYWRIGHT_ABORT_REQUEST": abort_request,
        # Contexts send Harvest's User-Agent themselves, so sub-requests need no header rewriting.
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
        "HARVEST_PAGES_PER_CONTEXT": int(os.environ.get("HARVEST_PAGES_PER_CONTEXT", "100")),
        "RETRY_EXCEPTIONS": [*RETRY_EXCEPTIONS, "playwright.async_api.TimeoutError"],
        "DOWNLOADER_MIDDLEWARES": {**_MIDDLEWARES, "scrapers.middlewares.BrowserPages": 950},
    }
