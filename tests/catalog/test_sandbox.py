"""The SQL sandbox: datasets as views, pinned versions, and every refused form."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from catalog import Catalog
from catalog import sandbox as sandbox_module
from catalog.sandbox import Limits, QueryError, Sandbox, run_sql
from core.workspace import Workspace


@pytest.fixture
def sandbox(catalog: Catalog, workspace: Workspace) -> Sandbox:
    catalog.commit(
        "raw.shop", pa.table({"sku": ["a", "b", "c"], "price": [1.0, 2.0, 3.0]}), producer="t"
    )
    catalog.commit("raw.shop", pa.table({"sku": ["a", "b"], "price": [1.0, 2.5]}), producer="t")
    return Sandbox(workspace, Limits(seconds=120, memory="64MB"))


def test_datasets_are_views_and_versions_are_reachable(sandbox: Sandbox) -> None:
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]
    assert sandbox.query("SELECT sum(price) AS total FROM raw.shop@1").to_pylist() == [
        {"total": 6.0}
    ]
    joined = sandbox.query(
        "SELECT a.sku, a.price AS before, b.price AS after FROM raw.shop@1 a JOIN raw.shop@2 b USING (sku) "
        "WHERE a.price <> b.price"
    )
    assert joined.to_pylist() == [{"sku": "b", "before": 2.0, "after": 2.5}]
    # '@' inside a string literal is left alone
    assert sandbox.query("SELECT 'raw.shop@1' AS s").to_pylist() == [{"s": "raw.shop@1"}]


def test_new_datasets_appear_without_reopening(sandbox: Sandbox, catalog: Catalog) -> None:
    catalog.commit("imports.extra", pa.table({"x": [1, 2, 3]}), producer="t")
    assert sandbox.query("SELECT sum(x) AS s FROM imports.extra").to_pylist() == [{"s": 6}]


def test_an_open_sandbox_reads_each_new_version(sandbox: Sandbox, catalog: Catalog) -> None:
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]
    catalog.commit("raw.shop", pa.table({"sku": ["a"], "price": [9.0]}), producer="t")
    assert sandbox.query("SELECT sum(price) AS p FROM raw.shop").to_pylist() == [{"p": 9.0}]
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop@2").to_pylist() == [{"n": 2}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO lake.raw.shop VALUES ('z', 9)", "INSERT statements are not allowed"),
        ("DELETE FROM lake.raw.shop", "DELETE statements are not allowed"),
        ("UPDATE lake.raw.shop SET price = 0", "UPDATE statements are not allowed"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
        ("DROP TABLE lake.raw.shop", "DROP statements are not allowed"),
        ("ATTACH '/tmp/other.db' AS other", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "not allowed"),
        ("LOAD httpfs", "not allowed"),
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "COPY statements are not allowed"),
        ("SET memory_limit='100GB'", "SET statements are not allowed"),
        ("RESET memory_limit", "not allowed"),
        ("CALL lake.set_commit_message('a', 'b')", "CALL statements are not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "outside the catalog"),
        ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE runs the statement"),
        ("PRAGMA enable_profiling", "PRAGMA statements are not allowed"),
        ("PRAGMA database_size", "pragma_database_size is not available"),
        ("SELECT * FROM query('SELECT 1')", "query is not available"),
        ("SELECT * FROM read_text('/etc/hostname')", "outside the catalog"),
        ("SELECT * FROM glob('/etc/*')", "outside the catalog"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("", "empty"),
        ("SELEC 1", "not valid SQL"),
        ("SELECT * FROM raw.shop@9", "raw.shop@9 does not exist"),
        ("SELECT * FROM raw.nothing", "does not exist"),
    ],
)
def test_refused_forms_get_one_clear_sentence(sandbox: Sandbox, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        sandbox.query(sql)


def test_a_runaway_query_is_stopped_by_the_time_limit(
    sandbox: Sandbox, workspace: Workspace
) -> None:
    hasty = Sandbox(workspace, Limits(seconds=2))
    with pytest.raises(QueryError, match="longer than 2 seconds"):
        hasty.query("SELECT count(*) FROM range(1000000000000)")
    assert hasty.query("SELECT 1 AS ok").to_pylist() == [{"ok": 1}]  # still usable


def test_a_query_that_needs_too_much_memory_is_stopped(sandbox: Sandbox) -> None:
    with pytest.raises(QueryError, match="memory limit"):
        sandbox.query("SELECT list(range || 'xxxxxxxxxxxxxxxxxxxxxxxx') FROM range(20000000)")


def test_results_are_capped_at_max_rows(workspace: Workspace, catalog: Catalog) -> None:
    assert run_sql(workspace, "SELECT * FROM range(50)", Limits(max_rows=7)).num_rows == 7


def _view_sql(sandbox: Sandbox, view: str) -> str:
    """The body of a dataset's view in the sandbox's worker (``view`` as in ``shop@1``)."""
    rows = sandbox.query(
        f"SELECT sql FROM duckdb_views() WHERE schema_name = 'raw' AND view_name = '{view}'"
    )
    assert rows.num_rows == 1, f"no view raw.{view} in the worker"
    return str(rows.column("sql")[0])


def _lake(catalog: Catalog, sql: str) -> pa.Table:
    """``sql`` on the catalog's own connection: DuckLake's scan, no sandbox."""
    return catalog.cursor().execute(sql).to_arrow_table()


def _typed(rows: int) -> pa.Table:
    values = [i if i % 3 else None for i in range(rows)]
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "n": pa.array(values, pa.int32()),
            "x": pa.array([None if v is None else v / 4 for v in values], pa.float64()),
            "s": pa.array([None if v is None else f"s{v}" for v in values], pa.string()),
            "day": pa.array([None if v is None else dt.date(2020, 1, 1 + v % 28) for v in values]),
            "at": pa.array(
                [
                    None if v is None else dt.datetime(2021, 5, 1, v % 24, tzinfo=dt.UTC)
                    for v in values
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "ok": pa.array([None if v is None else v % 2 == 0 for v in values]),
            "tags": pa.array([None if v is None else [f"t{v}", "x"] for v in values]),
        }
    )


def test_a_file_view_reads_exactly_what_ducklake_reads(
    catalog: Catalog, workspace: Workspace
) -> None:
    catalog.commit("raw.typed", _typed(6), producer="t")
    catalog.commit("raw.typed", _typed(9), producer="t")
    first = catalog.version("raw.typed@1").snapshot_id
    sandbox = Sandbox(workspace)
    try:
        pairs = [
            ("typed", "lake.raw.typed"),
            ("typed@1", f"lake.raw.typed AT (VERSION => {first})"),
        ]
        for name, lake in pairs:
            ours = sandbox.query(f"SELECT * FROM raw.{name} ORDER BY id")
            assert "read_parquet" in _view_sql(sandbox, name)
            theirs = _lake(catalog, f"SELECT * FROM {lake} ORDER BY id")
            assert ours.schema == theirs.schema
            assert ours.to_pylist() == theirs.to_pylist()
            columns = "SELECT column_name, column_type FROM (DESCRIBE {})"
            assert (
                sandbox.query(columns.format(f"raw.{name}")).to_pylist()
                == _lake(catalog, columns.format(f"SELECT * FROM {lake}")).to_pylist()
            )
        assert sandbox.query("SELECT count(*) AS n FROM raw.typed@1").to_pylist() == [{"n": 6}]
    finally:
        sandbox.close()


def test_a_latest_file_view_shows_each_new_commit(sandbox: Sandbox, catalog: Catalog) -> None:
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]
    assert "read_parquet" in _view_sql(sandbox, "shop")
    catalog.commit("raw.shop", pa.table({"sku": ["z"], "price": [7.0]}), producer="t")
    assert sandbox.query("SELECT sku, price FROM raw.shop").to_pylist() == [
        {"sku": "z", "price": 7.0}
    ]
    catalog.commit("raw.shop", pa.table({"sku": ["y"], "price": [8.0]}), producer="t")
    # a name the text does not contain, reached through a computed string
    assert sandbox.query("SELECT sku FROM query_table('raw.' || 'sh' || 'op')").to_pylist() == [
        {"sku": "y"}
    ]


def test_a_commit_lists_again_only_the_views_a_query_names(
    catalog: Catalog, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c", "d"):
        catalog.commit(f"raw.{name}", pa.table({"x": [1]}), producer="t")
    sandbox = Sandbox(workspace)
    listed: list[str] = []
    files = sandbox_module._Resolver._files

    def counting(
        self: sandbox_module._Resolver, stage: str, table: str, snapshot: int | None
    ) -> tuple[str, ...]:
        listed.append(table)
        return files(self, stage, table, snapshot)

    monkeypatch.setattr(sandbox_module._Resolver, "_files", counting)
    try:
        sandbox.query("SELECT * FROM raw.a, raw.b, raw.c, raw.d")
        assert sorted(listed) == ["a", "b", "c", "d"]
        sandbox.query("SELECT * FROM raw.a, raw.b, raw.c, raw.d")
        assert len(listed) == 4  # nothing committed: no listing
        catalog.commit("raw.d", pa.table({"x": [2]}), producer="t")
        assert sandbox.query("SELECT x FROM raw.b").to_pylist() == [{"x": 1}]
        assert listed[4:] == ["b"]
        assert sandbox.query("SELECT x FROM raw.d").to_pylist() == [{"x": 2}]
        assert listed[5:] == ["d"]
    finally:
        sandbox.close()


def test_versions_read_right_after_vacuum(catalog: Catalog, workspace: Workspace) -> None:
    for i in range(4):
        catalog.commit("raw.shop", pa.table({"sku": ["a", "b"], "n": [i, i + 1]}), producer="t")
    sandbox = Sandbox(workspace)
    try:
        assert sandbox.query("SELECT sum(n) AS s FROM raw.shop@2").to_pylist() == [{"s": 3}]
        assert sandbox.query("SELECT sum(n) AS s FROM raw.shop").to_pylist() == [{"s": 7}]
        catalog.vacuum(older_than_hours=0)
        for number in range(1, 5):
            assert sandbox.query(f"SELECT sum(n) AS s FROM raw.shop@{number}").to_pylist() == [
                {"s": 2 * number - 1}
            ]
        assert sandbox.query("SELECT sum(n) AS s FROM raw.shop").to_pylist() == [{"s": 7}]
    finally:
        sandbox.close()


def test_a_view_whose_file_vacuum_deleted_is_listed_again(
    catalog: Catalog, workspace: Workspace
) -> None:
    catalog.commit("raw.shop", pa.table({"n": [1, 2, 3]}), producer="t")
    cursor = catalog.cursor()  # appends outside Harvest give the table several files to merge
    cursor.execute("INSERT INTO lake.raw.shop VALUES (4), (5)")
    cursor.execute("INSERT INTO lake.raw.shop VALUES (6)")
    sandbox = Sandbox(workspace)
    try:
        assert sandbox.query("SELECT list(n ORDER BY n) AS n FROM raw.shop@1").to_pylist() == [
            {"n": [1, 2, 3]}
        ]
        first = sandbox._resolver._pinned[("raw", "shop@1")].files
        assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 6}]
        # Merged and deleted outside Harvest: vacuum never merges a dataset's files.
        cursor.execute("CALL ducklake_merge_adjacent_files('lake', 'shop', schema => 'raw')")
        cursor.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)")
        assert first and not any(Path(f).exists() for f in first)
        assert sandbox.query("SELECT list(n ORDER BY n) AS n FROM raw.shop@1").to_pylist() == [
            {"n": [1, 2, 3]}
        ]
        assert sandbox.query("SELECT list(n ORDER BY n) AS n FROM raw.shop").to_pylist() == [
            {"n": [1, 2, 3, 4, 5, 6]}
        ]
    finally:
        sandbox.close()


def test_tables_whose_files_cannot_stand_for_them_are_read_from_a_copy_at_their_snapshot(
    catalog: Catalog, workspace: Workspace
) -> None:
    catalog.commit("raw.empty", pa.table({"x": pa.array([], pa.int64())}), producer="t")
    catalog.commit("raw.pruned", pa.table({"x": [1, 2, 3]}), producer="t")
    catalog.cursor().execute("DELETE FROM lake.raw.pruned WHERE x = 2")  # a delete file
    sandbox = Sandbox(workspace)
    try:
        empty = sandbox.query("SELECT * FROM raw.empty")
        assert empty.num_rows == 0 and empty.column_names == ["x"]
        assert empty.schema.field("x").type == pa.int64()
        assert sandbox.query("SELECT list(x ORDER BY x) AS x FROM raw.pruned").to_pylist() == [
            {"x": [1, 3]}
        ]
        assert sandbox.query("SELECT sum(x) AS s FROM raw.pruned@1").to_pylist() == [{"s": 6}]
        copies = workspace.cache / "sandbox" / "raw"
        for view in ("empty", "pruned"):
            assert str(copies) in _view_sql(sandbox, view)  # a copy, not the lake's files
        assert str(copies) not in _view_sql(sandbox, "pruned@1")  # its own file holds its rows
    finally:
        sandbox.close()


def test_files_are_reached_through_datasets_only(
    sandbox: Sandbox, workspace: Workspace, tmp_path: Path
) -> None:
    file = next(Path(workspace.data_path).glob("raw/shop/*.parquet"))
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(file.read_bytes())
    for path in (file, outside):
        with pytest.raises(QueryError, match="outside the catalog"):
            sandbox.query(f"SELECT * FROM read_parquet('{path}')")
        with pytest.raises(QueryError, match="outside the catalog"):
            sandbox.query(f"SELECT * FROM '{path}'")  # a replacement scan of a file name
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]


def test_a_table_made_outside_harvest_with_an_odd_name_follows_its_commits(
    catalog: Catalog, workspace: Workspace
) -> None:
    cursor = catalog.cursor()
    cursor.execute('CREATE TABLE lake.raw."Odd-Name" AS SELECT 1 AS x')
    sandbox = Sandbox(workspace)
    try:
        assert sandbox.query('SELECT list(x) AS x FROM raw."Odd-Name"').to_pylist() == [{"x": [1]}]
        assert "read_parquet" in _view_sql(sandbox, "Odd-Name")
        cursor.execute('INSERT INTO lake.raw."Odd-Name" VALUES (2)')
        assert sandbox.query('SELECT list(x ORDER BY x) AS x FROM raw."odd-name"').to_pylist() == [
            {"x": [1, 2]}
        ]
    finally:
        sandbox.close()


# What the attack probe found: each failed on the sandbox before it ran in a worker process.


def _files_of(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_saved_version_cannot_be_rewritten_through_the_console(
    sandbox: Sandbox, catalog: Catalog, workspace: Workspace
) -> None:
    file = next(Path(workspace.data_path).glob("raw/shop/*.parquet"))
    before = _files_of(Path(workspace.data_path))
    attacks = [
        f"EXPLAIN ANALYZE COPY (SELECT 'evil' AS sku, 0.0 AS price) TO '{file}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{Path(workspace.data_path) / 'new.parquet'}'",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "EXPLAIN ANALYZE DROP VIEW raw.shop",
        "EXPLAIN ANALYZE CREATE OR REPLACE VIEW raw.shop AS SELECT 'evil' AS sku",
        "EXPLAIN ANALYZE CREATE MACRO lower(x) AS 'evil'",
        "CREATE MACRO lower(x) AS 'evil'",
        "SELECT * FROM ducklake_merge_adjacent_files('lake')",
    ]
    for sql in attacks:
        with pytest.raises(QueryError):
            sandbox.query(sql)
    assert _files_of(Path(workspace.data_path)) == before
    assert sandbox.query("SELECT lower('ABC') AS s").to_pylist() == [{"s": "abc"}]
    assert sandbox.query("SELECT sku FROM raw.shop ORDER BY sku").to_pylist() == [
        {"sku": "a"},
        {"sku": "b"},
    ]
    assert catalog.read("raw.shop@1").num_rows == 3


def test_nothing_beyond_the_datasets_is_read(
    sandbox: Sandbox, workspace: Workspace, tmp_path: Path
) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (secret TEXT)")
        db.execute("INSERT INTO t VALUES ('hunter2')")
    catalog_file = workspace.catalog_file
    assert catalog_file is not None
    for sql in [
        f"SELECT * FROM sqlite_scan('{other}', 't')",
        f"SELECT * FROM sqlite_scan('{catalog_file}', 'ducklake_snapshot')",
        f"SELECT * FROM sqlite_query('{catalog_file}', 'SELECT * FROM ducklake_table')",
        f"SELECT * FROM read_blob('{catalog_file}')",
        f"SELECT * FROM '{catalog_file}'",
        f"SELECT * FROM '{other}'",
        "SELECT * FROM lake.raw.shop",
        "SELECT * FROM __ducklake_metadata_lake.ducklake_snapshot",
    ]:
        with pytest.raises(QueryError):
            sandbox.query(sql)
    listed = sandbox.query("SELECT database_name, schema_name, table_name FROM duckdb_tables()")
    assert listed.num_rows == 0  # no table at all: datasets are views, and nothing is attached
    views = sandbox.query("SELECT DISTINCT schema_name FROM duckdb_views() WHERE NOT internal")
    assert views.column("schema_name").to_pylist() == ["raw"]


def test_a_fifo_in_the_data_path_does_not_hang_the_console(
    sandbox: Sandbox, workspace: Workspace
) -> None:
    fifo = Path(workspace.data_path) / "raw" / "shop" / "trap.csv"
    os.mkfifo(fifo)
    for sql in [f"SELECT * FROM read_csv('{fifo}')", f"SELECT * FROM read_text('{fifo}')"]:
        with pytest.raises(QueryError, match="outside the catalog"):
            sandbox.query(sql)
    with pytest.raises(QueryError):
        sandbox.query(f"SELECT * FROM '{fifo}'")
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]


def test_a_result_past_the_byte_limit_stops_with_a_sentence(
    catalog: Catalog, workspace: Workspace
) -> None:
    small = Sandbox(workspace, Limits(max_bytes=2**20))
    try:
        with pytest.raises(QueryError, match=r"larger than the 1 MiB limit"):
            small.query("SELECT repeat('x', 1000) AS s FROM range(10000)")
        assert small.query("SELECT repeat('x', 1000) AS s FROM range(100)").num_rows == 100
    finally:
        small.close()


@pytest.fixture
def roomy(sandbox: Sandbox) -> Iterator[Sandbox]:
    """A sandbox with the default limits, over the ``sandbox`` fixture's workspace."""
    opened = Sandbox(sandbox.workspace)
    yield opened
    opened.close()


def test_a_huge_result_is_stopped_before_it_fills_memory(roomy: Sandbox) -> None:
    # Which limit stops it first depends on how far DuckDB runs ahead of the stream (1 MB rows
    # fill its chunks before a batch is complete): the result's bytes, DuckDB's memory, or the
    # worker's address space, when the worker dies and is replaced. A sentence either way.
    stopped = r"larger than the 256 MiB limit|stopped the SQL engine|memory limit"
    for row_bytes, rows in ((100_000, 30_000), (1_000_000, 3_000)):  # 3 GB each
        with pytest.raises(QueryError, match=stopped):
            roomy.query(f"SELECT repeat('x', {row_bytes}) AS s FROM range({rows})")
    assert roomy.query("SELECT 1 AS ok").to_pylist() == [{"ok": 1}]


def test_a_crashing_query_costs_one_worker_which_is_replaced(roomy: Sandbox) -> None:
    with pytest.raises(QueryError, match="stopped the SQL engine"):
        roomy.query("SELECT json_structure(repeat('[', 100000) || '1' || repeat(']', 100000))")
    assert roomy.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]


def test_a_worker_that_stops_answering_is_killed_at_the_time_limit(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = Sandbox(sandbox.workspace, Limits(seconds=1))
    monkeypatch.setattr(sandbox_module, "_GRACE_SECONDS", 0.5)
    worker = sandbox_module._POOL.acquire(hung._address_space, hung.owner)
    os.kill(worker.process.pid, signal.SIGSTOP)  # it will never answer
    sandbox_module._POOL.release(worker)
    try:
        with pytest.raises(QueryError, match="stopped the SQL engine"):
            hung.query("SELECT 1")
        assert worker.process.poll() is not None  # killed, not left behind
        assert hung.query("SELECT 2 AS ok").to_pylist() == [{"ok": 2}]
    finally:
        hung.close()


def test_a_pooled_worker_never_shows_one_workspace_the_views_of_another(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]
    other = Workspace.at(tmp_path / "other").ensure()
    with Catalog.open(other) as catalog:
        catalog.commit("imports.mine", pa.table({"x": [1]}), producer="t")
    theirs = Sandbox(other)
    try:
        views = theirs.query("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal")
        assert views.to_pylist() == [{"schema_name": "imports", "view_name": "mine"}]
        with pytest.raises(QueryError, match="does not exist"):
            theirs.query("SELECT * FROM raw.shop")
    finally:
        theirs.close()


def test_a_worker_that_died_while_idle_is_not_handed_out_again(sandbox: Sandbox) -> None:
    assert sandbox.query("SELECT 1 AS ok").to_pylist() == [{"ok": 1}]
    idle = sandbox_module._POOL.acquire(sandbox._address_space, sandbox.owner)
    sandbox_module._POOL.release(idle)
    idle.process.kill()
    idle.process.wait()
    assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 2}]
    assert idle not in sandbox_module._POOL._idle
