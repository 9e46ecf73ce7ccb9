"""Progress files: written atomically, read while running, dead processes read as killed."""

from __future__ import annotations

import json

import pytest

from core.errors import NotFoundError
from core.workspace import Workspace
from training.runs import ProgressFile, list_runs, read_progress, runs_folder
from training.search import TrialRecord
from training.spec import spec_from_mapping

SPEC = spec_from_mapping({"dataset": "clean.x", "target": "y", "name": "x"})


def test_progress_of_a_running_run(workspace: Workspace) -> None:
    progress = ProgressFile(workspace, "x-1", SPEC)
    progress.stage("searching", "2 families")
    trial = TrialRecord(0, "selection", "linear", {}, "complete", score=0.9).to_json()
    progress.trial(trial, trial)
    seen = read_progress(workspace, "x-1")
    assert (seen.status, seen.stage, seen.message) == ("running", "searching", "2 families")
    assert seen.trials[0]["family"] == "linear" and seen.best == trial and not seen.finished
    assert seen.spec["dataset"] == "clean.x" and seen.budget == 60.0
    progress.done({"ref": "x@1"})
    assert read_progress(workspace, "x-1").result == {"ref": "x@1"}
    assert [r.run_id for r in list_runs(workspace)] == ["x-1"]
    assert not list((runs_folder(workspace) / "x-1").glob(".*.tmp"))


def test_a_run_whose_process_is_gone_reads_as_killed(workspace: Workspace) -> None:
    ProgressFile(workspace, "x-2", SPEC)
    file = runs_folder(workspace) / "x-2" / "progress.json"
    data = json.loads(file.read_text())
    file.write_text(json.dumps({**data, "pid": 999_999_999}))
    seen = read_progress(workspace, "x-2")
    assert seen.status == "killed" and "no model was registered" in seen.message


def test_unknown_run(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="There is no training run 'nope'"):
        read_progress(workspace, "nope")
    assert list_runs(workspace) == []


def test_a_queued_run_waits_without_a_process_until_its_own_starts(workspace: Workspace) -> None:
    ProgressFile.queued(workspace, "x-3", SPEC, "waiting for the daemon")
    seen = read_progress(workspace, "x-3")
    assert (seen.status, seen.stage, seen.pid, seen.message) == (
        "queued",
        "queued",
        0,
        "waiting for the daemon",
    )
    assert not seen.finished  # no process yet, and still not killed
    ProgressFile(workspace, "x-3", SPEC)  # the run's own process takes the file over
    assert read_progress(workspace, "x-3").status == "running"
