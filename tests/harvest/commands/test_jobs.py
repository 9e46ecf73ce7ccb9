"""``harvest jobs start|list|show``: any command in the background, listed and followed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harvest import jobs
from harvest.workspace import Workspace
from tests.harvest.commands.test_scrape import run


def test_start_list_and_show_a_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    code, out, _ = run(capsys, "--home", home, "jobs", "start", "--json", "scrape", "nosuch")
    assert code == 0
    started = json.loads(out)
    assert (started["kind"], started["what"]) == ("scrape", "nosuch")
    assert started["id"].startswith("scrape-nosuch-") and started["status"]["state"] == "running"
    job = jobs.get(Workspace.at(home), started["id"])
    deadline = time.monotonic() + 60
    while not job.status().finished:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    code, out, _ = run(capsys, "--home", home, "jobs", "start", "--", "sources", "list", "--json")
    assert code == 0 and "Started job sources-list-json-" in out

    code, out, _ = run(capsys, "--home", home, "jobs", "list", "--kind", "scrape", "--json")
    (listed,) = json.loads(out)
    assert listed["id"] == job.id
    assert listed["status"] == {
        "state": "failed",
        "exit_code": 1,
        "message": listed["status"]["message"],
    }
    assert listed["progress"] is None

    code, out, _ = run(capsys, "--home", home, "jobs", "show", job.id, "--json", "--tail", "1")
    shown = json.loads(out)
    assert code == 0 and shown["logs"].startswith("error: No source named 'nosuch'")
    code, out, _ = run(capsys, "--home", home, "jobs", "show", job.id)
    assert f"{job.id}: scrape nosuch, failed (exit code 1)." in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jobs", "show", "nope"), "There is no job 'nope'"),
        (("jobs", "start"), "Give the command to run"),
    ],
)
def test_bad_job_input_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "--home", str(tmp_path), *args)
    assert code == 1 and message in err and "Traceback" not in err + out
