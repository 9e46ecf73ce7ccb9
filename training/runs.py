"""Training runs as others see them: a progress file per run, read while it trains.

Each run has a folder ``HARVEST_HOME/models/_runs/<run_id>/`` with ``progress.json``,
rewritten atomically as the run moves on (stage, every leaderboard trial, the best so
far, the result or the error), and ``spec.json`` when it was launched in the background
(:func:`jobs.train`, whose job id is the run id). A run handed to an orchestrator
(the Dagster deployment) reads as ``queued`` until its process starts and rewrites the file.

* :func:`read_progress` returns a :class:`RunProgress`; a run whose process died without
  finishing reads as ``killed``.
* :func:`list_runs` lists them newest first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import NotFoundError
from core.processes import new_job_id, process_alive
from core.workspace import Workspace
from training.spec import TrainingSpec

RUNS = "_runs"
PROGRESS = "progress.json"
STATUSES = ("queued", "running", "done", "failed", "killed")
UNFINISHED = ("queued", "running")


def runs_folder(workspace: Workspace) -> Path:
    return workspace.models / RUNS


def new_run_id(model: str) -> str:
    """``<model>-<UTC time>-<random>``: sortable and unique (also the id of its job)."""
    return new_job_id(model)


@dataclass(frozen=True)
class RunProgress:
    """A snapshot of one run's progress file."""

    run_id: str
    model: str
    status: str  # queued | running | done | failed | killed
    stage: str
    pid: int
    started_at: str
    updated_at: str
    budget: float
    trials: tuple[Mapping[str, Any], ...] = ()
    best: Mapping[str, Any] | None = None
    message: str = ""
    result: Mapping[str, Any] | None = None
    spec: Mapping[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


def read_progress(workspace: Workspace, run_id: str) -> RunProgress:
    """The progress of run ``run_id``; a run whose process is gone reads as ``killed``."""
    file = runs_folder(workspace) / run_id / PROGRESS
    if not file.exists():
        raise NotFoundError(f"There is no training run {run_id!r} in {workspace.home}.")
    data = json.loads(file.read_text(encoding="utf-8"))
    status = data["status"]
    message = data.get("message", "")
    if status == "running" and not process_alive(int(data.get("pid", 0))):
        status = "killed"
        message = "The training process ended before finishing; no model was registered."
    return RunProgress(
        run_id=data["run_id"],
        model=data["model"],
        status=status,
        stage=data["stage"],
        pid=int(data["pid"]),
        started_at=data["started_at"],
        updated_at=data["updated_at"],
        budget=float(data.get("budget", 0.0)),
        trials=tuple(data.get("trials", ())),
        best=data.get("best"),
        message=message,
        result=data.get("result"),
        spec=data.get("spec", {}),
    )


def list_runs(workspace: Workspace) -> list[RunProgress]:
    """Every run in the workspace, newest first."""
    folder = runs_folder(workspace)
    if not folder.exists():
        return []
    found = [read_progress(workspace, p.name) for p in folder.iterdir() if (p / PROGRESS).exists()]
    return sorted(found, key=lambda r: r.started_at, reverse=True)


class ProgressFile:
    """Writes one run's ``progress.json`` (atomically, so readers never see half a file)."""

    def __init__(
        self, workspace: Workspace, run_id: str, spec: TrainingSpec, pid: int | None = None
    ) -> None:
        self._start(workspace, run_id, spec, pid or os.getpid(), "running", "starting", "")

    @classmethod
    def queued(
        cls, workspace: Workspace, run_id: str, spec: TrainingSpec, message: str
    ) -> ProgressFile:
        """The file of a run waiting for an orchestrator to start it (no process yet)."""
        progress = cls.__new__(cls)
        progress._start(workspace, run_id, spec, 0, "queued", "queued", message)
        return progress

    def _start(
        self,
        workspace: Workspace,
        run_id: str,
        spec: TrainingSpec,
        pid: int,
        status: str,
        stage: str,
        message: str,
    ) -> None:
        self.folder = runs_folder(workspace) / run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).isoformat()
        self.data: dict[str, Any] = {
            "run_id": run_id,
            "model": spec.name,
            "status": status,
            "stage": stage,
            "pid": pid,
            "started_at": now,
            "updated_at": now,
            "budget": spec.time_budget,
            "trials": [],
            "best": None,
            "message": message,
            "result": None,
            "spec": spec.to_json(),
        }
        self._write()

    def _write(self) -> None:
        self.data["updated_at"] = datetime.now(UTC).isoformat()
        temporary = self.folder / f".{PROGRESS}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(self.data, indent=1, default=str), encoding="utf-8")
        os.replace(temporary, self.folder / PROGRESS)

    def stage(self, name: str, message: str = "") -> None:
        self.data["stage"] = name
        self.data["message"] = message
        self._write()

    def trial(self, trial: Mapping[str, Any], best: Mapping[str, Any] | None) -> None:
        self.data["trials"].append(dict(trial))
        self.data["best"] = dict(best) if best else None
        self._write()

    def done(self, result: Mapping[str, Any]) -> None:
        self.data.update(status="done", stage="done", result=dict(result), message="")
        self._write()

    def failed(self, message: str) -> None:
        self.data.update(status="failed", message=message)
        self._write()
