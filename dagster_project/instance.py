"""Where Dagster keeps its runs for a workspace: ``DAGSTER_HOME`` inside ``HARVEST_HOME``.

``harvest dagster`` (the UI and daemon) and ``harvest demo`` (in-process runs) share one
instance folder per workspace, so runs made by one show up in the other.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import yaml
from dagster import DagsterInstance

from core.workspace import Workspace

# Telemetry off; one run at a time by default, because runs share a 2-core machine and one
# catalog (a team raises this, or moves to a Kubernetes or Celery run launcher).
INSTANCE_SETTINGS: dict[str, object] = {
    "telemetry": {"enabled": False},
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
}
# The last of the default SQLite storages an instance creates when it is first opened.
STORAGE_MADE = Path("schedules") / "schedules.db"


def prepare_dagster_home(workspace: Workspace) -> Path:
    """Create ``HARVEST_HOME/dagster``: its ``dagster.yaml`` (kept if the user wrote one) and storage.

    The storage is created here, once and under a lock, before any daemon or UI starts: two
    processes that open a fresh instance at the same moment both stamp its schema version,
    and Dagster then refuses to open it ("more than one head present").
    """
    home = workspace.ensure().dagster_home
    with (home / ".prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        settings = home / "dagster.yaml"
        if not settings.exists():
            settings.write_text(
                yaml.safe_dump(INSTANCE_SETTINGS, sort_keys=False), encoding="utf-8"
            )
        if not (home / STORAGE_MADE).exists():
            DagsterInstance.from_config(str(home)).dispose()
    return home


def open_instance(workspace: Workspace) -> DagsterInstance:
    """The persistent Dagster instance of ``workspace`` (runs recorded there show in the UI)."""
    return DagsterInstance.from_config(str(prepare_dagster_home(workspace)))
