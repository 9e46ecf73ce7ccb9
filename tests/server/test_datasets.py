"""Dataset endpoints: listing, search and cursor pages, card, versions, schema and statistics,
quality, rows with columns and filters, downloads in every format, diffs, ETags."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator

import httpx
import pyarrow.parquet as pq
import pytest

from tests.server.conftest import DERIVED, GATED, PRIVATE, PUBLIC, Running

OPEN = f"/v1/datasets/{PUBLIC}"


@pytest.fixture(scope="module")
def owner(api: Running, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with api.client(tokens["owner"]) as c:
        yield c


def test_a_listing_pages_by_cursor_until_every_dataset_was_seen(owner: httpx.Client) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        page = owner.get(
            "/v1/datasets",
            params={"limit": 2, "sort": "name", **({"cursor": cursor} if cursor else {})},
        ).json()
        assert len(page["items"]) <= 2 and page["total"] == 4
        seen += [d["name"] for d in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert pages == 2 and sorted(seen) == sorted([PUBLIC, PRIVATE, GATED, DERIVED])
    titles = [owner.get("/v1/datasets", params={"sort": "name"}).json()["items"][0]["name"]]
    assert titles == [DERIVED]  # no title sorts by name first
    bad = owner.get("/v1/datasets", params={"cursor": "not-ours"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("The cursor is not one")


def test_search_filters_by_words_stage_tag_licence_and_quality(owner: httpx.Client) -> None:
    def names(**params: object) -> list[str]:
        return sorted(d["name"] for d in owner.get("/v1/datasets", params=params).json()["items"])

    assert names(q="gated words") == [GATED]
    assert names(stage="clean") == [DERIVED]
    assert names(tag="flowers") == [PUBLIC, PRIVATE]
    assert names(license="CC0-1.0") == [PUBLIC]
    assert names(min_quality=50) == []
    assert names(freshness="1d", q="iris") == [PUBLIC, PRIVATE]
    by_rows = owner.get("/v1/datasets", params={"sort": "rows", "stage": "imports"}).json()
    assert [d["latest"]["rows"] for d in by_rows["items"]] == [150, 149, 3]
    assert owner.get("/v1/datasets", params={"sort": "best"}).status_code == 422


def test_card_versions_and_a_version_with_its_schema_and_statistics(owner: httpx.Client) -> None:
    card = owner.get(OPEN).json()
    assert card["listing"]["title"] == "Open iris" and card["version_count"] == 2
    assert card["owner"] == "acme" and card["visibility"] == "public" and card["readable"]
    versions = owner.get(f"{OPEN}/versions").json()
    assert [(v["ref"], v["rows"]) for v in versions] == [(f"{PUBLIC}@1", 150), (f"{PUBLIC}@2", 149)]
    assert versions[1]["message"] == "one row less"
    one = owner.get(f"{OPEN}/versions/1").json()
    columns = {c["name"]: c for c in one["columns"]}
    assert list(columns)[:2] == ["row_id", "sepal_length"]
    assert columns["row_id"]["min"] == "0" and columns["row_id"]["max"] == "149"
    assert columns["species"]["distinct"] == 3
    assert owner.get(f"{OPEN}/versions/latest").json()["ref"] == f"{PUBLIC}@2"
    missing = owner.get(f"{OPEN}/versions/9")
    assert missing.status_code == 404 and missing.json()["detail"] == (
        f"{PUBLIC} has no version 9; it has versions 1 to 2."
    )
    assert owner.get(f"{OPEN}/versions/0").status_code == 422
    quality = owner.get(f"{OPEN}/versions/1/quality").json()
    assert quality == {"ref": f"{PUBLIC}@1", "quality_score": None, "report": None}


def test_a_pinned_version_is_cached_for_good_and_latest_is_checked(owner: httpx.Client) -> None:
    first = owner.get(f"{OPEN}/versions/1/rows", params={"limit": 3})
    assert first.headers["cache-control"] == "private, max-age=31536000, immutable"
    tag = first.headers["etag"]
    again = owner.get(
        f"{OPEN}/versions/1/rows", params={"limit": 3}, headers={"If-None-Match": tag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    other = owner.get(
        f"{OPEN}/versions/1/rows", params={"limit": 4}, headers={"If-None-Match": tag}
    )
    assert other.status_code == 200 and other.headers["etag"] != tag
    latest = owner.get(f"{OPEN}/versions/latest")
    assert latest.headers["cache-control"] == "private, no-cache"
    download = owner.get(f"{OPEN}/versions/1/download", headers={"If-None-Match": "*"})
    assert download.status_code == 304


def test_rows_by_offset_limit_columns_and_filter(owner: httpx.Client) -> None:
    page = owner.get(
        f"{OPEN}/versions/1/rows",
        params={"offset": 48, "limit": 5, "columns": "row_id,species", "where": "species=setosa"},
    ).json()
    assert page["total"] == 50 and page["offset"] == 48 and page["limit"] == 5
    assert [c["name"] for c in page["columns"]] == ["row_id", "species"]
    assert page["rows"] == [
        {"row_id": 48, "species": "setosa"},
        {"row_id": 49, "species": "setosa"},
    ]
    two = owner.get(
        f"{OPEN}/versions/1/rows", params=[("where", "species=virginica"), ("where", "row_id=149")]
    ).json()
    assert [r["row_id"] for r in two["rows"]] == [149] and two["total"] == 1
    capped = owner.get(f"{OPEN}/versions/1/rows", params={"limit": 100_000}).json()
    assert capped["limit"] == 1000 and len(capped["rows"]) == 150
    unknown = owner.get(f"{OPEN}/versions/1/rows", params={"columns": "row_id,colour"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == f"{PUBLIC}@1 has no column 'colour'."
    bad = owner.get(f"{OPEN}/versions/1/rows", params={"where": "species"})
    assert bad.status_code == 422 and "column=value" in bad.json()["detail"]


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_a_download_holds_every_row_of_the_version(
    owner: httpx.Client, fmt: str, compression: str
) -> None:
    response = owner.get(
        f"{OPEN}/versions/2/download", params={"format": fmt, "compression": compression}
    )
    assert response.status_code == 200
    assert response.headers.get("transfer-encoding") == "chunked"  # streamed, not sized up front
    suffix = ".gz" if compression == "gzip" else ""
    assert f'filename="{PUBLIC}-v2.{fmt}{suffix}"' in response.headers["content-disposition"]
    body = gzip.decompress(response.content) if compression == "gzip" else response.content
    if fmt == "parquet":
        rows = pq.read_table(io.BytesIO(body)).to_pylist()
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode())))
    else:
        rows = [json.loads(line) for line in body.decode().splitlines()]
    assert len(rows) == 149
    assert {str(r["row_id"]) for r in rows} == {str(i) for i in range(149)}
    assert float(next(r for r in rows if str(r["row_id"]) == "0")["sepal_length"]) == 6.1


def test_the_diff_of_two_versions_by_key(owner: httpx.Client) -> None:
    diff = owner.get(f"{OPEN}/diff", params={"before": 1, "after": 2}).json()
    assert (diff["added"], diff["removed"], diff["changed"]) == (0, 1, 1)
    assert [r["row_id"] for r in diff["removed_rows"]] == [149]
    assert diff["changed_cells"] == [
        {"row_id": 0, "column": "sepal_length", "before": "5.1", "after": "6.1"}
    ]
    assert diff["key"] == ["row_id"] and not diff["truncated"]
    none = owner.get(f"{OPEN}/diff", params={"before": 1, "after": 2, "limit": 0}).json()
    assert none["removed_rows"] == [] and none["truncated"]
    assert owner.get(f"{OPEN}/diff", params={"before": 1, "after": 7}).status_code == 404
