"""The marketplace's search, filters, sorts, pages and previews, on Dataset records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalog import ColumnStats, Dataset, Listing, Version, market

NOW = datetime(2026, 2, 1, tzinfo=UTC)


def make(
    name: str,
    title: str,
    *,
    days_old: float = 0,
    rows: int = 10,
    score: float | None = None,
    tags: tuple[str, ...] = (),
    license: str = "CC0-1.0",
) -> Dataset:
    created = NOW - timedelta(days=days_old)
    version = Version(
        dataset=name,
        number=1,
        snapshot_id=1,
        rows=rows,
        columns=(("id", "BIGINT"), ("text", "VARCHAR")),
        stats=(
            ColumnStats("id", "BIGINT", 0, rows, "1", str(rows)),
            ColumnStats(
                "text",
                "VARCHAR",
                0,
                1,
                "a very long value that is cut short",
                "a very long value that is cut short",
            ),
        ),
        content_hash="h",
        producer="user:test",
        parents=(),
        message="",
        created_at=created,
        quality_score=score,
    )
    return Dataset(
        name=name,
        listing=Listing(title=title, tags=tags, license=license),
        latest=version,
        version_count=1,
    )


ALL = [
    make("raw.shoes", "Running shoes", days_old=0.5, rows=5, tags=("shop",)),
    make("clean.shoes", "Shoes, cleaned", days_old=3, rows=50, score=80, tags=("shop", "clean")),
    make(
        "imports.weather", "Weather stations", days_old=40, rows=500, score=99, license="ODbL-1.0"
    ),
]


def names(found: list[Dataset]) -> list[str]:
    return [d.name for d in found]


def test_search_needs_every_word_and_ranks_title_hits_first() -> None:
    assert names(market.search(ALL, market.Filters(text="shoes"), NOW)) == [
        "raw.shoes",
        "clean.shoes",
    ]
    assert names(market.search(ALL, market.Filters(text="shoes cleaned"), NOW)) == ["clean.shoes"]
    assert names(market.search(ALL, market.Filters(text="odbl"), NOW)) == ["imports.weather"]
    assert market.search(ALL, market.Filters(text="bicycles"), NOW) == []


def test_filters_by_stage_tag_licence_freshness_and_quality() -> None:
    assert names(market.search(ALL, market.Filters(stages=("clean",)), NOW)) == ["clean.shoes"]
    assert names(market.search(ALL, market.Filters(tags=("shop",)), NOW)) == [
        "raw.shoes",
        "clean.shoes",
    ]
    assert names(market.search(ALL, market.Filters(licenses=("ODbL-1.0",)), NOW)) == [
        "imports.weather"
    ]
    assert names(market.search(ALL, market.Filters(freshness="Last 24 hours"), NOW)) == [
        "raw.shoes"
    ]
    assert len(market.search(ALL, market.Filters(freshness="Last 7 days"), NOW)) == 2
    assert names(market.search(ALL, market.Filters(min_quality=90), NOW)) == ["imports.weather"]


def test_sorts() -> None:
    def by(sort: str) -> list[str]:
        return names(market.search(ALL, market.Filters(sort=sort), NOW))

    assert by("Most rows") == ["imports.weather", "clean.shoes", "raw.shoes"]
    assert by("Best quality") == ["imports.weather", "clean.shoes", "raw.shoes"]
    assert by("Name") == ["raw.shoes", "clean.shoes", "imports.weather"]
    assert by("Recently updated")[0] == "raw.shoes"


def test_pages_and_previews() -> None:
    many = ALL * 9  # 27
    assert market.page_count(len(many)) == 3
    assert len(market.page(many, 3)) == 3
    assert market.page_count(0) == 1
    preview = market.preview(ALL[0])
    assert preview[0] == ("id", "bigint", "1 … 5")
    assert preview[1][2].endswith("…") and len(preview[1][2]) == 24


def test_ago() -> None:
    assert market.ago(NOW - timedelta(seconds=5), NOW) == "just now"
    assert market.ago(NOW - timedelta(hours=1), NOW) == "1 hour ago"
    assert market.ago(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert market.ago(None, NOW) == "never"
