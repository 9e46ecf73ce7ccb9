"""Training launched from outside Dagster: submitted to ``harvest dagster`` when it serves the
workspace, else a process of its own.

The submission speaks Dagster's GraphQL API through its public client. The last test starts
a real ``harvest dagster`` (webserver, daemon and code server in their own process group)
and trains through it; the others stand a recording double in for the client, to reach the
answers a live deployment gives only by chance (a run cancelled while queued, a refusal).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClientError

import dagster_project.submit
import jobs
from catalog import Catalog
from catalog.importer import import_file
from catalog.samples import IRIS, IRIS_LISTING
from core.errors import HarvestError
from core.services import free_port
from core.workspace import Workspace
from dagster_project.instance import open_instance, prepare_dagster_home
from dagster_project.submit import CODE_LOCATION, REPOSITORY, TRAINING_RUN_TAG, run_status
from dagster_project.training import TRAIN_OP, TRAINING_JOB
from harvest.commands.orchestration import LOOPBACK
from tests.dagster_project.webserver import wait_for_location
from training.runs import RunProgress, process_alive, read_progress, runs_folder
from training.spec import spec_from_mapping

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


@dataclass
class FakeDagster:
    """Stands in for ``DagsterGraphQLClient``: records submissions, answers a set run status."""

    status: DagsterRunStatus = DagsterRunStatus.QUEUED
    refuse: DagsterGraphQLClientError | None = None
    submitted: list[dict[str, Any]] = field(default_factory=list)

    def submit_job_execution(self, job_name: str, **given: Any) -> str:
        if self.refuse is not None:
            raise self.refuse
        self.submitted.append({"job_name": job_name, **given})
        return "dagster-run-1"

    def get_run_status(self, run_id: str) -> DagsterRunStatus:
        assert run_id == "dagster-run-1"
        return self.status


@pytest.fixture
def fake_dagster(iris: Workspace, monkeypatch: pytest.MonkeyPatch) -> FakeDagster:
    """A deployment recorded for ``iris`` (this process plays ``harvest dagster``), faked."""
    fake = FakeDagster()
    monkeypatch.setattr(dagster_project.submit, "client", lambda _deployment: fake)
    jobs.record_deployment(iris, LOOPBACK, 3999)
    return fake


def test_without_a_deployment_training_runs_in_a_process_of_its_own(iris: Workspace) -> None:
    job = jobs.train(iris, SPEC)
    try:
        assert job.dagster_run_id is None and job.pid > 0 and job.kind == "train"
        progress = wait_until_finished(iris, job.id, timeout_s=120)
        assert progress.status == "done", progress.message
        assert progress.result and progress.result["ref"] == "iris-species@1"
        with open_instance(iris) as instance:
            assert instance.get_runs() == []
    finally:
        stop_group(job.pid)


def test_a_deployment_that_does_not_answer_leaves_training_to_a_process(iris: Workspace) -> None:
    jobs.record_deployment(iris, LOOPBACK, free_port())  # recorded, alive, but nothing listens
    job = jobs.train(iris, SPEC)
    try:
        assert job.dagster_run_id is None and job.pid > 0
        assert [p.name for p in runs_folder(iris).iterdir()] == [job.id], "no queued run left"
    finally:
        stop_group(job.pid)


def test_a_submitted_run_carries_the_spec_and_reads_as_failed_once_dagster_cancels_it(
    iris: Workspace, fake_dagster: FakeDagster
) -> None:
    job = jobs.train(iris, SPEC)
    assert (job.pid, job.dagster_run_id, job.log) == (0, "dagster-run-1", None)
    (call,) = fake_dagster.submitted
    assert call["job_name"] == TRAINING_JOB
    assert (call["repository_location_name"], call["repository_name"]) == (
        CODE_LOCATION,
        REPOSITORY,
    )
    assert call["tags"] == {TRAINING_RUN_TAG: job.id, "harvest/model": "iris-species"}
    config = call["run_config"]["ops"][TRAIN_OP]["config"]
    assert config["run_id"] == job.id and config["home"] == str(iris.home)
    assert json.loads(config["spec"]) == SPEC.to_json()
    assert jobs.get(iris, job.id) == job

    waiting = read_progress(iris, job.id)
    assert (waiting.status, waiting.stage, waiting.finished) == ("queued", "queued", False)
    assert job.progress() == waiting
    assert job.status() == jobs.JobStatus(
        "queued", None, "queued in Dagster; waiting for its daemon to start the run"
    )
    assert "Dagster run dagster-run-1: its logs are in http://127.0.0.1:3999/runs/" in job.logs()

    fake_dagster.status = DagsterRunStatus.CANCELED
    status = job.status()
    assert (status.state, status.exit_code) == ("failed", None)
    assert "Dagster run dagster-run-1 ended (canceled) before training started" in status.message
    stopped = job.progress()
    assert stopped is not None and stopped.status == "failed" and stopped.finished
    assert stopped.message == status.message


def test_a_run_dagster_refuses_is_one_sentence_and_a_failed_run(
    iris: Workspace, fake_dagster: FakeDagster
) -> None:
    fake_dagster.refuse = DagsterGraphQLClientError(
        "RunConfigValidationInvalid", "ops.train_model.config.spec: not a string"
    )
    with pytest.raises(HarvestError, match=r"^Dagster at http://127.0.0.1:3999 did not take"):
        jobs.train(iris, SPEC)
    (run,) = [read_progress(iris, p.name) for p in runs_folder(iris).iterdir()]
    assert run.status == "failed" and "RunConfigValidationInvalid" in run.message
    assert jobs.list_jobs(iris) == []


@pytest.fixture
def deployment(iris: Workspace) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``harvest dagster`` on the workspace, serving its GraphQL API on a free port."""
    port = free_port()
    log = iris.home / "dagster.log"
    command = [sys.executable, "-m", "harvest", "--home", str(iris.home), "dagster"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)  # it stops its webserver, daemon and code server
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        stop_group(process.pid)
        process.wait(timeout=10)


@pytest.mark.slow
def test_with_harvest_dagster_up_training_is_submitted_to_it_and_finishes(
    iris: Workspace, deployment: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = deployment
    wait_for_location(port)
    assert jobs.deployment(iris) == jobs.Deployment(LOOPBACK, port, process.pid)

    job = jobs.train(iris, SPEC)
    assert job.dagster_run_id and job.pid == 0
    log = iris.home / "dagster.log"
    progress = wait_until_finished(iris, job.id, timeout_s=120)
    assert progress.status == "done", (progress.message, log.read_text())
    assert progress.result and progress.result["ref"] == "iris-species@1"
    assert progress.pid not in (0, os.getpid(), process.pid)  # trained in Dagster's run worker
    assert job.status() == jobs.JobStatus("succeeded")

    found = jobs.deployment(iris)
    assert found is not None
    deadline = time.monotonic() + 120
    while run_status(found, job.dagster_run_id) != "SUCCESS":  # reported just after "done"
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)
    with open_instance(iris) as instance:
        run = instance.get_run_by_id(job.dagster_run_id)
        assert run is not None and run.job_name == TRAINING_JOB
        assert run.tags[TRAINING_RUN_TAG] == job.id
        assert run.tags["harvest/model_iris_species"] == "iris-species@1"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert jobs.deployment(iris) is None, "a stopped deployment is forgotten"
    assert not (Path(iris.dagster_home) / jobs.DEPLOYMENT).exists()
