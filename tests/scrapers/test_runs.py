"""The ``harvest.crawls`` table: rows written in catalog transactions, read newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from catalog import Catalog
from scrapers.landing import CrawlError
from scrapers.runs import TABLE, CrawlRun, last_runs, record_run

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def run(source: str, minutes: int, **keys: object) -> CrawlRun:
    moment = START + timedelta(minutes=minutes)
    values: dict[str, object] = {
        "run_id": f"{source}-{minutes}",
        "source": source,
        "dataset": f"raw.{source}",
        "status": "committed",
        "started_at": moment,
        "finished_at": moment,
        **keys,
    }
    return CrawlRun(**values)  # type: ignore[arg-type]


def test_runs_round_trip_newest_first_per_source(tmp_path: Path) -> None:
    with Catalog.open(tmp_path) as catalog:
        assert last_runs(catalog) == []
        failed = run(
            "shop",
            2,
            status="failed",
            message="the crawl process was killed (signal 9)",
            errors_by_reason={"http 503": 2},
            error_samples=(CrawlError("https://x/1", "http 503", 503),),
            counters={"media": 3},
        )
        for row in (run("shop", 1, version=1, pages=10, items=9), failed, run("mag", 3)):
            record_run(catalog, row)
        assert [r.run_id for r in last_runs(catalog)] == ["mag-3", "shop-2", "shop-1"]
        assert last_runs(catalog, "shop", limit=1) == [failed]


def test_a_table_from_an_older_harvest_gains_the_new_columns(tmp_path: Path) -> None:
    with Catalog.open(tmp_path) as catalog:
        catalog.transaction(
            lambda cur: cur.execute(
                f"CREATE TABLE {TABLE} (run_id VARCHAR, source VARCHAR, dataset VARCHAR, status VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ)"
            )
        )
        catalog.transaction(
            lambda cur: cur.execute(
                f"INSERT INTO {TABLE} VALUES ('old', 'shop', 'raw.shop', 'committed', ?, ?)",
                [START, START],
            )
        )
        assert last_runs(catalog)[0].run_id == "old" and last_runs(catalog)[0].counters == {}
        record_run(catalog, run("shop", 1, counters={"browser_pages": 4}))
        assert last_runs(catalog)[0].counters == {"browser_pages": 4}
