"""Spider subclasses named by test specs' ``spider`` key (imported by the crawl child)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator

from scrapy.http import HtmlResponse, Request, Response, TextResponse

from scrapers.items import PageRecord
from scrapers.spider import SourceSpider


class CountingSpider(SourceSpider):
    """Adds a ``words`` column: how a source that needs code extends the generic spider."""

    def records(self, response: TextResponse) -> Iterator[PageRecord]:
        for record in super().records(response):
            words = len(" ".join(response.css("body ::text").getall()).split())
            yield PageRecord(**{**record.__dict__, "row": {**record.row, "words": words}})


class KillingSpider(SourceSpider):
    """Dies mid-crawl, as a crawl killed by the system would."""

    async def parse_page(self, response: Response) -> AsyncIterator[PageRecord | Request]:
        os.kill(os.getpid(), signal.SIGKILL)
        async for output in super().parse_page(response):  # never reached: the process is gone
            yield output


class NotASpider:
    """Named by a spec that should be refused."""


class ParserKillingSpider(SourceSpider):
    """Kills its page parser process on its first page, as the system might."""

    async def parse_page(self, response: Response) -> AsyncIterator[PageRecord | Request]:
        if self.parser is not None and not self.crawler.stats.get_value("harvest/pages"):
            os.kill(self.parser.pid, signal.SIGKILL)
        elif not self.crawler.stats.get_value("harvest/pages"):
            raise AssertionError("the spider has no parser process to kill")
        async for output in super().parse_page(response):
            yield output


class UnreadableResponse(HtmlResponse):
    """A page whose text cannot be read: how a parsing bug shows in the parser process."""

    @property
    def text(self) -> str:
        raise ValueError("this page cannot be read")
