"""The team configuration: a catalog on PostgreSQL and a data path on S3, on servers that
``harvest services up`` starts (once per test process) as a user would.

The ``workspace`` and ``catalog`` fixtures here replace the shared ones: each test gets its
own empty PostgreSQL database and its own folder of the S3 bucket, so tests written for the
default setup run unchanged on this one (``tests/team/test_again.py``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog
from core import services
from core.workspace import Workspace


def harvest(
    home: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A ``harvest`` command in a child process, as a shell would run it."""
    return subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=300,
    )


def _postgres_missing() -> bool:
    return not list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


@pytest.fixture(scope="session")
def services_home() -> Iterator[Path]:
    """A workspace whose servers `harvest services up` started (stopped at the end)."""
    if _postgres_missing():  # `make test` installs it, so CI never skips
        pytest.skip("PostgreSQL is not installed (`make services` installs it)")
    home = Path(tempfile.mkdtemp(prefix="harvest-team-")) / "home"
    started = harvest(home, "services", "up")
    assert started.returncode == 0, started.stderr
    postgres = services.running(home).postgres
    try:
        yield home
    finally:
        stopped = harvest(home, "services", "down")
        if postgres is not None:
            shutil.rmtree(postgres.folder, ignore_errors=True)
        shutil.rmtree(home.parent, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="session")
def team_settings(services_home: Path) -> dict[str, str]:
    """The settings `harvest services env` prints, as `eval` would set them."""
    printed = harvest(services_home, "services", "env")
    assert printed.returncode == 0, printed.stderr
    settings = {}
    for line in printed.stdout.splitlines():
        name, value = line.removeprefix("export ").split("=", 1)
        settings[name] = value.strip("'")
    return settings


@pytest.fixture
def workspace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    services_home: Path,
    team_settings: dict[str, str],
) -> Workspace:
    """An empty team workspace: its own database on the services' PostgreSQL, its own folder
    of their S3 bucket; also set as HARVEST_HOME and in the environment."""
    postgres = services.running(services_home).postgres
    assert postgres is not None, "the services' PostgreSQL stopped"
    database = f"t_{secrets.token_hex(6)}"
    services.create_database(postgres, database)
    home = tmp_path / "home"
    for name, value in team_settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HARVEST_HOME", str(home))
    monkeypatch.setenv("HARVEST_CATALOG", f"ducklake:postgres:{postgres.dsn(database)}")
    monkeypatch.setenv("HARVEST_DATA_PATH", f"s3://{services.BUCKET}/{database}/")
    return Workspace.at(home).ensure()


@pytest.fixture
def catalog(workspace: Workspace) -> Iterator[Catalog]:
    with Catalog.open(workspace) as opened:
        yield opened
