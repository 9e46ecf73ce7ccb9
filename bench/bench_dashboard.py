"""Dashboard figures: the marketplace page with 1,000 datasets ÷ with 10, and SQL page ÷ plain DuckDB.

The workspaces are built through the real catalog (``Catalog.commit``) under
``bench/results/dashboard/`` and kept there, so only the first run pays for the 1,000 commits
(the harvest tables are compacted every 100 commits with DuckLake's own
``ducklake_merge_adjacent_files`` to keep that first build tractable).
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import streamlit as st
from streamlit.logger import set_log_level
from streamlit.testing.v1 import AppTest

from bench.common import Figure, best_of, ratio
from catalog import Catalog, Listing
from catalog.engine import LAKE, connect
from core.workspace import Workspace

ROOT = Path(__file__).parent / "results" / "dashboard"
APP = Path(__file__).parents[1] / "dashboard" / "streamlit_app.py"
TAGS = ("shop", "prices", "news", "weather", "sports", "finance", "health", "travel")
LICENSES = ("CC0-1.0", "CC-BY-4.0", "ODbL-1.0", "proprietary")
BIG_ROWS = 2_000_000
SQL = "SELECT g, count(*) AS n, avg(x) AS mean_x, max(y) AS max_y FROM imports.big GROUP BY g ORDER BY g"


def _listing(i: int) -> Listing:
    return Listing(
        title=f"Dataset {i}",
        description=f"Synthetic dataset number {i}, with a few typed columns for the marketplace benchmark.",
        license=LICENSES[i % len(LICENSES)],
        tags=(TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)]),
        publisher=f"Publisher {i % 17}",
        source_url=f"https://example.org/data/{i}",
    )


def workspace_with(n: int) -> Workspace:
    """A workspace with ``n`` small datasets (built once, then reused)."""
    home = ROOT / f"n{n}"
    with Catalog.open(home) as cat:
        have = {d.name for d in cat.datasets()}
        for i in range(n):
            name = f"imports.ds_{i:04d}"
            if name in have:
                continue
            table = pa.table({"id": [1, 2, 3], "value": [float(i)] * 3, "label": ["a", "b", "c"]})
            cat.commit(name, table, producer="bench", key=("id",), listing=_listing(i))
            if i % 100 == 99:
                cat.cursor().execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    return Workspace.at(home)


def _marketplace_run(home: Path, cold: bool) -> float:
    os.environ["HARVEST_HOME"] = str(home)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("app_pages/marketplace.py")
    if not cold:
        at.run()
    else:
        st.cache_data.clear()
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    from dashboard import data

    assert not at.exception and f"of {len(data.datasets()):,} datasets" in at.caption[0].value
    return elapsed


def marketplace_figures() -> list[Figure]:
    small, large = workspace_with(10), workspace_with(1000)
    figures = []
    for cold, label in ((False, "warm cache"), (True, "cold cache")):
        t_small = best_of(partial(_marketplace_run, small.home, cold), repeat=3)
        t_large = best_of(partial(_marketplace_run, large.home, cold), repeat=3)
        figures.append(
            ratio(f"marketplace page, 1,000 datasets ÷ 10 ({label})", t_large, t_small, goal=3)
        )
    return figures


def _big_workspace() -> Workspace:
    workspace = workspace_with(10)
    with Catalog.open(workspace) as cat:
        if not any(d.name == "imports.big" for d in cat.datasets()):
            rng = np.random.default_rng(7)
            table = pa.table(
                {
                    "id": np.arange(BIG_ROWS),
                    "g": rng.integers(0, 50, BIG_ROWS),
                    "x": rng.random(BIG_ROWS),
                    "y": rng.normal(size=BIG_ROWS),
                }
            )
            cat.commit("imports.big", table, producer="bench", key=("id",))
    return workspace


def sql_figure() -> Figure:
    from dashboard import data

    workspace = _big_workspace()
    os.environ["HARVEST_HOME"] = str(workspace.home)
    plain = connect(workspace, read_only=True)
    baseline_sql = SQL.replace("imports.big", f"{LAKE}.imports.big")

    def bare() -> None:
        plain.execute(baseline_sql).fetch_arrow_table()

    def page() -> None:
        data.query(SQL)

    page()
    bare()
    ours, theirs = data.query(SQL), plain.execute(baseline_sql).fetch_arrow_table()
    assert ours.num_rows == theirs.num_rows and ours.column("n").equals(theirs.column("n"))
    harvest_s, baseline_s = best_of(page, repeat=5), best_of(bare, repeat=5)
    plain.close()
    return ratio(
        f"SQL page query ÷ plain DuckDB ({BIG_ROWS:,}-row group-by)",
        harvest_s,
        baseline_s,
        goal=1.3,
    )


def run() -> list[Figure]:
    # The pages' loaders run here without a Streamlit server, which Streamlit warns about on
    # every call (and when they are defined: ``dashboard.data`` is imported after this);
    # the figures are what this prints.
    st.config.set_option("logger.level", "error")
    set_log_level("error")
    duckdb.default_connection()  # load DuckDB before timing anything
    return [*marketplace_figures(), sql_figure()]
