"""Inferred specs: column types from values, rules from the key."""

from __future__ import annotations

import pyarrow as pa

from catalog.cleaning.infer import complete_spec, infer_spec, infer_type
from catalog.cleaning.spec import CleanSpec, ColumnSpec


def test_types_are_read_from_values_and_names() -> None:
    cases = {
        "price": ["$1,299.00", "$12", "1.299,00 €"],
        "cost": ["12.50", "3.00 EUR"],
        "plain_cost": ["12.50", "3"],
        "count": ["1,234", "12", "7"],
        "rating": [4, 5],
        "available": ["https://schema.org/InStock", "Out of stock", "In stock"],
        "flag": ["yes", "no"],
        "when": ["2024-01-05", "5 Jan 2024", "Jan 6, 2024"],
        "image": ["/img/1.jpg", "/img/2.jpg", "http://x.test/y.png"],
        "photo": ["images/" + "0" * 40 + ".jpg", "images/" + "a1" * 20 + ".jpg"],
        "link": ["http://a.test/", "https://b.test/x"],
        "gtin": ["4017456129469", "0012345678905"],
        "zipped": ["01234", "02345"],
        "name": ["Blue shirt", "Red hat"],
        "body": ["A long description that reads like prose and goes on for a while. " * 3],
        "nothing": [None, None],
        "placeholder": ["$4.95", "—", "$50", "$7.95"],
    }
    got = {name: infer_type(name, pa.array(values)) for name, values in cases.items()}
    assert got == {
        "price": "price",
        "cost": "price",
        "plain_cost": "number",
        "count": "number",
        "rating": "integer",
        "available": "boolean",
        "flag": "boolean",
        "when": "date",
        "image": "url",
        "photo": "keep",  # downloaded by the scraper, a path under media/: left as it is
        "link": "url",
        "gtin": "category",
        "zipped": "category",
        "name": "text",
        "body": "text",
        "nothing": "text",
        "placeholder": "price",
    }


def test_an_inferred_spec_requires_and_deduplicates_by_the_key() -> None:
    table = pa.table(
        {
            "sku": ["a", "b"],
            "price": ["$1", "$2"],
            "currency": ["USD", "USD"],
            "text": ["word " * 60, "other " * 60],
            "_fetched_at": ["2024-01-01T00:00:00Z"] * 2,
            "_run_id": ["r1", "r1"],
        }
    )
    spec = infer_spec("shop", table, ("sku",))
    assert spec.origin == "inferred" and spec.key == ("sku",)
    sku, price, *_ = spec.columns
    assert sku.missing == "drop"
    assert price.type == "price" and price.currency_column == "currency" and price.outliers
    assert [c.type for c in spec.columns[-2:]] == ["date", "keep"]
    assert spec.dedup.near is not None and spec.dedup.near.column == "text"
    assert [(r.kind, r.severity) for r in spec.rules] == [
        ("min_rows", "error"),
        ("required", "error"),
        ("unique", "error"),
        ("max_row_drop", "warn"),
    ]


def test_completing_a_spec_infers_unlisted_columns_or_drops_them() -> None:
    table = pa.table({"a": ["1"], "b": ["x"], "_url": ["http://x.test/"]})
    written = CleanSpec(source="s", columns=(ColumnSpec("a", "text"),))
    assert [c.name for c in complete_spec(written, table, ()).columns] == ["a", "b", "_url"]
    narrow = CleanSpec(source="s", columns=(ColumnSpec("a", "text"),), keep_unlisted=False)
    assert [c.name for c in complete_spec(narrow, table, ("a",)).columns] == ["a", "_url"]
