"""The launcher: jobs started in processes of their own, recorded on disk and followed from anywhere."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jobs
from core.errors import NotFoundError
from core.workspace import Workspace
from scrapers.landing import CrawlCounts
from tests.scrapers.test_landing import land

# What another process (the dashboard after a restart, the API) reads of the workspace's jobs.
READER = """
import json, sys
import jobs
from core.workspace import Workspace
from scrapers.landing import CrawlCounts
from tests.scrapers.test_landing import land
workspace = Workspace.at(sys.argv[1])
print(json.dumps([
    {**job.to_json(), "state": job.status().state, "exit_code": job.status().exit_code,
     "logs": job.logs(tail=1)}
    for job in jobs.list_jobs(workspace)
]))
"""


def wait_finished(job: jobs.Job, timeout_s: float = 60) -> jobs.JobStatus:
    deadline = time.monotonic() + timeout_s
    status = job.status()
    while not status.finished:
        assert time.monotonic() < deadline, job.logs()
        time.sleep(0.2)
        status = job.status()
    return status


def read_from_another_process(workspace: Workspace) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", READER, str(workspace.home)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_job_is_recorded_and_another_process_follows_it_to_its_end(
    workspace: Workspace,
) -> None:
    job = jobs.start(
        workspace, "sources", "list", ["sources", "list", "--json"], started_by="alice"
    )
    assert job.kind == "sources" and job.what == "list" and job.pid > 0
    assert job.started_by == "alice"  # who asked for it, kept in its record
    assert job.argv[-4:] == (str(workspace.home), "sources", "list", "--json")
    assert jobs.get(workspace, job.id) == job
    assert wait_finished(job) == jobs.JobStatus("succeeded", 0)
    assert job.logs(tail=1) == "]"  # the end of the JSON the command printed
    assert '"name": "tables"' in job.logs(tail=1000)

    (seen,) = read_from_another_process(workspace)
    assert (seen["id"], seen["state"], seen["exit_code"]) == (job.id, "succeeded", 0)
    assert seen["pid"] == job.pid and seen["logs"] == "]"
    assert job.progress() is None  # only training reports progress of its own


def test_a_failed_job_reads_as_failed_with_its_exit_code_and_its_sentence(
    workspace: Workspace,
) -> None:
    with pytest.raises(NotFoundError, match="No source named 'nosuch'"):
        jobs.scrape(workspace, "nosuch")  # refused before anything starts
    assert jobs.list_jobs(workspace) == []
    job = jobs.start(workspace, "scrape", "nosuch", ["scrape", "nosuch"])
    assert (job.kind, job.what) == ("scrape", "nosuch")
    status = wait_finished(job)
    assert (status.state, status.exit_code) == ("failed", 1)
    assert status.message == "scrape nosuch exited with code 1."
    assert job.logs(tail=1).startswith("error: No source named 'nosuch'")
    (seen,) = read_from_another_process(workspace)
    assert (seen["state"], seen["exit_code"]) == ("failed", 1)


def serve_site(workspace: Workspace) -> jobs.Job:
    """A job that runs until it is stopped (the demo site on any free port)."""
    job = jobs.start(workspace, "site", "serve", ["site", "serve", "--port", "0"])
    deadline = time.monotonic() + 60
    while "127.0.0.1" not in job.logs():
        assert time.monotonic() < deadline and job.status().state == "running", job.logs()
        time.sleep(0.2)
    return job


def command_pid(job: jobs.Job) -> int:
    """The command's process, the supervisor's only child."""
    children = Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()
    assert len(children) == 1
    return int(children[0])


def stop_group(job: jobs.Job) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)


def test_a_command_killed_by_a_signal_reads_as_failed_with_the_signal(
    workspace: Workspace,
) -> None:
    job = serve_site(workspace)
    try:
        assert job.status() == jobs.JobStatus("running")
        os.kill(command_pid(job), signal.SIGKILL)
        status = wait_finished(job)
    finally:
        stop_group(job)
    assert (status.state, status.exit_code) == ("failed", -signal.SIGKILL)


def test_a_running_crawl_reports_its_counts_from_its_landing_folder(workspace: Workspace) -> None:
    job = jobs.start(workspace, "scrape", "tables", ["site", "serve", "--port", "0"])  # runs on
    try:
        assert job.progress() is None  # nothing landed yet
        land(workspace.landing, "run-1", "tables", {"pages": 3, "items": 7, "errors": 1})
        assert job.progress() == CrawlCounts("tables", 3, 7, 1)
        assert job.report()["progress"] == {"source": "tables", "pages": 3, "items": 7, "errors": 1}
        assert job.run_progress() is None
    finally:
        stop_group(job)


def test_a_job_whose_process_died_without_writing_its_result_reads_as_failed(
    workspace: Workspace,
) -> None:
    job = serve_site(workspace)
    os.killpg(job.pid, signal.SIGKILL)  # supervisor and command at once: nobody writes the result
    os.waitpid(job.pid, 0)
    status = jobs.get(workspace, job.id).status()
    assert (status.state, status.exit_code) == ("failed", None)
    assert "ended without recording how" in status.message
    (seen,) = read_from_another_process(workspace)
    assert seen["state"] == "failed"


def test_jobs_list_newest_first_and_by_kind_and_what(workspace: Workspace) -> None:
    first = jobs.start(workspace, "scrape", "nosuch", ["scrape", "nosuch"])
    second = jobs.start(workspace, "sources", "list", ["sources", "list"])
    try:
        assert [j.id for j in jobs.list_jobs(workspace)] == [second.id, first.id]
        assert [j.id for j in jobs.list_jobs(workspace, kind="scrape")] == [first.id]
        assert jobs.list_jobs(workspace, kind="scrape", what="other") == []
    finally:
        for job in (first, second):
            wait_finished(job)


@pytest.mark.parametrize("job_id", ["nope", "../jobs/x", "a/b", ""])
def test_an_unknown_or_malformed_job_id_is_not_found(workspace: Workspace, job_id: str) -> None:
    with pytest.raises(NotFoundError, match="There is no job"):
        jobs.get(workspace, job_id)


def test_a_deployment_counts_while_its_process_lives(workspace: Workspace) -> None:
    assert jobs.deployment(workspace) is None
    jobs.record_deployment(workspace, "127.0.0.1", 3999)
    found = jobs.deployment(workspace)
    assert found == jobs.Deployment("127.0.0.1", 3999, os.getpid())
    assert found.url == "http://127.0.0.1:3999"

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    record = workspace.dagster_home / jobs.DEPLOYMENT
    record.write_text(json.dumps({"host": "127.0.0.1", "port": 3999, "pid": int(gone.stdout)}))
    assert jobs.deployment(workspace) is None  # a deployment whose process ended does not count
    jobs.forget_deployment(workspace)
    assert record.exists(), "only the process that recorded a deployment removes it"

    jobs.record_deployment(workspace, "127.0.0.1", 3999)
    jobs.forget_deployment(workspace)
    assert not record.exists()
