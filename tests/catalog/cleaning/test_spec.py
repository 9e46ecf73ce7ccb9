"""Spec files: validation in one sentence naming the bad key, lookup, hashing, bundled specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.cleaning.spec import bundled_specs, find_spec, load_spec, parse_spec, spec_files
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace

GOOD = """
key: [sku]
columns:
  price: {type: price, currency_column: currency, outliers: true}
  name: {type: text, required: true}
  stock: {type: boolean, missing: fill, fill: false}
dedup:
  near: {column: description, threshold: 0.85}
rules:
  - {kind: range, column: price, min: 0}
  - {kind: freshness, max_age: 2d, severity: warn}
"""


def test_a_good_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "shop.clean.yaml"
    path.write_text(GOOD)
    spec = load_spec(path)
    assert spec.source == "shop" and spec.target == "shop" and spec.key == ("sku",)
    assert [c.name for c in spec.columns] == ["price", "name", "stock"]
    assert spec.column("name") is not None and spec.column("name").missing == "drop"  # type: ignore[union-attr]
    assert spec.dedup.near is not None and spec.dedup.near.threshold == 0.85
    kinds = [(r.kind, r.columns) for r in spec.rules]
    assert kinds == [("required", ("name",)), ("range", ("price",)), ("freshness", ())]
    assert spec.rules[2].max_age_seconds == 2 * 86400
    assert len(spec.hash) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns:\n  price: {tpye: price}\n", "unknown key `columns.price.tpye`"),
        ("columns:\n  price: {type: prise}\n", "invalid at `columns.price.type`"),
        (
            "rules:\n  - {kind: range, column: price}\n",
            "a range rule needs `column` and `min` and/or `max`",
        ),
        ("rules:\n  - {kind: freshness, max_age: soon}\n", "`max_age` must be a duration"),
        ("dedup:\n  near: {column: text, threshold: 1.5}\n", "invalid at `dedup.near.threshold`"),
        ("columns:\n  a: {missing: fill}\n", "`missing: fill` needs a `fill` value"),
        ("- just a list\n", "must be a mapping"),
        ("key: [unclosed\n", "is not valid YAML"),
    ],
)
def test_bad_specs_say_what_is_wrong_in_one_sentence(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "shop.clean.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as error:
        load_spec(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_hash_changes_with_content_not_with_origin() -> None:
    a = parse_spec({"key": ["sku"]}, source="shop", where="a.yaml")
    b = parse_spec({"key": ["sku"]}, source="shop", where="b.yaml")
    c = parse_spec({"key": ["id"]}, source="shop", where="a.yaml")
    assert a.hash == b.hash != c.hash


def test_the_users_spec_wins_over_the_bundled_one(workspace: Workspace) -> None:
    assert find_spec(workspace, "products") == bundled_specs() / "products.clean.yaml"
    mine = workspace.sources / "products.clean.yaml"
    mine.write_text("key: [sku]\n")
    assert find_spec(workspace, "products") == mine
    assert find_spec(workspace, "nothing") is None
    listed = spec_files(workspace)
    assert listed["products"] == mine and listed["articles"].parent == bundled_specs()
    with pytest.raises(NotFoundError):
        load_spec(workspace.sources / "nothing.clean.yaml")


@pytest.mark.parametrize("path", sorted(bundled_specs().glob("*.clean.yaml")), ids=lambda p: p.name)
def test_bundled_specs_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert spec.rules and spec.origin == f"scrapers/sources/{path.name}"
