"""Drift on data whose shift is known: catalog/drift.py."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from catalog import Catalog
from catalog.drift import (
    EPSILON,
    column_kinds,
    drift,
    report_from_json,
    version_drift,
)
from catalog.engine import CatalogError

N = 20_000


def _drift_of(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, dict[str, Any]]:
    con = duckdb.connect()
    con.register("a", pa.Table.from_pandas(before, preserve_index=False))
    con.register("b", pa.Table.from_pandas(after, preserve_index=False))
    columns = [(str(r[0]), str(r[1])) for r in con.execute("DESCRIBE a").fetchall()]
    report = drift(con, "a", "b", columns)
    return report.to_json()["columns"]  # type: ignore[return-value]


def test_same_distribution_has_psi_near_zero_and_a_small_ks() -> None:
    rng = np.random.default_rng(1)
    before = pd.DataFrame({"price": rng.normal(50, 10, N), "brand": rng.choice(list("abc"), N)})
    after = pd.DataFrame({"price": rng.normal(50, 10, N), "brand": rng.choice(list("abc"), N)})
    columns = _drift_of(before, after)
    assert columns["price"]["kind"] == "number"
    assert columns["price"]["psi"] < 0.01
    assert columns["price"]["ks"] < 0.02
    assert columns["brand"]["kind"] == "category"
    assert columns["brand"]["psi"] < 0.01
    assert columns["brand"]["js"] < 0.02
    assert columns["price"]["missing_change"] == 0.0


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: (rng.normal(0, 1, N), rng.normal(0.5, 1, N)),
        lambda rng: (rng.lognormal(0, 2, N), rng.lognormal(0.2, 2, N)),  # skewed
        lambda rng: (rng.integers(0, 6, N).astype(float), rng.integers(1, 7, N).astype(float)),
        lambda rng: (rng.normal(0, 1e-6, N), rng.standard_t(2, N)),  # signs, tiny and huge
        lambda rng: (rng.normal(0, 1, N), rng.normal(0, 1, N)),  # the gap is tiny
    ],
    ids=["shifted-mean", "lognormal", "ties", "scales", "same"],
)
def test_ks_matches_scipy_ks_2samp(make: object) -> None:
    rng = np.random.default_rng(7)
    x, y = make(rng)  # type: ignore[operator]
    columns = _drift_of(pd.DataFrame({"v": x}), pd.DataFrame({"v": y}))
    assert columns["v"]["ks"] == pytest.approx(ks_2samp(x, y).statistic, abs=1e-9)


def test_shifted_mean_is_over_the_default_threshold() -> None:
    rng = np.random.default_rng(2)
    columns = _drift_of(
        pd.DataFrame({"v": rng.normal(0, 1, N)}), pd.DataFrame({"v": rng.normal(1, 1, N)})
    )
    assert columns["v"]["psi"] > 0.25
    assert columns["v"]["score"] == columns["v"]["psi"]


def test_ks_ignores_missing_values_and_missing_rate_change_is_reported() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, N), rng.normal(0.2, 1, N)
    x[: N // 10] = np.nan  # 10% missing before, 30% after
    y[: 3 * N // 10] = np.nan
    columns = _drift_of(pd.DataFrame({"v": x}), pd.DataFrame({"v": y}))
    present = ks_2samp(x[~np.isnan(x)], y[~np.isnan(y)]).statistic
    assert columns["v"]["ks"] == pytest.approx(present, abs=1e-9)
    assert columns["v"]["missing_before"] == pytest.approx(0.1)
    assert columns["v"]["missing_after"] == pytest.approx(0.3)
    assert columns["v"]["missing_change"] == pytest.approx(0.2)


def test_category_swap_matches_scipy_jensenshannon_and_a_numpy_psi() -> None:
    levels = ["red", "green", "blue", "grey"]
    before = pd.DataFrame({"colour": np.repeat(levels, [500, 300, 150, 50])})
    after = pd.DataFrame({"colour": np.repeat(levels, [50, 150, 300, 500])})  # swapped
    columns = _drift_of(before, after)
    p = np.array([500, 300, 150, 50]) / 1000
    q = p[::-1]
    assert columns["colour"]["js"] == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
    expected_psi = float(np.sum((q - p) * np.log(q / p)))
    assert columns["colour"]["psi"] == pytest.approx(expected_psi, abs=1e-9)


def test_a_category_only_one_side_has_counts_as_epsilon() -> None:
    before = pd.DataFrame({"c": ["a"] * 90 + ["b"] * 10})
    after = pd.DataFrame({"c": ["a"] * 80 + ["b"] * 10 + ["new"] * 10})
    columns = _drift_of(before, after)
    p = np.array([0.9, 0.1, EPSILON])
    q = np.array([0.8, 0.1, 0.1])
    assert columns["c"]["psi"] == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert columns["c"]["js"] == pytest.approx(
        jensenshannon([0.9, 0.1, 0.0], [0.8, 0.1, 0.1], base=2), abs=1e-9
    )


def test_text_length_and_vocabulary_shift() -> None:
    rng = np.random.default_rng(4)
    words = [f"word{i}" for i in range(200)]
    other = [f"other{i}" for i in range(200)]

    def texts(vocabulary: list[str], low: int, high: int) -> list[str]:
        return [" ".join(rng.choice(vocabulary, rng.integers(low, high))) for _ in range(2000)]

    base = pd.DataFrame({"body": texts(words, 10, 20)})
    same = _drift_of(base, pd.DataFrame({"body": texts(words, 10, 20)}))["body"]
    moved = _drift_of(base, pd.DataFrame({"body": texts(words[:100] + other, 30, 40)}))["body"]
    assert same["kind"] == moved["kind"] == "text"
    assert same["length_psi"] < 0.05 and same["vocabulary_js"] < 0.1
    assert same["unseen_words"] == 0.0
    assert moved["length_psi"] > 1.0
    assert moved["length_change"] > 1.0  # texts more than twice as long
    assert moved["vocabulary_js"] > 0.5
    assert moved["unseen_words"] == pytest.approx(2 / 3, abs=0.05)
    assert moved["score"] == max(moved["length_psi"], moved["vocabulary_js"])


def test_column_kinds_come_from_the_schema() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT 1.5 AS price, DATE '2026-01-01' AS day, true AS ok, "
        "'blue' AS colour, repeat('long text ', 10) AS body"
    )
    columns = [(str(r[0]), str(r[1])) for r in con.execute("DESCRIBE t").fetchall()]
    assert column_kinds(con, "t", columns) == {
        "price": "number",
        "day": "number",
        "ok": "category",
        "colour": "category",
        "body": "text",
    }


def test_dates_drift_as_numbers() -> None:
    start = date(2026, 1, 1)
    before = pd.DataFrame({"day": [start + timedelta(days=i % 30) for i in range(3000)]})
    after = pd.DataFrame({"day": [start + timedelta(days=20 + i % 30) for i in range(3000)]})
    columns = _drift_of(before, after)
    assert columns["day"]["kind"] == "number"
    assert columns["day"]["ks"] == pytest.approx(20 / 30, abs=1e-9)


def test_version_drift_compares_two_versions_of_a_dataset(catalog: Catalog) -> None:
    rng = np.random.default_rng(5)
    first = pd.DataFrame({"sku": range(N), "price": rng.normal(50, 10, N), "_url": "u", "old": 1})
    second = pd.DataFrame(  # new products, new identifiers: growth, not drift
        {"sku": range(N, 2 * N), "price": rng.normal(60, 10, N), "_url": "u", "new": 2}
    )
    catalog.commit("clean.products", first, producer="test", key=["sku"])
    catalog.commit("clean.products", second, producer="test")
    report = version_drift(catalog, "clean.products@1", "clean.products@2")
    assert (report.before, report.after) == ("clean.products@1", "clean.products@2")
    assert [c.column for c in report.columns] == ["price"]  # provenance and the key left out
    assert report.added == ("new",) and report.removed == ("old",)
    price = report.column("price")
    assert price.ks == pytest.approx(ks_2samp(first["price"], second["price"]).statistic, abs=1e-9)
    assert report.over(0.2) == (price,)
    assert "price" in report.summary(0.2)
    assert report_from_json(report.to_json()) == report


def test_no_shared_column_is_one_sentence() -> None:
    con = duckdb.connect()
    with pytest.raises(CatalogError, match="no column in common"):
        drift(con, "a", "b", [], labels=("x@1", "y@1"))
