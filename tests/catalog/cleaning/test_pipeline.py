"""clean(): raw version in, clean version with lineage, report and score out (or nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.cleaning import clean, from_json
from catalog.cleaning.spec import parse_spec
from core.errors import NotFoundError
from tests.catalog.cleaning.fixtures import (
    T0,
    TEN_MB,
    demo_articles,
    demo_products,
    demo_reviews,
    fetched,
    hostile_rows,
    shop_rows,
)


def test_a_clean_version_names_its_raw_version_and_spec(catalog: Catalog) -> None:
    catalog.commit("raw.shop", shop_rows(), producer="scrape:1", key=("sku",))
    result = clean(catalog, "shop")
    version = result.version
    assert version is not None and result.created
    assert version.ref == "clean.shop@1"
    assert version.parents == ("raw.shop@1",)
    assert version.producer == f"clean:{result.report.spec_hash}"
    assert version.quality_score == result.score == catalog.report("clean.shop@1")["score"]["value"]
    assert catalog.dataset("clean.shop").latest.quality_score == result.score  # type: ignore[union-attr]

    rows = {r["sku"]: r for r in catalog.read("clean.shop").to_pylist()}
    assert sorted(rows) == ["A1", "A2", "A3", "A4", "A5"]
    assert rows["A2"]["price"] == 13.0  # the fresher of the two A2 rows
    assert (rows["A1"]["price"], rows["A1"]["price_currency"]) == (1299.0, "USD")
    assert (rows["A3"]["price"], rows["A3"]["price_currency"]) == (1299.0, "EUR")
    assert rows["A5"]["price"] is None
    assert [rows[s]["availability"] for s in ("A1", "A2", "A4")] == [True, True, False]
    assert rows["A1"]["name"] == "Blue shirt" and rows["A3"]["name"] == "Green & gold"
    assert rows["A1"]["description"] == "Great shirt. Mail me at [EMAIL] or call [PHONE]."
    assert rows["A3"]["description"] == "Pay with [CARD]"
    assert rows["A1"]["image"] == "http://shop.test/img/1.jpg"
    assert rows["A5"]["image"] == "http://shop.test/p/3.jpg"

    report = result.report
    assert (report.rows.raw, report.rows.clean, report.rows.duplicates) == (6, 5, 1)
    key_dups = next(d for d in report.duplicates if d.kind == "key")
    assert [r.row for r in key_dups.rows] == ["sku=A2"]
    assert (report.pii.email, report.pii.phone, report.pii.card) == (1, 1, 1)
    price = next(c for c in report.columns if c.output == "price")
    assert (price.parsed, price.unparseable, price.examples) == (6, 1, ("Price on request",))
    assert {p.name for p in report.profile} >= {"price", "price_currency", "_outlier"}


def test_cleaning_the_same_raw_version_again_makes_no_new_version(catalog: Catalog) -> None:
    catalog.commit("raw.shop", shop_rows(), producer="scrape:1", key=("sku",))
    first = clean(catalog, "shop")
    again = clean(catalog, "shop@1")
    assert first.report.spec_hash == again.report.spec_hash
    assert not again.created and again.version == first.version


def test_a_failing_error_rule_commits_nothing(catalog: Catalog) -> None:
    catalog.commit("raw.shop", shop_rows(), producer="scrape:1", key=("sku",))
    spec = parse_spec(
        {
            "rules": [
                {"kind": "range", "column": "price", "max": 100, "name": "cheap"},
                {"kind": "required", "column": "name", "severity": "warn"},
            ]
        },
        source="shop",
        where="test",
    )
    result = clean(catalog, "shop", spec)
    assert result.blocked and result.version is None
    assert [r.name for r in result.failed] == ["cheap"]
    assert result.failed[0].detail == "2 value(s) outside [, 100]"
    assert [r.name for r in result.warnings] == ["required(name)"]
    with pytest.raises(NotFoundError):
        catalog.versions("clean.shop")


def test_a_failing_warning_commits_and_is_recorded(catalog: Catalog) -> None:
    catalog.commit("raw.shop", shop_rows(), producer="scrape:1", key=("sku",))
    spec = parse_spec(
        {"rules": [{"kind": "required", "column": "name", "severity": "warn"}]},
        source="shop",
        where="test",
    )
    result = clean(catalog, "shop", spec)
    assert result.version is not None
    stored = catalog.report(result.version.ref)
    assert [(r["name"], r["passed"]) for r in stored["rules"]] == [("required(name)", False)]
    assert result.report.score.conformance == 0.0


def test_missing_values_are_filled_or_their_rows_dropped(catalog: Catalog) -> None:
    catalog.commit("raw.shop", shop_rows(), producer="scrape:1", key=("sku",))
    spec = parse_spec(
        {
            "columns": {
                "name": {"type": "text", "required": True},
                "description": {"type": "text", "missing": "fill", "fill": "(none)"},
            }
        },
        source="shop",
        where="test",
    )
    result = clean(catalog, "shop", spec)
    table = catalog.read("clean.shop")
    assert None not in table.column("name").to_pylist()
    assert "(none)" in table.column("description").to_pylist()
    columns = {c.output: c for c in result.report.columns}
    assert columns["name"].dropped_rows == 1 and columns["description"].filled == 1
    assert result.report.rows.dropped_missing == 1


def test_hostile_input_is_cleaned_and_committed(catalog: Catalog) -> None:
    catalog.commit("raw.hostile", hostile_rows(), producer="test", key=("id",))
    result = clean(catalog, "hostile")
    assert result.version is not None
    rows = {r["id"]: r for r in catalog.read("clean.hostile").to_pylist()}
    assert rows["h1"]["title"] == "Title"
    assert rows["h2"]["title"] == "NULinside"
    assert rows["h3"]["title"] == "<not a tag> &amp; zero-width"
    assert len(rows["h1"]["body"]) > TEN_MB * 0.9 and "<p>" not in rows["h1"]["body"][:10]
    assert rows["h2"]["body"] == "contact: [EMAIL]"
    assert rows["h1"]["legacy"] == "café “quoted”"
    assert rows["h1"]["empty"] is None
    report = result.report
    assert next(c for c in report.columns if c.output == "legacy").not_utf8 == 1
    empty = next(p for p in report.profile if p.name == "empty")
    assert empty.null_share == 1.0
    assert 0 < report.score.value < 100


def test_a_column_whose_type_changes_between_versions(catalog: Catalog) -> None:
    spec = parse_spec(
        {"columns": {"price": {"type": "price", "currency": "USD"}}}, source="shop", where="t"
    )
    as_text = pa.table(
        {"sku": ["a", "b"], "price": ["$1.50", "$2"], "_fetched_at": fetched([0, 1])}
    )
    as_number = pa.table({"sku": ["a", "b"], "price": [1.75, 2.0], "_fetched_at": fetched([2, 3])})
    catalog.commit("raw.shop", as_text, producer="t", key=("sku",))
    first = clean(catalog, "shop", spec)
    catalog.commit("raw.shop", as_number, producer="t", key=("sku",))
    second = clean(catalog, "shop", spec)
    assert first.version is not None and second.version is not None
    assert dict(first.version.columns)["price"] == dict(second.version.columns)["price"] == "DOUBLE"
    assert catalog.read("clean.shop@2").column("price").to_pylist() == [1.75, 2.0]
    assert second.version.parents == ("raw.shop@2",)
    assert second.report.schema_changes == ()
    assert second.report.rows.previous == 2 and second.report.rows.change == 0


def test_a_row_count_drop_against_the_previous_version_can_stop_the_line(catalog: Catalog) -> None:
    spec = parse_spec({"rules": [{"kind": "max_row_drop", "max": 0.5}]}, source="shop", where="t")
    many = pa.table({"sku": [str(i) for i in range(10)], "_fetched_at": fetched(list(range(10)))})
    catalog.commit("raw.shop", many, producer="t", key=("sku",))
    assert clean(catalog, "shop", spec).version is not None
    catalog.commit("raw.shop", many.slice(0, 3), producer="t", key=("sku",))
    result = clean(catalog, "shop", spec)
    assert result.blocked
    assert result.failed[0].detail == "10 -> 3 rows: 70.0% fewer (at most 50.0% allowed)"
    assert len(catalog.versions("clean.shop")) == 1


def test_the_spec_beside_the_users_sources_is_used(catalog: Catalog) -> None:
    catalog.commit("raw.products", shop_rows(), producer="scrape:1", key=("sku",))
    path: Path = catalog.workspace.sources / "products.clean.yaml"
    path.write_text("output: goods\nkeep_unlisted: false\ncolumns:\n  sku: {type: category}\n")
    result = clean(catalog, "products")
    assert result.report.spec_origin == str(path)
    assert result.version is not None and result.version.ref == "clean.goods@1"
    names = catalog.read("clean.goods").column_names
    assert names == ["sku", "_url", "_fetched_at"]


def test_an_unknown_source_is_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match=r"There is no dataset 'raw\.nothing'"):
        clean(catalog, "nothing")


@pytest.mark.parametrize(
    ("source", "rows", "key", "raw_rows", "clean_rows"),
    [
        ("products", demo_products, ("_url",), 4, 3),
        ("articles", demo_articles, ("_url",), 3, 2),
        ("reviews", demo_reviews, ("review_id",), 3, 3),
    ],
)
def test_the_bundled_specs_clean_what_the_bundled_spiders_write(
    catalog: Catalog,
    source: str,
    rows: Callable[[], pa.Table],
    key: tuple[str, ...],
    raw_rows: int,
    clean_rows: int,
) -> None:
    catalog.commit(f"raw.{source}", rows(), producer="scrape:1", key=key)
    result = clean(catalog, source, now=T0 + timedelta(days=1))
    assert result.version is not None, [r.detail for r in result.failed]
    assert result.report.spec_origin == f"scrapers/sources/{source}.clean.yaml"
    assert (result.report.rows.raw, result.report.rows.clean) == (raw_rows, clean_rows)
    # In three rows, the lamp's missing price and description are a third: both warn.
    expected = (
        {"prices mostly known", "descriptions mostly there"} if source == "products" else set()
    )
    assert {r.name for r in result.warnings} == expected
    table = catalog.read(f"clean.{source}").to_pylist()
    if source == "products":
        saucepan = next(r for r in table if r["sku"] == "HV-KIT-01012")
        assert saucepan["title"] == "Classic Saucepan" and saucepan["price_currency"] == "EUR"
        assert saucepan["description"].endswith("Rated ★★ by our staff & friends.")
        assert saucepan["description_lang"] == "en" and saucepan["image_url"].endswith("/1.png")
        assert saucepan["image"] == "images/111.jpg"  # the downloaded photo, for image models
        assert {r["category"] for r in table} == {"Kitchen", "Outdoor & Camping", "Garden"}
        assert next(r for r in table if r["sku"] == "HV-GAR-01004")["gtin"] == "0012345678905"
    if source == "articles":
        near = next(d for d in result.report.duplicates if d.kind == "near")
        assert near.removed == 1 and near.rows[0].kept is not None
        assert {r["author"] for r in table} == {"Elena MacLeod", "Elena Haddad"}
    if source == "reviews":
        assert "[EMAIL]" in next(r["body"] for r in table if r["review_id"] == "1004-1")
        assert result.report.pii.email == 1


def test_the_report_has_a_drift_section_against_the_previous_clean_version(
    catalog: Catalog,
) -> None:
    spec = parse_spec({"columns": {"price": {"type": "number"}}}, source="shop", where="t")
    skus = [str(i) for i in range(200)]
    cheap = pa.table(
        {
            "sku": skus,
            "price": [float(i % 50) for i in range(200)],
            "_fetched_at": fetched([0] * 200),
        }
    )
    dear = pa.table(
        {
            "sku": skus,
            "price": [float(40 + i % 50) for i in range(200)],
            "_fetched_at": fetched([1] * 200),
        }
    )
    catalog.commit("raw.shop", cheap, producer="t", key=("sku",))
    first = clean(catalog, "shop", spec)
    assert first.report.drift is None  # nothing to compare the first version with
    catalog.commit("raw.shop", dear, producer="t", key=("sku",))
    second = clean(catalog, "shop", spec)
    drift = second.report.drift
    assert drift is not None
    assert (drift.before, drift.after) == ("clean.shop@1", "clean.shop@2")
    assert drift.column("price").ks == pytest.approx(0.8)  # 40 of 50 levels moved past the old
    assert drift.column("sku").psi == pytest.approx(0.0)
    assert [c.column for c in drift.over(0.2)] == ["price"]
    stored = from_json(catalog.report("clean.shop@2"))
    assert stored.drift == drift
    assert any(t.step == "drift" for t in second.report.timings)
