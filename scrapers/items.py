"""The item the spider yields: one record of a page with its provenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scrapers.values import Row


@dataclass(frozen=True)
class PageRecord:
    """One record: the extracted columns, and where and when they were seen."""

    row: Row
    url: str
    fetched_at: datetime
    status: int
    content_hash: str
