"""Tuning in several processes on one shared Optuna study (a journal file without PostgreSQL)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

from catalog import Catalog
from core.workspace import Workspace
from tests.training.conftest import bundled, commit
from training.search import WORKER
from training.spec import spec_from_mapping
from training.train import train
from training.tuning import load_study

CAP = 12


def harvest(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_two_workers_share_one_study_and_the_leaderboard_holds_all_its_trials(
    catalog: Catalog, workspace: Workspace
) -> None:
    commit(catalog, "iris", bundled("iris"))
    spec = spec_from_mapping(
        {
            "dataset": "imports.iris",
            "target": "target",
            "families": ["linear", "decision_tree"],
            "trials": CAP,
            "time_budget": 120,
        }
    )
    result = train(spec, catalog, run_id="shared", workers=2)
    tuning = [t for t in result.leaderboard if t.phase == "tuning"]
    first = len(result.leaderboard) - len(tuning)
    assert [t.number for t in tuning] == list(range(first, first + CAP))
    study = load_study(workspace, "shared")
    started = [t for t in study.trials if WORKER in t.user_attrs]
    assert len(started) == CAP  # trials beyond the cap never began
    helper_log = (workspace.models / "_runs" / "shared" / "worker-1.log").read_text()
    ran = re.search(r"Ran (\d+) trial", helper_log)
    assert ran is not None, helper_log
    by_worker = Counter(t.user_attrs[WORKER] for t in started)
    here = by_worker.pop(f"{socket.gethostname()}:{os.getpid()}", 0)
    assert sum(by_worker.values()) == int(ran.group(1)) == CAP - here  # the helper's share


def test_a_tune_worker_with_no_search_to_join_is_one_sentence(workspace: Workspace) -> None:
    joined = harvest(workspace.home, "tune-worker", "no-such-run")
    assert joined.returncode == 1
    assert "There is no search of run 'no-such-run' to join" in joined.stderr
    assert "Traceback" not in joined.stderr


def test_workers_below_one_are_refused_in_one_sentence(workspace: Workspace) -> None:
    trained = harvest(
        workspace.home, "train", "--dataset", "imports.x", "--target", "y", "--workers", "0"
    )
    assert trained.returncode != 0
    assert "--workers 0 is not a number of processes" in trained.stderr + trained.stdout
    assert "Traceback" not in trained.stderr


def test_the_command_line_trains_with_two_workers(workspace: Workspace) -> None:
    iris = Path(__file__).resolve().parents[2] / "catalog" / "samples" / "iris.csv"
    imported = harvest(workspace.home, "import", str(iris), "--name", "iris", "--key", "id")
    assert imported.returncode == 0, imported.stderr
    trained = harvest(
        workspace.home,
        *("train", "--dataset", "imports.iris", "--target", "species", "--families", "linear"),
        *("--trials", "4", "--workers", "2", "--json"),
    )
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["model"] == "iris-species@1"
