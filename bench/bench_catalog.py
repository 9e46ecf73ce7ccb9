"""Catalog benchmarks: commit, sandboxed query and CSV import, each against a bare baseline.

(a) committing a 1M-row table as a version ÷ a bare DuckLake write of the same table
    (``CREATE TABLE lake... AS`` and its commit, no statistics, no version record); goal
    ≤ 1.3 (issue 17). Beside it, the same commit ÷ pyarrow ``write_table``;
(b) an aggregate over 1M rows through the sandbox ÷ plain DuckDB over the same Parquet
    (the very file the catalog wrote for that version, so both read the same bytes);
(c) importing a 1M-row CSV ÷ DuckDB's own ``read_csv`` into a table of a database file.

More figures, with no goal, show the floors under (a) and (b). Under (a): the bare
DuckLake write ÷ pyarrow ``write_table``; every DuckLake data file is written by DuckDB's
Parquet writer, so no commit can be faster than this. Under that: the same rows written
by DuckDB's own ``COPY ... TO`` a Parquet file, with no lake at all.
Under (b): the same query on the DuckLake table in an already open transaction, with no
sandbox, ÷ plain DuckDB; DuckLake's scan (its file list from the catalog, its own reader
setup) costs this much more than ``read_parquet``. The sandbox's views read a version's
files with ``read_parquet`` where that gives the same rows, so (b) can go below this floor.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import Figure, best_of_each, ratio
from catalog import Catalog
from catalog.importer import import_file
from catalog.sandbox import Limits, Sandbox

ROWS = 1_000_000
QUERY = "SELECT category, count(*) AS n, avg(price) AS mean_price, sum(qty) AS units FROM {} GROUP BY category"


def sample_table(rows: int = ROWS, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    categories = np.array(["books", "garden", "kitchen", "toys", "tools", "music"])
    return pa.table(
        {
            "id": np.arange(rows),
            "category": categories[rng.integers(0, len(categories), rows)],
            "price": rng.gamma(2.0, 20.0, rows).round(2),
            "qty": rng.integers(0, 50, rows),
            "name": [f"product {i}" for i in range(rows)],
        }
    )


def run() -> list[Figure]:
    table = sample_table()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        catalog = Catalog.open(root / "home")
        counter = itertools.count()

        def commit() -> None:
            catalog.commit(f"raw.bench{next(counter)}", table, producer="bench")

        def write_parquet() -> None:
            pq.write_table(table, root / f"plain{next(counter)}.parquet")

        bare = catalog.cursor()
        bare.register("rows", table)

        def ducklake_write() -> None:
            bare.execute("BEGIN TRANSACTION")
            bare.execute(f"CREATE TABLE lake.raw.bare{next(counter)} AS SELECT * FROM rows")
            bare.execute("COMMIT")

        def duckdb_copy() -> None:
            bare.execute(f"COPY rows TO '{root / f'copy{next(counter)}.parquet'}' (FORMAT parquet)")

        commit_s, write_s, bare_s, copy_s = best_of_each(
            commit, write_parquet, ducklake_write, duckdb_copy, repeat=5
        )

        catalog.commit("raw.products", table, producer="bench")
        sandbox = Sandbox(catalog.workspace, Limits(max_rows=1000))
        plain = duckdb.connect(config={"threads": 2})
        plain_file = (
            catalog.cursor()
            .execute(
                "SELECT data_file FROM ducklake_list_files('lake', 'products', schema => 'raw')"
            )
            .fetchall()[0][0]
        )
        lake = catalog.cursor()  # a bare DuckLake read: no sandbox, transaction already open
        lake.execute("SET threads=2")
        lake.execute("BEGIN TRANSACTION")
        sandbox_s, plain_s, lake_s = best_of_each(
            lambda: sandbox.query(QUERY.format("raw.products")),
            lambda: plain.execute(QUERY.format(f"read_parquet('{plain_file}')")).to_arrow_table(),
            lambda: lake.execute(QUERY.format("lake.raw.products")).to_arrow_table(),
            repeat=15,
        )
        lake.execute("ROLLBACK")

        csv = root / "products.csv"
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_parquet('{plain_file}')) TO '{csv}' (HEADER)"
        )
        target = duckdb.connect(str(root / "baseline.duckdb"))

        def import_csv() -> None:
            import_file(catalog, csv, f"products{next(counter)}")

        def read_csv() -> None:
            target.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{csv}')")
            target.execute("CHECKPOINT")

        import_s, read_s = best_of_each(import_csv, read_csv, repeat=3)
        sandbox.close()
        catalog.close()
    return [
        ratio("commit 1M rows as a version / bare DuckLake CREATE TABLE AS", commit_s, bare_s, 1.3),
        Figure(
            "  the same commit / pyarrow write_table",
            commit_s / write_s,
            detail=f"commit {commit_s:.3f}s, pyarrow {write_s:.3f}s",
        ),
        ratio(
            "sandboxed aggregate over 1M rows / plain DuckDB on Parquet", sandbox_s, plain_s, 1.2
        ),
        ratio("import a 1M-row CSV / DuckDB read_csv into a table", import_s, read_s, 1.3),
        Figure(
            "floor of (a): bare DuckLake table write / pyarrow write_table",
            bare_s / write_s,
            detail=f"ducklake {bare_s:.3f}s, pyarrow {write_s:.3f}s",
        ),
        Figure(
            "  under it: DuckDB's own COPY TO Parquet / pyarrow write_table",
            copy_s / write_s,
            detail=f"duckdb {copy_s:.3f}s, pyarrow {write_s:.3f}s",
        ),
        Figure(
            "floor of (b): bare DuckLake query in an open transaction / plain DuckDB",
            lake_s / plain_s,
            detail=f"ducklake {lake_s * 1000:.2f}ms, plain {plain_s * 1000:.2f}ms",
        ),
    ]
