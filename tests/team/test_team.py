"""The team configuration itself: `harvest services`, the catalog on PostgreSQL with its data
on S3, concurrent writers, the sandbox's lock-down with S3 keys about, and the S3 server
stopping in the middle of a commit."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog import Catalog, integrity
from catalog.access import Accounts
from catalog.commits import watch_commits
from catalog.engine import CatalogError, create_s3_secret, extension_files, quote_literal
from catalog.records import CommittedFile
from catalog.sandbox import Limits, QueryError, Sandbox
from core import services
from core.objects import s3_bucket
from core.postgres import ProcessConnection, catalog_dsn
from core.workspace import Workspace
from demo_site import DemoSite
from tests.team.conftest import harvest

pytestmark = pytest.mark.team


def _commit_three(home: str, worker: int) -> None:
    with Catalog.open(home) as catalog:
        for n in range(3):
            catalog.commit(
                "raw.together", pa.table({"k": [worker * 10 + n]}), producer=f"worker {worker}"
            )


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_services_up_is_idempotent_and_down_stops_every_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        first = harvest(home, "services", "up")
        assert first.returncode == 0, first.stderr
        started = services.running(home)
        assert started.complete
        again = harvest(home, "services", "up")
        assert again.returncode == 0 and services.running(home) == started
        status = harvest(home, "services", "status", "--json")
        assert status.returncode == 0 and f"redis://127.0.0.1:{started.redis.port}" in status.stdout  # type: ignore[union-attr]
        printed = harvest(home, "services", "env").stdout
        assert "export HARVEST_DATA_PATH=s3://harvest/data/" in printed
        assert f"export HARVEST_S3_SECRET={started.s3.secret}" in printed  # type: ignore[union-attr]
        assert oct(services.state_file(home).stat().st_mode)[-3:] == "600"  # it holds the keys
        stopped = harvest(home, "services", "down")
        assert (
            stopped.returncode == 0
            and "Stopped PostgreSQL, the S3 server, Redis." in stopped.stdout
        )
        pids = [started.postgres.pid, started.s3.pid, started.redis.pid]  # type: ignore[union-attr]
        assert not any(_running(pid) for pid in pids)
        after = harvest(home, "services", "env")
        assert after.returncode == 1 and after.stderr.count("\n") == 1
        assert "`harvest services up` starts them" in after.stderr
    finally:
        harvest(home, "services", "down")
        postgres = services.recorded(home).postgres
        if postgres is not None:
            shutil.rmtree(postgres.folder, ignore_errors=True)


def test_versions_diffs_integrity_access_and_the_sandbox(workspace: Workspace) -> None:
    assert workspace.catalog_file is None and workspace.data_path.startswith("s3://")
    with Catalog.open(workspace) as catalog:
        catalog.commit(
            "raw.shop", pa.table({"sku": ["a", "b"], "p": [1.0, 2.0]}), producer="t", key=("sku",)
        )
        catalog.commit(
            "raw.shop", pa.table({"sku": ["a", "c"], "p": [1.5, 3.0]}), producer="t", key=("sku",)
        )
        assert [v.number for v in catalog.versions("raw.shop")] == [1, 2]
        assert all(f.path.startswith("s3://") for f in catalog.data_files("raw.shop"))
        diff = catalog.diff("raw.shop@1", "raw.shop@2")
        assert (diff.added.num_rows, diff.removed.num_rows, diff.changed.num_rows) == (1, 1, 1)
        assert [c.status for c in catalog.verify("raw.shop")] == ["intact", "intact"]
        accounts = Accounts(catalog)
        accounts.add_user("ann")
        accounts.add_user("ben")
        accounts.set_access("raw.shop", owner="ann", visibility="private")
        secret, _ = accounts.create_token("ben")
        ben = accounts.authenticate(secret)
        assert not accounts.may_read(ben, "raw.shop")
        sandbox = Sandbox(workspace, Limits(seconds=60, memory="256MB"))
        try:
            assert sandbox.query("SELECT sum(p) AS s FROM raw.shop@1").to_pylist() == [{"s": 3.0}]
            with pytest.raises(QueryError, match="shop"):
                sandbox.query("SELECT * FROM raw.shop", accounts.readable(ben, ["raw.shop"]))
            catalog.commit("raw.shop", pa.table({"sku": ["d"], "p": [4.0]}), producer="t")
            # no file to watch on PostgreSQL: the next query lists the views again
            assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 1}]
        finally:
            sandbox.close()


def test_the_sandbox_reads_the_lake_but_neither_other_s3_files_nor_the_keys(
    workspace: Workspace, team_settings: dict[str, str]
) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.shop", pa.table({"sku": ["a", "b"], "p": [1.0, 2.0]}), producer="t")
        lake_file = catalog.data_files("raw.shop")[0].path
        outside = f"s3://{services.BUCKET}/data/elsewhere.parquet"
        catalog.cursor().execute(f"COPY (SELECT 42 AS answer) TO '{outside}'")
    keys = (team_settings["HARVEST_S3_SECRET"], team_settings["HARVEST_S3_KEY_ID"])
    attempts = [
        f"SELECT * FROM read_parquet('{outside}')",
        f"SELECT * FROM '{outside}'",
        f"SELECT * FROM read_parquet('{lake_file}')",  # the lake's own file, by its S3 address
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM which_secret('s3://harvest/data/x', 's3')",
        "SELECT current_setting('s3_secret_access_key') AS s",
        "SELECT current_setting('s3_access_key_id') AS s",
        "SELECT current_setting('s3_endpoint') AS s",
        "SELECT getenv('HARVEST_S3_SECRET') AS s",
        "SELECT * FROM duckdb_settings() WHERE name LIKE 's3%'",
        f"SELECT * FROM raw.shop WHERE sku = '{keys[0]}' AND p = '{keys[0]}'::INTEGER",
    ]
    sandbox = Sandbox(workspace, Limits(seconds=30, memory="256MB"))
    try:
        assert sandbox.query("SELECT sum(p) AS s FROM raw.shop").to_pylist() == [{"s": 3.0}]
        for sql in attempts:
            try:
                shown = str(sandbox.query(sql).to_pylist())
            except QueryError as error:
                shown = str(error)
            else:
                assert "42" not in shown, sql  # the file outside the lake was not read
            assert not any(key in shown for key in keys if key not in sql), (sql, shown)
            assert keys[0] not in shown.replace(sql, ""), (sql, shown)
    finally:
        sandbox.close()


def test_four_processes_committing_to_one_dataset_all_land(workspace: Workspace) -> None:
    with Catalog.open(workspace):
        pass
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_commit_three, args=(str(workspace.home), w)) for w in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(240)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with Catalog.open(workspace) as catalog:
        versions = catalog.versions("raw.together")
        assert [v.number for v in versions] == list(range(1, 13))
        assert sorted(v.producer for v in versions) == sorted(
            f"worker {w}" for w in range(4) for _ in range(3)
        )
        assert [c.status for c in catalog.verify("raw.together")] == ["intact"] * 12


def test_the_s3_server_stopping_mid_commit_is_one_sentence_and_no_partial_version(
    workspace: Workspace,
    services_home: Path,
    team_settings: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.stock", pa.table({"n": [1, 2]}), producer="t")
        written = Catalog._write_data

        def write_then_lose_s3(self: Catalog, *args: object) -> object:
            files = written(self, *args)  # type: ignore[arg-type]
            s3 = services.running(services_home).s3
            assert s3 is not None
            os.kill(s3.pid, signal.SIGKILL)  # the data file is on S3; the rest of the commit is not
            return files

        with monkeypatch.context() as patched, pytest.raises(CatalogError) as raised:
            patched.setattr(Catalog, "_write_data", write_then_lose_s3)
            catalog.commit("raw.stock", pa.table({"n": [1, 2, 3]}), producer="t")
        message = str(raised.value)
        assert "\n" not in message and team_settings["HARVEST_S3_SECRET"] not in message
        restarted = harvest(services_home, "services", "up")  # same port and keys as before
        assert restarted.returncode == 0, restarted.stderr
        assert (
            harvest(services_home, "services", "env").stdout.count(
                team_settings["HARVEST_S3_SECRET"]
            )
            == 1
        )
        assert [v.number for v in catalog.versions("raw.stock")] == [1]
        assert catalog.read("raw.stock").num_rows == 2
        catalog.commit("raw.stock", pa.table({"n": [1, 2, 3]}), producer="t")
        assert [v.number for v in catalog.versions("raw.stock")] == [1, 2]
        assert catalog.read("raw.stock").column("n").to_pylist() == [1, 2, 3]
        assert [c.status for c in catalog.verify("raw.stock")] == ["intact", "intact"]
    print(message)


def _ok(home: Path, *args: str, stdin: str | None = None) -> str:
    done = harvest(home, *args, stdin=stdin)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def test_the_readmes_commands_work_unchanged(workspace: Workspace, tmp_path: Path) -> None:
    """The README's commands, in order, on PostgreSQL and S3: crawl, clean, import, read,
    query, check, train, predict, deliver and the accounts."""
    home = workspace.home
    iris = Path(__file__).resolve().parents[2] / "catalog" / "samples" / "iris.csv"
    changed = tmp_path / "iris2.csv"
    lines = iris.read_text().splitlines()
    changed.write_text("\n".join([*lines[:-1], lines[-1].replace(",", ",9", 1)]) + "\n")
    with DemoSite() as site:
        crawled = json.loads(
            _ok(home, "scrape", "products", "--base-url", site.url, "--max-pages", "25", "--json")
        )
        assert crawled["status"] == "committed" and crawled["items"] > 0
    assert "clean.products" in _ok(home, "clean", "products")
    _ok(home, "import", str(iris), "--name", "iris", "--key", "id")
    _ok(home, "import", str(changed), "--name", "iris", "--key", "id")

    listed = {d["name"] for d in json.loads(_ok(home, "catalog", "list", "--json"))}
    assert {"raw.products", "clean.products", "imports.iris"} <= listed
    assert "species" in _ok(home, "catalog", "show", "imports.iris")
    assert len(json.loads(_ok(home, "catalog", "versions", "imports.iris", "--json"))) == 2
    diff = json.loads(_ok(home, "catalog", "diff", "imports.iris@1", "imports.iris@2", "--json"))
    assert diff["counts"] == {"added": 0, "removed": 0, "changed": 1}
    assert "sepal_length_cm" in _ok(home, "catalog", "drift", "imports.iris@1", "imports.iris@2")
    _ok(home, "catalog", "export", "imports.iris@2", str(tmp_path / "iris.parquet"))
    assert pq.read_table(tmp_path / "iris.parquet").num_rows == 150
    verified = json.loads(_ok(home, "catalog", "verify", "--json"))
    assert verified and {v["status"] for v in verified} == {"intact"}
    counted = json.loads(_ok(home, "sql", "SELECT count(*) AS n FROM imports.iris", "--json"))
    assert counted == [{"n": 150}]
    assert "sepal_length_cm" in _ok(home, "quality", "imports.iris@2")

    trained = json.loads(
        _ok(home, "train", "--dataset", "imports.iris", "--target", "species", "--families",
            "tree", "--trials", "0", "--time-budget", "3", "--json")
    )  # fmt: skip
    model = trained["model"].split("@")[0]
    assert model in {m["model"] for m in json.loads(_ok(home, "models", "list", "--json"))}
    assert "species" in _ok(home, "models", "show", model)
    _ok(home, "predict", model, "--dataset", "imports.iris")
    predicted = json.loads(
        _ok(home, "sql", f"SELECT count(*) AS n FROM predictions.{model.replace('-', '_')}",
            "--json")
    )  # fmt: skip
    assert predicted == [{"n": 150}]

    delivered = tmp_path / "delivered"
    _ok(home, "subscriptions", "add", "imports.iris", "--to", str(delivered))
    _ok(home, "deliver")
    assert list(delivered.rglob("*.parquet"))
    assert json.loads(_ok(home, "deliveries", "list", "--json"))

    _ok(home, "users", "add", "ada", "--password-stdin", stdin="a long enough secret\n")
    token = _ok(home, "tokens", "create", "--user", "ada", "--json")
    assert json.loads(token)["user"] == "ada"
    _ok(home, "catalog", "owner", "imports.iris", "ada")
    _ok(home, "catalog", "visibility", "imports.iris", "private")
    _ok(home, "catalog", "vacuum")
    assert {v["status"] for v in json.loads(_ok(home, "catalog", "verify", "--json"))} == {"intact"}


def test_a_file_altered_or_deleted_on_s3_is_found_by_verify(workspace: Workspace) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.kept", pa.table({"n": [1, 2, 3]}), producer="t")
        catalog.commit("raw.kept", pa.table({"n": [4, 5, 6]}), producer="t")
        (bucket_name, first), (_, second) = (
            catalog.data_files(f"raw.kept@{n}")[0].path.removeprefix("s3://").split("/", 1)
            for n in (1, 2)
        )
        bucket = s3_bucket(f"s3://{bucket_name}/")  # changed through the S3 API, as anyone could
        data = bytearray(bucket.read(first))
        data[len(data) // 2] ^= 0xFF  # the same size, other bytes
        bucket.write(first, bytes(data))
        bucket.delete(second)
        assert [c.status for c in catalog.verify("raw.kept")] == ["altered", "missing"]


def test_s3_settings_become_a_secret_that_never_shows_its_key() -> None:
    con = duckdb.connect()
    for path in extension_files(("duckdb_extension_httpfs",)):
        con.execute(f"LOAD {quote_literal(path)}")
    settings = {
        "HARVEST_S3_ENDPOINT": "https://store.example:9000/",
        "HARVEST_S3_KEY_ID": "key-one",
        "HARVEST_S3_SECRET": "very-secret-value",
        "HARVEST_S3_URL_STYLE": "path",
    }
    create_s3_secret(con, settings)
    (shown,) = con.execute("SELECT secret_string FROM duckdb_secrets()").fetchone()  # type: ignore[misc]
    assert "endpoint=store.example:9000" in shown and "use_ssl=true" in shown
    assert "very-secret-value" not in shown
    create_s3_secret(con, {})  # no settings: no secret, nothing replaced
    assert con.execute("SELECT count(*) FROM duckdb_secrets()").fetchone() == (1,)


def test_postgresql_restarting_during_a_commit_is_retried_and_nothing_is_lost(
    workspace: Workspace, services_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.ledger", pa.table({"n": [1]}), producer="t")
        written, restarts = Catalog._write_data, []

        def write_then_restart_postgres(self: Catalog, *args: object) -> object:
            files = written(self, *args)  # type: ignore[arg-type]
            if not restarts:  # the first attempt only: its data is on S3, its metadata not yet
                postgres = services.running(services_home).postgres
                assert postgres is not None
                services.stop_postgres(postgres)
                restarts.append(threading.Timer(1.0, services.start, [services_home]))
                restarts[0].start()  # back a second later, on the same port
            return files

        try:
            with monkeypatch.context() as patched:
                patched.setattr(Catalog, "_write_data", write_then_restart_postgres)
                landed = catalog.commit("raw.ledger", pa.table({"n": [1, 2]}), producer="t")
        finally:  # PostgreSQL is back before the next test, whatever happened here
            for restart in restarts:
                restart.join()
        assert landed.version.number == 2 and len(restarts) == 1
        assert services.running(services_home).postgres is not None
        assert [(v.number, v.rows) for v in catalog.versions("raw.ledger")] == [(1, 1), (2, 2)]
        assert catalog.read("raw.ledger").column("n").to_pylist() == [1, 2]
        assert (
            catalog.commit("raw.ledger", pa.table({"n": [1, 2, 3]}), producer="t").version.number
            == 3
        )
        assert [c.status for c in catalog.verify("raw.ledger")] == ["intact"] * 3


def test_a_file_on_s3_is_recorded_by_etag_and_older_sha256_records_still_verify(
    workspace: Workspace,
) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.kept", pa.table({"n": [1, 2, 3]}), producer="t")
        (recorded,) = catalog.committed_files("raw.kept@1") or []
        assert recorded.checksum.startswith("etag:") and len(recorded.checksum) > len("etag:")
        listed = catalog.data_files("raw.kept@1")
        bucket_name, key = listed[0].path.removeprefix("s3://").split("/", 1)
        bucket = s3_bucket(f"s3://{bucket_name}/")
        content = bucket.read(key)
        older = replace(recorded, checksum=f"sha256:{hashlib.sha256(content).hexdigest()}")

        def status(record: CommittedFile) -> str:
            cur = catalog.cursor()
            return integrity.check("raw.kept@1", [record], listed, cur, workspace.data_path).status

        assert [status(recorded), status(older)] == ["intact", "intact"]
        bucket.write(key, content[::-1])  # the same size, other bytes
        assert [status(recorded), status(older)] == ["altered", "altered"]
        bucket.delete(key)
        assert [status(recorded), status(older)] == ["missing", "missing"]


ELSEWHERE_COMMIT = textwrap.dedent(
    """
    import sys
    from catalog import Catalog
    with Catalog.open(sys.argv[1]) as catalog:
        def write(cur):
            cur.execute("CREATE TABLE lake.raw.elsewhere AS SELECT range AS n FROM range(1000)")
            print("written", flush=True)
            sys.stdin.readline()  # the files are on S3, not yet committed
        catalog.transaction(write)
    print("committed", flush=True)
    """
)


def test_vacuum_waits_for_a_commit_in_flight_on_another_machine(
    workspace: Workspace, tmp_path: Path
) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("raw.kept", pa.table({"n": [1, 2, 3]}), producer="t")
    # another machine: a home of its own, the same PostgreSQL and S3
    elsewhere = subprocess.Popen(
        [sys.executable, "-c", ELSEWHERE_COMMIT, str(tmp_path / "elsewhere")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert elsewhere.stdin is not None and elsewhere.stdout is not None
    try:
        assert elsewhere.stdout.readline().strip() == "written"
        with Catalog.open(workspace) as catalog:
            deleted: list[int] = []
            vacuum = threading.Thread(
                target=lambda: deleted.append(catalog.vacuum(older_than_hours=0))
            )
            vacuum.start()
            vacuum.join(timeout=3)
            assert vacuum.is_alive()  # waiting for the commit in flight, its files untouched
            elsewhere.stdin.write("\n")
            elsewhere.stdin.flush()
            assert elsewhere.stdout.readline().strip() == "committed"
            vacuum.join(timeout=60)
            assert not vacuum.is_alive() and deleted
            rows = catalog.cursor().execute("SELECT count(*) FROM lake.raw.elsewhere").fetchone()
            assert rows == (1000,)
    finally:
        elsewhere.kill()
        elsewhere.wait(timeout=30)


def test_vacuum_removes_the_files_of_a_writer_killed_on_another_machine(
    workspace: Workspace, tmp_path: Path
) -> None:
    elsewhere = subprocess.Popen(
        [sys.executable, "-c", ELSEWHERE_COMMIT, str(tmp_path / "elsewhere")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert elsewhere.stdout is not None and elsewhere.stdout.readline().strip() == "written"
    finally:
        elsewhere.kill()  # its session ends, and its share of the lock with it
        elsewhere.wait(timeout=30)
    with Catalog.open(workspace) as catalog:
        orphans = (
            "CALL ducklake_delete_orphaned_files('lake', dry_run => true, older_than => now())"
        )
        assert catalog.cursor().execute(orphans).fetchall() != []
        assert catalog.vacuum(older_than_hours=0) >= 1
        assert catalog.cursor().execute(orphans).fetchall() == []


def test_commits_are_seen_through_a_connection_of_their_own_to_postgresql(
    workspace: Workspace,
) -> None:
    with Catalog.open(workspace) as catalog:
        commits = watch_commits(workspace, catalog.cursor)
        assert commits is not None and commits._server is not None
        before = commits.mark()
        assert commits._server.latest() == before  # the server's own answer, not a fallback
        catalog.commit("raw.seen", pa.table({"n": [1]}), producer="t")
        assert commits.mark() > before
        assert commits._server.latest() == commits.mark()


def _backend_of_a_fork(connection: ProcessConnection, answer: Any) -> None:
    with connection.get().cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        answer.put(cur.fetchone()[0])


def test_a_forked_process_opens_its_own_connection_and_leaves_the_parents_alone(
    workspace: Workspace,
) -> None:
    dsn = catalog_dsn(workspace)
    assert dsn is not None
    connection = ProcessConnection(dsn)

    def backend() -> int:
        with connection.get().cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            return int(cur.fetchone()[0])

    parents = backend()
    fork = multiprocessing.get_context("fork")
    answer = fork.Queue()
    child = fork.Process(target=_backend_of_a_fork, args=(connection, answer))
    child.start()
    childs = answer.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0 and childs != parents
    assert backend() == parents  # the child's exit did not end the parent's session
