"""Spider subclasses named by test specs' ``spider`` key (imported by the crawl child)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

from scrapy.http import Request, TextResponse

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

    def parse_page(self, response: TextResponse) -> Iterator[PageRecord | Request]:
        os.kill(os.getpid(), signal.SIGKILL)
        yield from ()


class NotASpider:
    """Named by a spec that should be refused."""
