"""Fuzzing the SQL sandbox with statements built from DuckDB's grammar and its own functions.

Each statement mixes what an attacker reaches for: every table function DuckDB has, called on
the catalog database, a version's file, files outside the workspace and the data folder;
EXPLAIN and EXPLAIN ANALYZE; PRAGMAs; macros, views and tables; COPY, ATTACH, SET and
friends; all nested in subqueries, CTEs and set operations. Whatever runs or is refused,
nothing outside the versions' files is read (a secret planted outside never shows), nothing
is written anywhere, and the console answers an honest query afterwards.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.sandbox import Limits, QueryError, Sandbox
from core.workspace import Workspace

SECRET = "hunter2-do-not-leak"
STATEMENTS = 160


def _table_functions() -> list[str]:
    con = duckdb.connect()
    rows = con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'table'"
    ).fetchall()
    con.close()
    return sorted(name for (name,) in rows)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the sandbox's own copies and SQLite's WAL and index."""
    return {
        str(p): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "sandbox" not in p.relative_to(root).parts
        and not p.name.endswith(("-wal", "-shm"))
    }


def _statements(seed: int, paths: list[str]) -> list[str]:
    rng = random.Random(seed)
    functions = _table_functions()

    def path() -> str:
        return "'" + rng.choice(paths) + "'"

    def call() -> str:
        name = rng.choice(functions)
        args = rng.choice(["", path(), f"{path()}, 't'", f"{path()}, 'SELECT 1'", "'lake'"])
        return f"{name}({args})"

    def source() -> str:
        return rng.choice(
            [
                call(),
                call(),
                "raw.shop",
                "raw.shop@1",
                path(),
                f"(SELECT * FROM {call()})",
                "lake.raw.shop",
                "__ducklake_metadata_lake.ducklake_data_file",
            ]
        )

    def query() -> str:
        return rng.choice(
            [
                f"SELECT * FROM {source()}",
                f"SELECT count(*) FROM {source()}",
                f"WITH a AS (SELECT * FROM {source()}) SELECT * FROM a",
                f"SELECT * FROM raw.shop WHERE EXISTS (SELECT * FROM {source()})",
                f"SELECT 1 UNION ALL SELECT count(*) FROM {source()}",
                f"SELECT * FROM query({path()})",
                f"SELECT content FROM read_blob({path()})",
                "SELECT current_setting('allowed_paths')",
                f"SELECT * FROM sqlite_scan({path()}, 'ducklake_snapshot')",
            ]
        )

    def write() -> str:
        return rng.choice(
            [
                f"COPY ({query()}) TO {path()} (FORMAT parquet)",
                f"CREATE OR REPLACE VIEW raw.shop AS {query()}",
                "CREATE MACRO lower(x) AS 'evil'",
                f"CREATE TABLE t AS {query()}",
                f"ATTACH {path()} AS other",
                "SET enable_external_access = true",
                "SET lock_configuration = false",
                "RESET allowed_paths",
                "INSTALL httpfs",
                "LOAD sqlite_scanner",
                "CALL ducklake_merge_adjacent_files('lake')",
                "DROP VIEW raw.shop",
                f"PIVOT ({query()}) ON 1 USING count(*)",
                "CHECKPOINT",
                f"EXPORT DATABASE {path()}",
            ]
        )

    made = []
    for _ in range(STATEMENTS):
        body = rng.choice([query, query, write])()
        prefix = rng.choice(
            ["", "", "EXPLAIN ", "EXPLAIN ANALYZE ", "PRAGMA ", "DESCRIBE ", "SUMMARIZE "]
        )
        made.append(prefix + body)
    return made


@pytest.mark.slow
def test_fuzzed_statements_read_only_the_versions_and_write_nothing(
    catalog: Catalog, workspace: Workspace, tmp_path: Path
) -> None:
    catalog.commit("raw.shop", pa.table({"sku": ["a", "b"], "price": [1.0, 2.0]}), producer="t")
    catalog.commit("raw.shop", pa.table({"sku": ["a"], "price": [3.0]}), producer="t")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "secret.csv").write_text(f"secret\n{SECRET}\n")
    with sqlite3.connect(outside / "secret.sqlite") as db:
        db.execute("CREATE TABLE t (secret TEXT)")
        db.execute("INSERT INTO t VALUES (?)", [SECRET])
    data = Path(workspace.data_path)
    catalog_file = workspace.catalog_file
    assert catalog_file is not None
    version_file = str(next(data.glob("raw/shop/*.parquet")))
    paths = [
        str(catalog_file),
        version_file,
        str(data),
        str(data / "raw" / "*"),
        str(outside / "secret.txt"),
        str(outside / "secret.csv"),
        str(outside / "secret.sqlite"),
        str(outside / "new.parquet"),
        str(data / "raw" / "shop" / "new.parquet"),
        "/etc/passwd",
    ]
    before_home, before_outside = _snapshot(workspace.home), _snapshot(outside)
    sandbox = Sandbox(workspace, Limits(seconds=10, memory="256MB"))
    outcomes = {"refused": 0, "ran": 0}
    statements = _statements(seed=20261206, paths=paths)
    assert len(set(statements)) > STATEMENTS // 2
    try:
        for sql in statements:
            try:
                result = sandbox.query(sql)
            except QueryError as error:
                assert "\n" not in str(error).strip(), sql
                assert SECRET not in str(error), sql
                outcomes["refused"] += 1
                continue
            outcomes["ran"] += 1
            assert SECRET not in str(result.to_pylist()), sql
        assert sandbox.query("SELECT sum(price) AS s FROM raw.shop@1").to_pylist() == [{"s": 3.0}]
        assert sandbox.query("SELECT lower('OK') AS s").to_pylist() == [{"s": "ok"}]
    finally:
        sandbox.close()
    assert _snapshot(workspace.home) == before_home  # nothing written but the sandbox's copies
    assert _snapshot(outside) == before_outside
    assert not (outside / "new.parquet").exists()
    assert outcomes["refused"] > 0 and outcomes["ran"] > 0  # the generator reached both sides
    assert catalog.read("raw.shop@1").to_pylist() == [
        {"sku": "a", "price": 1.0},
        {"sku": "b", "price": 2.0},
    ]
