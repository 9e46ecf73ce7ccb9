"""Where Dagster keeps its runs for a workspace: ``DAGSTER_HOME`` inside ``HARVEST_HOME``.

``harvest dagster`` (the UI and daemon) and ``harvest demo`` (in-process runs) share one
instance folder per workspace, so runs made by one show up in the other.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import DagsterInstance

from harvest.workspace import Workspace

# Telemetry off; one run at a time by default, because runs share a 2-core machine and one
# catalog (a team raises this, or moves to a Kubernetes or Celery run launcher).
INSTANCE_SETTINGS: dict[str, object] = {
    "telemetry": {"enabled": False},
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
}


def prepare_dagster_home(workspace: Workspace) -> Path:
    """Create ``HARVEST_HOME/dagster`` with its ``dagster.yaml`` (kept if the user wrote one)."""
    home = workspace.ensure().dagster_home
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(yaml.safe_dump(INSTANCE_SETTINGS, sort_keys=False), encoding="utf-8")
    return home


def open_instance(workspace: Workspace) -> DagsterInstance:
    """The persistent Dagster instance of ``workspace`` (runs recorded there show in the UI)."""
    return DagsterInstance.from_config(str(prepare_dagster_home(workspace)))
