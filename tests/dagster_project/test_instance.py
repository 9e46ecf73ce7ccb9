"""The workspace's Dagster instance folder: settings written once, storage created before use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from core.workspace import Workspace
from dagster_project.instance import INSTANCE_SETTINGS, open_instance, prepare_dagster_home

PREPARE = (
    "import sys; from core.workspace import Workspace; "
    "from dagster_project.instance import prepare_dagster_home; "
    "prepare_dagster_home(Workspace.at(sys.argv[1]))"
)


def schema_versions(dagster_home: Path) -> dict[str, list[str]]:
    """Each SQLite storage database's stamped schema versions (Alembic heads)."""
    found = {}
    for database in sorted(dagster_home.rglob("*.db")):
        with sqlite3.connect(database) as connection:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        found[str(database.relative_to(dagster_home))] = [row[0] for row in rows]
    return found


def test_a_fresh_instance_gets_its_settings_and_storage(workspace: Workspace) -> None:
    home = prepare_dagster_home(workspace)
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == INSTANCE_SETTINGS
    versions = schema_versions(home)
    assert {"history/runs.db", "schedules/schedules.db"} <= set(versions)
    assert all(len(heads) == 1 for heads in versions.values()), versions


def test_instances_prepared_at_once_by_several_processes_all_open(workspace: Workspace) -> None:
    starts = [
        subprocess.Popen([sys.executable, "-c", PREPARE, str(workspace.home)]) for _ in range(3)
    ]
    try:
        codes = [start.wait(timeout=120) for start in starts]
    finally:
        for start in starts:
            if start.poll() is None:
                start.kill()
                start.wait()
    assert codes == [0, 0, 0]
    versions = schema_versions(workspace.dagster_home)
    assert versions and all(len(heads) == 1 for heads in versions.values()), versions
    with open_instance(workspace) as instance:
        assert instance.get_runs() == []


def test_settings_the_user_wrote_are_kept(workspace: Workspace) -> None:
    own = {"telemetry": {"enabled": False}, "run_monitoring": {"enabled": True}}
    workspace.dagster_home.mkdir(parents=True, exist_ok=True)
    (workspace.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(own))
    home = prepare_dagster_home(workspace)
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == own
    assert (home / "schedules" / "schedules.db").is_file()
