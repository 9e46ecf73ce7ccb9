"""Drift benchmark: Harvest's per-column drift of two versions against SciPy and NumPy.

Two versions of a 1M-row, 20-column numeric dataset (``HARVEST_BENCH_DRIFT_ROWS`` sets the
rows): normal, skewed (log-normal) and integer columns, half of them shifted in the second
version. Harvest's ``version_drift`` (PSI and exact KS per column, in DuckDB over the
committed Parquet files) ÷ ``scipy.stats.ks_2samp`` plus a NumPy PSI (decile edges of the
first version, ``searchsorted``, ``bincount``) per column over the same data already in
pandas (goal ≤ 1.0). The KS statistics of both sides are checked equal first.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from bench.common import Figure, paired_ratio
from catalog import Catalog
from catalog.drift import EPSILON, QUANTILES, version_drift

ROWS = int(os.environ.get("HARVEST_BENCH_DRIFT_ROWS", 1_000_000))
COLUMNS = 20


def versions(rows: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two versions; columns with an odd index move in the second."""
    rng = np.random.default_rng(seed)
    first, second = {}, {}
    for index in range(COLUMNS):
        shift = 0.2 * (index % 2)
        if index % 3 == 0:
            first[f"c{index}"] = rng.normal(0, 1, rows)
            second[f"c{index}"] = rng.normal(shift, 1, rows)
        elif index % 3 == 1:
            first[f"c{index}"] = rng.lognormal(0, 1.5, rows)
            second[f"c{index}"] = rng.lognormal(shift, 1.5, rows)
        else:
            first[f"c{index}"] = rng.integers(0, 1000, rows).astype(float)
            second[f"c{index}"] = rng.integers(int(200 * shift), 1000, rows).astype(float)
    return pd.DataFrame(first), pd.DataFrame(second)


def numpy_psi(before: np.ndarray, after: np.ndarray) -> float:
    """PSI over the deciles of ``before``, empty bins counted as EPSILON."""
    edges = np.quantile(before, QUANTILES)
    bins = len(QUANTILES) + 1
    a = np.bincount(np.searchsorted(edges, before, side="right"), minlength=bins) / len(before)
    b = np.bincount(np.searchsorted(edges, after, side="right"), minlength=bins) / len(after)
    a, b = np.maximum(a, EPSILON), np.maximum(b, EPSILON)
    return float(np.sum((b - a) * np.log(b / a)))


def baseline(first: pd.DataFrame, second: pd.DataFrame) -> dict[str, tuple[float, float]]:
    return {
        name: (
            numpy_psi(first[name].to_numpy(), second[name].to_numpy()),
            float(ks_2samp(first[name].to_numpy(), second[name].to_numpy()).statistic),
        )
        for name in first.columns
    }


def run() -> list[Figure]:
    first, second = versions(ROWS)
    with tempfile.TemporaryDirectory() as home, Catalog.open(home) as catalog:
        catalog.commit("imports.drift", first, producer="bench")
        catalog.commit("imports.drift", second, producer="bench")
        report = version_drift(catalog, "imports.drift@1", "imports.drift@2")
        expected = baseline(first, second)
        for column in report.columns:
            assert abs((column.ks or 0.0) - expected[column.column][1]) < 1e-9, column
        figure = paired_ratio(
            f"drift of two {ROWS:,}-row, {COLUMNS}-column versions ÷ SciPy ks_2samp + NumPy PSI",
            lambda: version_drift(catalog, "imports.drift@1", "imports.drift@2"),
            lambda: baseline(first, second),
            goal=1.0,
            pairs=3,
        )
    return [figure]
