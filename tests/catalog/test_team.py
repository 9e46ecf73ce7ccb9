"""The catalog on a real PostgreSQL, started by ``harvest services up`` as a user would."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from catalog import Catalog
from catalog.access import Accounts
from catalog.sandbox import Limits, QueryError, Sandbox
from core.services import running_postgres
from core.workspace import Workspace

pytestmark = pytest.mark.team


def harvest(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="module")
def services_home() -> Iterator[Path]:
    """A workspace whose PostgreSQL `harvest services up` started (stopped at the end)."""
    home = Path(tempfile.mkdtemp(prefix="harvest-team-")) / "home"
    started = harvest(home, "services", "up")
    assert started.returncode == 0, started.stderr
    try:
        yield home
    finally:
        server = running_postgres(home)
        stopped = harvest(home, "services", "down")
        assert stopped.returncode == 0, stopped.stderr
        if server is not None:
            shutil.rmtree(server.folder, ignore_errors=True)
        shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def team(services_home: Path) -> Iterator[Workspace]:
    """A workspace on the services' PostgreSQL, as `eval "$(harvest services env)"` makes it."""
    env = harvest(services_home, "services", "env")
    assert env.returncode == 0 and env.stdout.startswith(
        "export HARVEST_CATALOG='ducklake:postgres:"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARVEST_CATALOG", env.stdout.split("'")[1])
        yield Workspace.at(services_home.parent / "team")


def _commit_three(home: str, worker: int) -> None:
    with Catalog.open(home) as catalog:
        for n in range(3):
            catalog.commit(
                "raw.together", pa.table({"k": [worker * 10 + n]}), producer=f"worker {worker}"
            )


def test_services_status_and_env_say_where_postgres_is(services_home: Path) -> None:
    status = harvest(services_home, "services", "status", "--json")
    assert status.returncode == 0 and '"port"' in status.stdout
    elsewhere = harvest(services_home.parent / "nothing", "services", "env")
    assert elsewhere.returncode == 1
    assert "No server is running" in elsewhere.stderr and "Traceback" not in elsewhere.stderr


def test_versions_diffs_and_sql_on_postgres(team: Workspace) -> None:
    with Catalog.open(team) as catalog:
        assert catalog.workspace.catalog_file is None
        catalog.commit(
            "raw.shop", pa.table({"sku": ["a", "b"], "p": [1.0, 2.0]}), producer="t", key=("sku",)
        )
        catalog.commit(
            "raw.shop", pa.table({"sku": ["a", "c"], "p": [1.5, 3.0]}), producer="t", key=("sku",)
        )
        assert [v.number for v in catalog.versions("raw.shop")] == [1, 2]
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
        sandbox = Sandbox(team, Limits(seconds=60, memory="256MB"))
        try:
            assert sandbox.query("SELECT sum(p) AS s FROM raw.shop@1").to_pylist() == [{"s": 3.0}]
            with pytest.raises(QueryError, match="shop"):
                sandbox.query("SELECT * FROM raw.shop", accounts.readable(ben, ["raw.shop"]))
            catalog.commit("raw.shop", pa.table({"sku": ["d"], "p": [4.0]}), producer="t")
            # no file to watch on PostgreSQL: the next query lists the views again
            assert sandbox.query("SELECT count(*) AS n FROM raw.shop").to_pylist() == [{"n": 1}]
        finally:
            sandbox.close()


def test_four_processes_committing_to_one_dataset_all_land(team: Workspace) -> None:
    with Catalog.open(team):
        pass
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_commit_three, args=(str(team.home), w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(240)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with Catalog.open(team) as catalog:
        versions = catalog.versions("raw.together")
        assert [v.number for v in versions] == list(range(1, 13))
        assert sorted(v.producer for v in versions) == sorted(
            f"worker {w}" for w in range(4) for _ in range(3)
        )


def test_the_command_line_works_unchanged_on_postgres(team: Workspace) -> None:
    iris = Path(__file__).resolve().parents[2] / "catalog" / "samples" / "iris.csv"
    env = {"HARVEST_CATALOG": os.environ["HARVEST_CATALOG"]}
    imported = harvest(
        team.home, "import", str(iris), "--name", "iris_team", "--key", "id", env=env
    )
    assert imported.returncode == 0, imported.stderr
    counted = harvest(
        team.home, "sql", "SELECT count(*) AS n FROM imports.iris_team", "--json", env=env
    )
    assert counted.returncode == 0 and '"n": 150' in counted.stdout
