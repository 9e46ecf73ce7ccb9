"""The landing folder: items written by the child become a table typed by the spec."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from scrapers.landing import (
    CrawlError,
    CrawlStats,
    ItemWriter,
    build_table,
    read_items,
    read_json,
    write_json,
)
from tests.scrapers.conftest import make_spec

PROVENANCE = {
    "_fetched_at": "2026-01-02T03:04:05+00:00",
    "_status": 200,
    "_source": "test",
    "_run_id": "r1",
    "_content_hash": "ab",
}


def test_items_round_trip_with_types_and_a_cut_line(tmp_path: Path) -> None:
    spec = make_spec(
        extract=["jsonld"],
        item={
            "fields": {
                "price": {"css": "p", "type": "price"},
                "on": {"css": "p", "type": "date"},
                "tags": {"css": "p", "many": True},
                "n": {"css": "p", "type": "int"},
                "ok": {"css": "p", "type": "bool"},
            }
        },
    )
    writer = ItemWriter(tmp_path)
    writer.write(
        {
            "price": 9.5,
            "price_currency": "EUR",
            "on": date(2024, 3, 5),
            "tags": ["a", "b"],
            "n": 3,
            "ok": True,
            "sku": "S2",
            "_url": "https://x/2",
            **PROVENANCE,
        }
    )
    writer.write(
        {
            "price": None,
            "on": None,
            "tags": [],
            "n": None,
            "ok": False,
            "_url": "https://x/1",
            **PROVENANCE,
        }
    )
    writer.close()
    with (tmp_path / "items.jsonl").open("a") as items:
        items.write('{"price": 1.0, "_url": "https://x/3"')  # a line cut short by a killed writer
    table = build_table(read_items(tmp_path), spec)
    assert table.num_rows == 2
    assert table.column_names[:7] == ["price", "price_currency", "on", "tags", "n", "ok", "name"]
    assert table.column_names[-6:] == [
        "_url",
        "_fetched_at",
        "_status",
        "_source",
        "_run_id",
        "_content_hash",
    ]
    schema = table.schema
    assert schema.field("price").type == pa.float64() and schema.field("on").type == pa.date32()
    assert (
        schema.field("tags").type == pa.list_(pa.string()) and schema.field("n").type == pa.int64()
    )
    assert schema.field("ok").type == pa.bool_() and schema.field("review_count").type == pa.int64()
    assert schema.field("_fetched_at").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert [r["_url"] for r in rows] == ["https://x/1", "https://x/2"]  # sorted by key
    assert (
        rows[1]["on"] == date(2024, 3, 5)
        and rows[1]["tags"] == ["a", "b"]
        and rows[1]["sku"] == "S2"
    )
    assert rows[1]["_fetched_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_schema_is_stable_when_a_crawl_sees_no_values(tmp_path: Path) -> None:
    spec = make_spec(extract=["article"], item={"fields": {"price": {"css": "p", "type": "price"}}})
    empty = build_table([{"_url": "https://x/1", **PROVENANCE}], spec)
    full = build_table(
        [
            {
                "price": 2.0,
                "price_currency": "USD",
                "title": "T",
                "_url": "https://x/1",
                **PROVENANCE,
            }
        ],
        spec,
    )
    assert empty.schema == full.schema


def test_table_headers_become_text_columns(tmp_path: Path) -> None:
    spec = make_spec(extract=["tables"], key=["_url", "_table", "_row"])
    table = build_table(
        [
            {"_table": "t", "_row": 2, "2023 / H1": "1,200", "_url": "u", **PROVENANCE},
            {"_table": "t", "_row": 1, "Region": "North", "_url": "u", **PROVENANCE},
        ],
        spec,
    )
    assert table.column("_row").to_pylist() == [1, 2]
    assert table.schema.field("2023 / H1").type == pa.string() and "Region" in table.column_names


def test_stats_round_trip(tmp_path: Path) -> None:
    stats = CrawlStats(
        pages=3,
        items=2,
        errors=1,
        finish_reason="finished",
        errors_by_reason={"http 503": 1},
        error_samples=(CrawlError("https://x/e", "http 503", 503),),
    )
    write_json(tmp_path / "stats.json", stats)
    assert CrawlStats.from_json(read_json(tmp_path / "stats.json")) == stats
