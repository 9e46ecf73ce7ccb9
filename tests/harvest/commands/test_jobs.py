"""``harvest jobs start|list|show``: any command in the background, listed and followed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import jobs
from catalog import Catalog
from catalog.importer import import_file
from catalog.samples import IRIS, IRIS_LISTING
from core.workspace import Workspace
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
        (("jobs", "start", "scarpe", "shop"), "'scarpe' is not a harvest command"),
        (("jobs", "start", "jobs", "list"), "'jobs' is not a harvest command"),
    ],
)
def test_bad_job_input_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "--home", str(tmp_path), *args)
    assert code == 1 and message in err and "Traceback" not in err + out


def test_a_training_command_started_as_a_job_reports_its_progress(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    with Catalog.open(workspace) as cat:
        import_file(cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import")
    home = str(workspace.home)
    train = ["train", "--dataset", "imports.iris", "--target", "species", "--families", "linear"]
    code, out, _ = run(
        capsys, "--home", home, "jobs", "start", "--json", "--", *train, "--trials", "0"
    )
    assert code == 0
    job = jobs.get(workspace, json.loads(out)["id"])
    assert job.kind == "train" and job.argv[-2:] == ("--run-id", job.id)  # its progress file's key
    deadline = time.monotonic() + 180
    while not job.status().finished:
        assert time.monotonic() < deadline, job.logs()
        time.sleep(0.5)
    code, out, _ = run(capsys, "--home", home, "jobs", "show", job.id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["status"]["state"] == "succeeded", shown["logs"]
    assert shown["progress"]["status"] == "done"
    assert shown["progress"]["result"]["ref"] == "iris-species@1"
