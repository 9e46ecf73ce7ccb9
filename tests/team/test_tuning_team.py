"""Tuning on the team configuration: the shared Optuna study in the catalog's PostgreSQL, a
worker killed with SIGKILL while the others go on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from core.postgres import catalog_dsn
from core.workspace import Workspace
from tests.team.conftest import harvest
from training.search import WORKER
from training.tuning import SCHEMA, load_study, study_name

psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed")

pytestmark = pytest.mark.team
IRIS = Path(__file__).resolve().parents[2] / "catalog" / "samples" / "iris.csv"
RUN = "killed-worker"


def helper_with_a_finished_trial(workspace: Workspace, main_pid: int) -> int | None:
    """The pid of a helper that has finished a trial of the shared study, if any has yet."""
    try:
        study = load_study(workspace, RUN)
    except Exception:  # not created yet
        return None
    for trial in study.get_trials(deepcopy=False):
        pid = int(str(trial.user_attrs.get(WORKER, ":0")).rsplit(":", 1)[1])
        if pid not in (0, main_pid) and trial.state.is_finished():
            return pid
    return None


def test_a_tuning_worker_killed_leaves_the_study_going_and_the_run_finishes(
    workspace: Workspace,
) -> None:
    imported = harvest(workspace.home, "import", str(IRIS), "--name", "iris", "--key", "id")
    assert imported.returncode == 0, imported.stderr
    command = [sys.executable, "-m", "harvest", "--home", str(workspace.home), "train"]
    training = subprocess.Popen(
        [
            *command,
            *("--dataset", "imports.iris", "--target", "species", "--families", "random_forest"),
            *("--trials", "40", "--time-budget", "240", "--workers", "3"),
            *("--run-id", RUN, "--json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 200
        victim = None
        while victim is None and training.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            victim = helper_with_a_finished_trial(workspace, training.pid)
        assert victim is not None, "no helper finished a trial"
        os.kill(victim, signal.SIGKILL)
        killed_at = datetime.now()
        out, err = training.communicate(timeout=300)
    finally:
        if training.poll() is None:
            training.kill()
            training.wait()
    assert training.returncode == 0, err[-3000:]
    assert json.loads(out)["model"] == "iris-species@1"
    finished_after = [
        str(t.user_attrs.get(WORKER))
        for t in load_study(workspace, RUN).get_trials(deepcopy=False)
        if t.datetime_complete is not None and t.datetime_complete > killed_at
    ]
    assert finished_after, "no trial finished after the worker was killed"
    assert not [worker for worker in finished_after if worker.endswith(f":{victim}")]
    progress = json.loads((workspace.models / "_runs" / RUN / "progress.json").read_text())
    assert progress["status"] == "done"
    dsn = catalog_dsn(workspace)
    assert dsn is not None
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT study_name FROM {SCHEMA}.studies")
        assert cursor.fetchall() == [(study_name(RUN),)]  # the study is in the catalog's database
