"""The crawl's report to its parent: ``progress.json`` while it runs, ``stats.json`` at the end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from twisted.internet.task import LoopingCall

from scrapers.landing import PROGRESS, STATS, CrawlStats, write_json

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

PROGRESS_EVERY_S = 0.5


class CrawlReport:
    """Writes the crawl's counts to the landing folder, periodically and when it closes."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.folder = Path(crawler.settings["HARVEST_LANDING"])
        self.loop = LoopingCall(self.write_progress)
        self.started = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        report = cls(crawler)
        crawler.signals.connect(report.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        self.loop.start(PROGRESS_EVERY_S, now=True)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.loop.running:
            self.loop.stop()
        self.write_progress()
        write_json(self.folder / STATS, self.stats(reason, spider))

    def counts(self) -> dict[str, int]:
        get = self.crawler.stats.get_value  # type: ignore[union-attr]
        return {
            "pages": int(get("harvest/pages", 0)),
            "items": int(get("item_scraped_count", 0)),
            "errors": int(get("harvest/errors", 0)) + int(get("spider_exceptions/count", 0)),
        }

    def write_progress(self) -> None:
        write_json(self.folder / PROGRESS, self.counts())

    def stats(self, reason: str, spider: Any) -> CrawlStats:
        values: dict[str, Any] = self.crawler.stats.get_stats()  # type: ignore[union-attr]
        by_reason = {
            key.removeprefix("harvest/errors/"): int(count)
            for key, count in values.items()
            if key.startswith("harvest/errors/")
        }
        by_reason.update(
            {
                f"exception {key.removeprefix('spider_exceptions/')}": int(count)
                for key, count in values.items()
                if key.startswith("spider_exceptions/") and key != "spider_exceptions/count"
            }
        )
        dropped = {
            "size": int(values.get("harvest/dropped/size", 0)),
            "type": int(values.get("harvest/dropped/type", 0)),
            "robots": int(values.get("robotstxt/forbidden", 0)),
        }
        duration = time.monotonic() - self.started
        return CrawlStats(
            **self.counts(),
            retries=int(values.get("retry/count", 0)),
            duration_s=round(duration, 3),
            finish_reason=reason,
            media=int(values.get("harvest/media", 0)),
            robots_forbidden=int(values.get("robotstxt/forbidden", 0)),
            browser_pages=int(values.get("harvest/browser_pages", 0)),
            browser_pages_closed=int(values.get("harvest/browser_pages_closed", 0)),
            browser_contexts_closed=int(values.get("harvest/browser_contexts_closed", 0)),
            errors_by_reason=by_reason,
            error_samples=tuple(getattr(spider, "error_samples", ())),
            dropped={reason: count for reason, count in dropped.items() if count},
        )
