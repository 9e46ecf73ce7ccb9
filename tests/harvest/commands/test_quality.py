"""``harvest clean`` and ``harvest quality``: commits, the quality gate's exit 1, reports as
tables and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalog import Catalog
from core.workspace import Workspace
from tests.catalog.cleaning.fixtures import shop_rows

SPEC = """
key: [sku]
columns:
  description: {type: text, language: false}
rules:
  - {kind: range, column: price, min: 0, max: 100000, name: price is sane}
  - {kind: max_null_share, column: name, max: 0.1, severity: warn, name: names there}
"""


def harvest(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def home(workspace: Workspace) -> Path:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.shop", shop_rows(), producer="scrape:test", key=("sku",))
    (workspace.sources / "shop.clean.yaml").write_text(SPEC)
    return workspace.home


def test_clean_then_quality(home: Path) -> None:
    cleaned = harvest(home, "clean", "shop")
    assert cleaned.returncode == 0, cleaned.stderr
    assert "Committed clean.shop@1 from raw.shop@1" in cleaned.stdout
    assert "rows: 6 raw -> 5 clean (1 duplicate(s)" in cleaned.stdout
    assert "1 e-mail(s), 1 phone(s), 1 card(s)" in cleaned.stdout
    assert "names there" in cleaned.stdout and "FAIL" in cleaned.stdout

    report = json.loads(harvest(home, "quality", "shop", "--json").stdout)
    assert report["dataset"] == "clean.shop" and report["source"] == "raw.shop@1"
    assert [r["name"] for r in report["rules"] if not r["passed"]] == ["names there"]
    assert {p["name"] for p in report["profile"]} >= {"price", "price_currency", "_outlier"}

    shown = harvest(home, "quality", "clean.shop@1")
    assert shown.returncode == 0 and "Profile" in shown.stdout and "sku=A2" in shown.stdout
    listed = json.loads(harvest(home, "catalog", "list", "--json").stdout)
    score = next(d["latest"]["quality_score"] for d in listed if d["name"] == "clean.shop")
    assert score == report["score"]["value"]

    raw = json.loads(harvest(home, "quality", "raw.shop", "--json").stdout)
    assert raw["stored"] is False and len(raw["profile"]) == 9


def test_a_failing_error_rule_exits_1_and_names_the_rule(home: Path, tmp_path: Path) -> None:
    strict = tmp_path / "strict.clean.yaml"
    strict.write_text(SPEC.replace("max: 100000", "max: 100"))
    result = harvest(home, "clean", "shop", "--spec", str(strict))
    assert result.returncode == 1
    assert (
        "Nothing was committed to clean.shop: 1 error rule(s) failed: price is sane"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "clean.shop" not in harvest(home, "catalog", "list").stdout


def test_a_bad_spec_is_one_sentence(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.clean.yaml"
    bad.write_text("columns:\n  price: {tpye: price}\n")
    result = harvest(home, "clean", "shop", "--spec", str(bad))
    assert result.returncode == 1
    assert "unknown key `columns.price.tpye`" in result.stderr
    assert "Traceback" not in result.stderr
