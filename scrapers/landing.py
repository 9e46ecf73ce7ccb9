"""The landing folder: what a crawl child hands its parent, and the table built from it.

``HARVEST_HOME/landing/<run_id>/`` holds ``job.json`` (what to crawl, written by the
parent), ``items.jsonl`` (one record per line, written as items pass the pipelines),
``progress.json`` (counts, rewritten every half second) and ``stats.json`` (written when
the spider closes). A crawl that never wrote ``stats.json`` did not finish. The parent
turns the items into a table with ``scrapers.table.landed_table``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

ITEMS = "items.jsonl"
STATS = "stats.json"
PROGRESS = "progress.json"
JOB = "job.json"


@dataclass(frozen=True)
class Job:
    """What the crawl child is asked to do."""

    run_id: str
    source: str
    spec_path: str
    home: str
    base_url: str | None = None
    max_pages: int | None = None
    replay: bool = False
    frontier: str | None = None  # the Redis URL of a shared frontier (a crawl with workers)
    worker: str | None = None  # this worker's id in it
    budget: int | None = None  # the crawl's page budget, shared by its workers
    publishes_part: bool = False  # a worker elsewhere: its part goes through the file store


@dataclass(frozen=True)
class CrawlError:
    """One request that failed for good (after its retries)."""

    url: str
    reason: str
    status: int | None = None


DROPPED = {
    "size": "over the size limit",
    "type": "not text (an image, a PDF, other binary content)",
    "robots": "disallowed by robots.txt",
}
"""Why a crawl drops a response or request without an error, by the key its count has."""


@dataclass(frozen=True)
class CrawlStats:
    """What a crawl did, as the parent and the ``harvest.crawls`` table see it."""

    pages: int = 0
    items: int = 0
    errors: int = 0
    retries: int = 0
    duration_s: float = 0.0
    finish_reason: str = ""
    media: int = 0
    robots_forbidden: int = 0
    browser_pages: int = 0  # requests rendered in chromium
    browser_pages_closed: int = 0
    browser_contexts_closed: int = 0
    errors_by_reason: dict[str, int] = field(default_factory=dict)
    error_samples: tuple[CrawlError, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict)  # by a key of DROPPED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrawlStats:
        samples = tuple(CrawlError(**e) for e in data.get("error_samples", ()))
        known = {
            k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "error_samples"
        }
        return cls(**known, error_samples=samples)


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (readers never see half a file)."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(_plain(value), default=str), encoding="utf-8")
    os.replace(partial, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


class ItemWriter:
    """Appends records to ``items.jsonl``; dates and datetimes as ISO text."""

    def __init__(self, folder: Path, line_buffered: bool = False) -> None:
        # A frontier worker writes a line at a time: a page is acknowledged once its records
        # are written, and a worker killed then must not lose them in a buffer.
        buffering = 1 if line_buffered else -1
        self._file: TextIO = (folder / ITEMS).open("a", encoding="utf-8", buffering=buffering)

    def write(self, row: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(row, default=_iso, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True)
class CrawlCounts:
    """How far a running crawl got, as its ``progress.json`` says."""

    source: str
    pages: int
    items: int
    errors: int


def running_crawl(landing_root: Path, source: str, since: datetime) -> CrawlCounts | None:
    """The counts of the newest crawl of ``source`` that started landing after ``since``.

    None when there is none: not started yet, or committed (its folder is removed then).
    """
    newest: tuple[float, CrawlCounts] | None = None
    for job_file in landing_root.glob(f"*/{JOB}") if landing_root.is_dir() else ():
        try:
            began = job_file.stat().st_mtime
            job = read_json(job_file)
            counts = read_json(job_file.parent / PROGRESS)
        except (OSError, ValueError):
            continue  # gone while we looked, or no counts yet
        if job.get("source") != source or began < since.timestamp() - 1.0:
            continue
        found = CrawlCounts(
            source,
            int(counts.get("pages", 0)),
            int(counts.get("items", 0)),
            int(counts.get("errors", 0)),
        )
        if newest is None or began > newest[0]:
            newest = (began, found)
    return newest[1] if newest else None
