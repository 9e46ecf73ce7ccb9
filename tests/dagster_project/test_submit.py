"""Training launched from outside Dagster: queued for a running daemon, else a process of its own.

Every test uses a real Dagster instance in the workspace's ``DAGSTER_HOME``; the last one
starts a real ``dagster-daemon`` (its own process group, stopped by PID) and trains through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunsFilter
from dagster._daemon.types import DaemonHeartbeat

from catalog import Catalog
from catalog.importer import import_file
from catalog.samples import IRIS, IRIS_LISTING
from dagster_project.instance import prepare_dagster_home
from dagster_project.submit import (
    HEARTBEAT_FRESH_S,
    TRAINING_RUN_TAG,
    daemon_running,
    follow_queued,
    launch_training,
    open_existing_instance,
    submit_training,
)
from dagster_project.training import TRAIN_OP, TRAINING_JOB
from harvest.workspace import Workspace
from training.runs import RunProgress, process_alive, read_progress
from training.spec import spec_from_mapping

QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"

SPEC = spec_from_mapping(
    {
        "dataset": "imports.iris",
        "target": "species",
        "families": ["linear"],
        "time_budget": 3,
        "trials": 2,
    },
    origin="test",
)


@pytest.fixture
def iris(workspace: Workspace) -> Workspace:
    """A workspace with the iris import and a Dagster instance (as ``harvest dagster`` leaves it)."""
    with Catalog.open(workspace) as cat:
        import_file(cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import")
    prepare_dagster_home(workspace)
    return workspace


def wait_until_finished(workspace: Workspace, run_id: str, timeout_s: float) -> RunProgress:
    deadline = time.monotonic() + timeout_s
    progress = read_progress(workspace, run_id)
    while not progress.finished and time.monotonic() < deadline:
        time.sleep(0.5)
        progress = read_progress(workspace, run_id)
    return progress


def stop_group(pid: int) -> None:
    """SIGTERM the process group ``pid`` leads, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + 20
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not process_alive(pid):
            return


def test_the_daemon_counts_as_running_only_with_a_fresh_heartbeat(iris: Workspace) -> None:
    with open_existing_instance(iris) as instance:
        assert not daemon_running(instance)
        now = time.time()
        instance.add_daemon_heartbeat(DaemonHeartbeat(now, QUEUE_DAEMON, "test", None))
        assert daemon_running(instance, now=now + 1)
        assert not daemon_running(instance, now=now + HEARTBEAT_FRESH_S + 1)


def test_without_a_daemon_training_runs_in_a_process_of_its_own(iris: Workspace) -> None:
    handle = launch_training(SPEC, iris)
    try:
        assert handle.dagster_run_id is None and handle.pid > 0
        progress = wait_until_finished(iris, handle.run_id, timeout_s=120)
        assert progress.status == "done", progress.message
        assert progress.result and progress.result["ref"] == "iris-species@1"
        with open_existing_instance(iris) as instance:
            assert instance.get_runs() == []
    finally:
        stop_group(handle.pid)


def test_a_queued_run_carries_the_spec_and_reads_as_failed_once_dagster_cancels_it(
    iris: Workspace,
) -> None:
    with open_existing_instance(iris) as instance:
        handle = submit_training(SPEC, iris, instance)
        assert handle.pid == 0 and handle.dagster_run_id
        run = instance.get_run_by_id(handle.dagster_run_id)
        assert run is not None and run.job_name == TRAINING_JOB
        assert run.status == DagsterRunStatus.QUEUED
        assert run.tags[TRAINING_RUN_TAG] == handle.run_id
        config = run.run_config["ops"][TRAIN_OP]["config"]
        assert config["run_id"] == handle.run_id and config["home"] == str(iris.home)
        assert json.loads(config["spec"]) == SPEC.to_json()
        found = instance.get_runs(RunsFilter(tags={TRAINING_RUN_TAG: handle.run_id}))
        assert [r.run_id for r in found] == [run.run_id]

        waiting = read_progress(iris, handle.run_id)
        assert (waiting.status, waiting.stage, waiting.finished) == ("queued", "queued", False)
        assert follow_queued(iris, waiting) == waiting

        instance.report_run_canceled(run)
    stopped = follow_queued(iris, read_progress(iris, handle.run_id))
    assert stopped.status == "failed" and stopped.finished
    assert f"Dagster run {run.run_id} ended (canceled) before training started" in stopped.message


@pytest.fixture
def daemon(iris: Workspace) -> Iterator[subprocess.Popen[bytes]]:
    """``dagster-daemon run`` on the workspace's instance and code location, in its own group."""
    env = {
        **os.environ,
        "HARVEST_HOME": str(iris.home),
        "DAGSTER_HOME": str(iris.dagster_home),
    }
    command = [str(Path(sys.executable).parent / "dagster-daemon"), "run"]
    command += ["-m", "dagster_project.definitions"]
    log = iris.home / "daemon.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=iris.dagster_home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_group(process.pid)
        process.wait(timeout=10)


def test_with_the_daemon_up_training_is_queued_in_dagster_and_finishes(
    iris: Workspace, daemon: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 90
    with open_existing_instance(iris) as instance:
        while not daemon_running(instance):
            assert daemon.poll() is None, (iris.home / "daemon.log").read_text()
            assert time.monotonic() < deadline, "the daemon sent no heartbeat"
            time.sleep(0.5)

    handle = launch_training(SPEC, iris)
    assert handle.dagster_run_id and handle.pid == 0
    progress = wait_until_finished(iris, handle.run_id, timeout_s=120)
    assert progress.status == "done", (progress.message, (iris.home / "daemon.log").read_text())
    assert progress.result and progress.result["ref"] == "iris-species@1"
    assert progress.pid not in (0, os.getpid(), daemon.pid)  # trained in Dagster's run worker

    with open_existing_instance(iris) as instance:
        run = instance.get_run_by_id(handle.dagster_run_id)
        while run is not None and not run.is_finished and time.monotonic() < deadline + 120:
            time.sleep(0.5)  # the worker reports success just after the progress file says done
            run = instance.get_run_by_id(handle.dagster_run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.tags["harvest/model_iris_species"] == "iris-species@1"
