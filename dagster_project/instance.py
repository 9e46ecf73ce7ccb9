"""Where Dagster keeps its runs for a workspace: ``DAGSTER_HOME`` inside ``HARVEST_HOME``.

``harvest dagster`` (the UI and daemon) and ``harvest demo`` (in-process runs) share one
instance folder per workspace, so runs made by one show up in the other.

With a catalog on PostgreSQL (the team setup) the instance keeps its runs, events and
schedules in that database too, in the schema ``dagster`` (``dagster-postgres``), so every
machine's UI, daemon and Celery workers see the same runs, and the queued run coordinator
lets ``TEAM_RUNS`` runs go at once.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import yaml
from dagster import DagsterInstance

from core.postgres import catalog_dsn, create_schema, sqlalchemy_url
from core.workspace import Workspace

# Telemetry off; one run at a time by default, because runs share a 2-core machine and one
# catalog (a team raises this, or moves to a Kubernetes or Celery run launcher).
INSTANCE_SETTINGS: dict[str, object] = {
    "telemetry": {"enabled": False},
    "concurrency": {"runs": {"max_concurrent_runs": 1}},
}
# The last of the default SQLite storages an instance creates when it is first opened.
STORAGE_MADE = Path("schedules") / "schedules.db"
# Written once the team instance's tables exist in PostgreSQL.
POSTGRES_MADE = Path(".postgres-made")
SCHEMA = "dagster"  # Dagster's tables in the catalog's database (Optuna has its own schema)
TEAM_RUNS = 4  # runs at once on a team's instance, queued beyond that


def instance_settings(workspace: Workspace) -> dict[str, object]:
    """The ``dagster.yaml`` Harvest writes: SQLite in the folder, or the catalog's PostgreSQL."""
    dsn = catalog_dsn(workspace)
    if dsn is None:
        return INSTANCE_SETTINGS
    return {
        "telemetry": {"enabled": False},
        "storage": {"postgres": {"postgres_url": sqlalchemy_url(dsn, SCHEMA)}},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": TEAM_RUNS},
        },
    }


def prepare_dagster_home(workspace: Workspace) -> Path:
    """Create ``HARVEST_HOME/dagster``: its ``dagster.yaml`` (kept if the user wrote one) and storage.

    The storage is created here, once and under a lock, before any daemon or UI starts: two
    processes that open a fresh instance at the same moment both stamp its schema version,
    and Dagster then refuses to open it ("more than one head present"). On PostgreSQL the
    schema is created first (the settings file may hold a password: it is private).
    """
    home = workspace.ensure().dagster_home
    dsn = catalog_dsn(workspace)
    with (home / ".prepare.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        settings = home / "dagster.yaml"
        if not settings.exists():
            settings.write_text(
                yaml.safe_dump(instance_settings(workspace), sort_keys=False), encoding="utf-8"
            )
            settings.chmod(0o600)
        made = home / (STORAGE_MADE if dsn is None else POSTGRES_MADE)
        if not made.exists():
            if dsn is not None:
                create_schema(dsn, SCHEMA)
            DagsterInstance.from_config(str(home)).dispose()
            if dsn is not None:
                made.touch()
    return home


def open_instance(workspace: Workspace) -> DagsterInstance:
    """The persistent Dagster instance of ``workspace`` (runs recorded there show in the UI)."""
    return DagsterInstance.from_config(str(prepare_dagster_home(workspace)))
