"""Dagster on the team configuration: its storage in the catalog's PostgreSQL, queued runs
that go at once under the daemon, and Celery workers on Redis (``dagster-postgres``,
``dagster-celery``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from core.postgres import catalog_dsn
from core.workspace import Workspace
from dagster_project.instance import SCHEMA, TEAM_RUNS, open_instance, prepare_dagster_home
from dagster_project.workers import worker_command, worker_env, write_worker_config

pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed")
psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed")

pytestmark = pytest.mark.team
ROOT = Path(__file__).resolve().parents[2]
JOBS = "tests.team.dagster_jobs"


def dagster_env(home: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": path, **extra}


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """``command`` in its own process group, stopped (the group) when the block ends."""
    from harvest.commands.orchestration import stop_process_group

    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield
        finally:
            stop_process_group(process, grace_s=15)


def launch(home: Path, job: str, env: dict[str, str]) -> None:
    launched = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "launch", "-m", JOBS, "-j", job],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]


def wait_for_runs(workspace: Workspace, count: int, log: Path, timeout: float = 240) -> list[str]:
    from dagster import DagsterRunStatus

    deadline = time.monotonic() + timeout
    with open_instance(workspace) as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if len(runs) == count and all(run.is_finished for run in runs):
                return [run.status.value for run in runs]
            time.sleep(1)
        statuses = [run.status for run in instance.get_runs()]
    pytest.fail(f"runs not finished: {statuses} {DagsterRunStatus}\n{log.read_text()[-3000:]}")


def test_a_team_workspace_writes_the_postgres_storage_and_the_queue(workspace: Workspace) -> None:
    home = prepare_dagster_home(workspace)
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    url = settings["storage"]["postgres"]["postgres_url"]
    assert url.startswith("postgresql+psycopg2://postgres@127.0.0.1:")
    assert url.endswith(f"?options=-csearch_path%3D{SCHEMA}")
    coordinator = settings["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] == TEAM_RUNS > 1
    assert (home / "dagster.yaml").stat().st_mode & 0o077 == 0
    with open_instance(workspace) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == TEAM_RUNS
    assert not list(home.rglob("*.db"))  # nothing in SQLite beside it


def test_two_queued_runs_go_at_once_and_are_recorded_in_postgres(
    workspace: Workspace, tmp_path: Path
) -> None:
    home = prepare_dagster_home(workspace)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dagster_env(home, HARVEST_TEST_BARRIER=str(barrier))
    launch(home, "meeting_job", env)
    launch(home, "meeting_job", env)
    with open_instance(workspace) as instance:
        assert [run.status.value for run in instance.get_runs()] == ["QUEUED", "QUEUED"]
    log = tmp_path / "daemon.log"
    with running([sys.executable, "-m", "dagster._daemon", "run", "-m", JOBS], env, log):
        statuses = wait_for_runs(workspace, 2, log)
    assert statuses == ["SUCCESS", "SUCCESS"]  # each waited for the other: they ran at once
    assert len(list(barrier.iterdir())) == 2
    with open_instance(workspace) as instance:
        run_ids = {run.run_id for run in instance.get_runs()}
    dsn = catalog_dsn(workspace)
    assert dsn is not None
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT run_id, status FROM {SCHEMA}.runs")
        rows = dict(cursor.fetchall())
    assert rows == dict.fromkeys(run_ids, "SUCCESS")


def test_the_celery_executor_runs_two_steps_at_once_on_two_workers(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("dagster_celery", reason="dagster-celery is not installed")
    from dagster import build_reconstructable_job, execute_job

    home = prepare_dagster_home(workspace)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    monkeypatch.setenv("HARVEST_TEST_BARRIER", str(barrier))
    monkeypatch.setenv("HARVEST_DAGSTER_EXECUTOR", "celery")
    config = write_worker_config(tmp_path / "celery", os.environ)
    env = worker_env(workspace, config, home)
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(ROOT)])
    with (
        running(worker_command("one"), env, tmp_path / "one.log"),
        running(worker_command("two"), env, tmp_path / "two.log"),
        open_instance(workspace) as instance,
    ):
        job = build_reconstructable_job(JOBS, "celery_halves_job")
        with execute_job(job, instance=instance) as result:
            assert result.success, (tmp_path / "one.log").read_text()[-3000:]
            pids = {result.output_for_node(step) for step in ("first_half", "second_half")}
        runs = instance.get_runs()
    assert len(pids) == 2 and os.getpid() not in pids  # each worker ran one step, at once
    assert {int((barrier / name).read_text()) for name in ("first", "second")} == pids
    assert [run.status.value for run in runs] == ["SUCCESS"]
