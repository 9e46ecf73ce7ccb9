"""The marketplace's search, filters, sorts and pages over dataset listings (plain logic shared by
the dashboard and the API server)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalog import Dataset

PAGE_SIZE = 12
FRESHNESS: dict[str, timedelta | None] = {
    "Any time": None,
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _updated(d: Dataset) -> datetime:
    return d.latest.created_at if d.latest else (d.created_at or _EPOCH)


SORTS: dict[str, Callable[[Dataset], object]] = {
    "Recently updated": lambda d: -_updated(d).timestamp(),
    "Name": lambda d: (d.listing.title or d.name).lower(),
    "Most rows": lambda d: -(d.latest.rows if d.latest else -1),
    "Best quality": lambda d: (
        -(d.latest.quality_score if d.latest and d.latest.quality_score is not None else -1)
    ),
    "Most versions": lambda d: -d.version_count,
}


@dataclass(frozen=True)
class Filters:
    """What a person asked the marketplace for."""

    text: str = ""
    stages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    freshness: str = "Any time"
    min_quality: float = 0.0
    sort: str = "Recently updated"


def haystack(d: Dataset) -> str:
    """The text a search looks in: name, title, description, tags, publisher, source."""
    listing = d.listing
    parts = (d.name, listing.title, listing.description, " ".join(listing.tags))
    return " ".join((*parts, listing.publisher, listing.source_url, listing.license)).lower()


def _score(d: Dataset, words: Sequence[str]) -> int:
    """How well ``d`` matches every word (0: some word is missing); title and tag hits count more."""
    text = haystack(d)
    if not all(w in text for w in words):
        return 0
    strong = f"{d.name} {d.listing.title} {' '.join(d.listing.tags)}".lower()
    return 1 + sum(2 for w in words if w in strong)


def search(
    datasets: Sequence[Dataset], filters: Filters, now: datetime | None = None
) -> list[Dataset]:
    """The datasets that pass every filter, sorted (best text matches first when searching)."""
    words = filters.text.lower().split()
    window = FRESHNESS.get(filters.freshness)
    cutoff = (now or datetime.now(UTC)) - window if window else None
    kept = []
    for d in datasets:
        if filters.stages and d.stage not in filters.stages:
            continue
        if filters.tags and not set(filters.tags) & set(d.listing.tags):
            continue
        if filters.licenses and d.listing.license not in filters.licenses:
            continue
        if cutoff and _updated(d) < cutoff:
            continue
        score = d.latest.quality_score if d.latest else None
        if filters.min_quality > 0 and (score is None or score < filters.min_quality):
            continue
        kept.append(d)
    key = SORTS.get(filters.sort, SORTS["Recently updated"])
    kept.sort(key=key)  # type: ignore[arg-type]
    if words:
        scored = [(d, _score(d, words)) for d in kept]
        kept = [d for d, s in sorted(scored, key=lambda p: -p[1]) if s > 0]
    return kept


def facets(datasets: Sequence[Dataset]) -> tuple[list[str], list[str]]:
    """The tags and licences present, for the filter choices."""
    tags = sorted({t for d in datasets for t in d.listing.tags})
    licenses = sorted({d.listing.license for d in datasets if d.listing.license})
    return tags, licenses


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / size))


def page(items: Sequence[Dataset], number: int, size: int = PAGE_SIZE) -> list[Dataset]:
    """Page ``number`` (from 1) of ``items``."""
    start = (max(1, number) - 1) * size
    return list(items[start : start + size])


def preview(d: Dataset, columns: int = 6) -> list[tuple[str, str, str]]:
    """A tiny preview from the latest version's statistics: (column, type, range or example)."""
    if not d.latest:
        return []
    rows = []
    for stat in d.latest.stats[:columns]:
        if stat.min is not None and stat.max is not None and stat.min != stat.max:
            sample = f"{_short(stat.min)} … {_short(stat.max)}"
        else:
            sample = _short(stat.min) if stat.min is not None else "—"
        rows.append((stat.name, stat.type.lower(), sample))
    return rows


def _short(text: str, width: int = 24) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'3 minutes ago', 'yesterday', '12 days ago'."""
    if when is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"
