"""The worker's own decisions, without a process: what a statement reads, or why it may not run."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from catalog.sqlworker import inspect


@pytest.fixture(scope="module")
def parser() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


@pytest.mark.parametrize(
    ("sql", "tables", "everything"),
    [
        ("SELECT * FROM raw.shop", [["raw", "shop"]], False),
        (
            'SELECT * FROM raw."shop@2" JOIN clean.shop USING (sku)',
            [["clean", "shop"], ["raw", "shop@2"]],
            False,
        ),
        ("WITH x AS (SELECT 1) SELECT * FROM x", [["", "x"]], False),
        ("SELECT (SELECT max(a) FROM (SELECT a FROM imports.t)) AS m", [["imports", "t"]], False),
        ("VALUES (1), (2)", [], False),
        ("SELECT 1 UNION ALL SELECT 2", [], False),
        ("DESCRIBE raw.shop", [["raw", "shop"]], False),
        ("SUMMARIZE raw.shop", [["raw", "shop"]], False),
        ("SHOW TABLES", [], True),
        ("SELECT * FROM information_schema.tables", [["information_schema", "tables"]], True),
        ("SELECT * FROM query_table('raw.' || 'shop')", [], True),
        ("SELECT * FROM range(3)", [], False),
    ],
)
def test_a_plain_query_is_accepted_with_what_it_reads(
    parser: duckdb.DuckDBPyConnection, sql: str, tables: list[list[str]], everything: bool
) -> None:
    found = inspect(parser, sql)
    assert "refused" not in found, found
    assert sorted(found["tables"]) == sorted(tuple(t) for t in tables)
    assert found["everything"] is everything


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)", "EXPLAIN ANALYZE"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
        ("explain   analyse CREATE TABLE t AS SELECT 1", "EXPLAIN ANALYZE"),
        ("EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN is allowed only for a SELECT"),
        ("EXPLAIN CREATE MACRO lower(x) AS x", "EXPLAIN is allowed only for a SELECT"),
        ("CREATE MACRO lower(x) AS x", "CREATE statements are not allowed"),
        ("CREATE OR REPLACE VIEW raw.shop AS SELECT 1", "CREATE statements are not allowed"),
        ("DROP VIEW raw.shop", "DROP statements are not allowed"),
        ("PIVOT raw.shop ON sku USING sum(price)", "CREATE statements are not allowed"),
        ("SELECT * FROM ducklake_merge_adjacent_files('lake')", "outside the catalog"),
        ("SELECT * FROM sqlite_scan('/any/file.sqlite', 't')", "outside the catalog"),
        ("SELECT * FROM sqlite_query('/h/catalog.sqlite', 'SELECT 1')", "outside the catalog"),
        ("SELECT * FROM read_blob('/h/catalog.sqlite')", "outside the catalog"),
        ("SELECT * FROM (SELECT * FROM read_text('/etc/hostname'))", "outside the catalog"),
        ("WITH a AS (SELECT * FROM glob('/*')) SELECT * FROM a", "outside the catalog"),
        ("SELECT * FROM query('SELECT 1')", "query is not available"),
        ("SELECT * FROM json_execute_serialized_sql('{}')", "not available"),
        ("SELECT * FROM duckdb_secrets()", "not available"),
        ("SELECT * FROM checkpoint()", "not available"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
    ],
)
def test_anything_but_a_plain_query_is_refused(
    parser: duckdb.DuckDBPyConnection, sql: str, message: str
) -> None:
    assert message in inspect(parser, sql).get("refused", "")


def test_a_deeply_nested_query_is_inspected_without_recursion(
    parser: duckdb.DuckDBPyConnection,
) -> None:
    sql = "SELECT " + "(" * 500 + "1" + ")" * 500
    found = inspect(parser, sql)
    assert "refused" not in found
    assert found["tables"] == [] and found["everything"] is False and found["sql"] == sql
