"""The team setup's catalog (issue 17): PostgreSQL for the catalog, S3 for the data.

``harvest services up``'s servers (PostgreSQL, rclone's S3 server) are started in a
temporary folder, and on them:

(a) committing a 1M-row table as a version ÷ a bare DuckLake ``CREATE TABLE AS`` of the
    same table (and its commit) on the same catalog and bucket; goal ≤ 1.3;
(b) an aggregate over 1M rows through the sandbox ÷ plain DuckDB (httpfs, the same keys)
    reading the very file the catalog wrote for that version from the same S3; goal ≤ 1.2.
    The sandbox's worker never reaches S3 (it holds no keys): the trusted side copies a
    version's files into the workspace's cache once, so (b) is a warm query; the first
    query of a version, which pays that copy, is shown beside it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from bench.bench_catalog import QUERY, sample_table
from bench.common import Figure, best_of_each, ratio
from catalog import Catalog
from catalog.engine import create_s3_secret, load_extensions
from catalog.sandbox import Limits, Sandbox
from core import services
from core.workspace import Workspace


@contextmanager
def _team(scratch: Path) -> Iterator[Workspace]:
    """A workspace on freshly started PostgreSQL and S3 servers (stopped afterwards)."""
    home = scratch / "services"
    started = services.start(home)
    saved = dict(os.environ)
    try:
        os.environ.update(started.environment())
        yield Workspace.at(scratch / "home").ensure()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        services.stop(home)


def run() -> list[Figure]:
    table = sample_table()
    with tempfile.TemporaryDirectory() as scratch, _team(Path(scratch)) as workspace:
        catalog = Catalog.open(workspace)
        counter = itertools.count()
        bare = catalog.cursor()
        bare.register("rows", table)

        def commit() -> None:
            catalog.commit(f"raw.bench{next(counter)}", table, producer="bench")

        def ducklake_write() -> None:
            bare.execute("BEGIN TRANSACTION")
            bare.execute(f"CREATE TABLE lake.raw.bare{next(counter)} AS SELECT * FROM rows")
            bare.execute("COMMIT")

        commit_s, bare_s = best_of_each(commit, ducklake_write, repeat=5)

        catalog.commit("raw.products", table, producer="bench")
        sandbox = Sandbox(catalog.workspace, Limits(max_rows=1000))
        started = time.perf_counter()
        sandbox.query(QUERY.format("raw.products"))
        first_s = time.perf_counter() - started
        plain = duckdb.connect(config={"threads": 2})
        load_extensions(plain, workspace)
        create_s3_secret(plain, os.environ)
        plain_file = (
            catalog.cursor()
            .execute(
                "SELECT data_file FROM ducklake_list_files('lake', 'products', schema => 'raw')"
            )
            .fetchall()[0][0]
        )
        assert plain_file.startswith("s3://"), plain_file
        sandbox_s, plain_s = best_of_each(
            lambda: sandbox.query(QUERY.format("raw.products")),
            lambda: plain.execute(QUERY.format(f"read_parquet('{plain_file}')")).to_arrow_table(),
            repeat=15,
        )
        sandbox.close()
        catalog.close()
    return [
        ratio(
            "PostgreSQL + S3: commit 1M rows / bare DuckLake CREATE TABLE AS", commit_s, bare_s, 1.3
        ),
        ratio(
            "PostgreSQL + S3: sandboxed aggregate over 1M rows / plain DuckDB on S3",
            sandbox_s,
            plain_s,
            1.2,
        ),
        Figure(
            "  the version's first query (its files copied from S3 once) / plain DuckDB",
            first_s / plain_s,
            detail=f"first {first_s:.3f}s, plain {plain_s:.3f}s",
        ),
    ]
