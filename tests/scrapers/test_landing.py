"""The landing folder as others read it: the counts of a crawl while it runs."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scrapers.landing import JOB, PROGRESS, CrawlCounts, running_crawl


def land(
    root: Path, run_id: str, source: str, counts: dict[str, int] | None, age_s: float = 0
) -> None:
    """A landing folder as a crawl leaves it while it runs (``age_s``: started that long ago)."""
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / JOB).write_text(json.dumps({"run_id": run_id, "source": source}))
    if counts is not None:
        (folder / PROGRESS).write_text(json.dumps(counts))
    when = time.time() - age_s
    os.utime(folder / JOB, (when, when))


def test_the_newest_crawl_of_a_source_since_a_time_gives_its_counts(tmp_path: Path) -> None:
    since = datetime.now(UTC) - timedelta(seconds=60)
    assert running_crawl(tmp_path / "landing", "tables", since) is None  # no landing folder yet
    root = tmp_path / "landing"
    land(root, "old", "tables", {"pages": 99, "items": 99, "errors": 9}, age_s=600)  # before since
    land(root, "other", "products", {"pages": 5, "items": 5, "errors": 0})
    land(root, "starting", "tables", None)  # no counts yet
    assert running_crawl(root, "tables", since) is None
    land(root, "first", "tables", {"pages": 2, "items": 3, "errors": 0}, age_s=20)
    land(root, "second", "tables", {"pages": 4, "items": 10, "errors": 1}, age_s=10)
    assert running_crawl(root, "tables", since) == CrawlCounts("tables", 4, 10, 1)
    assert running_crawl(root, "products", since) == CrawlCounts("products", 5, 5, 0)
