"""``harvest dagster``: the UI serves GraphQL on loopback for the workspace and stops cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import jobs
from core.services import free_port
from core.workspace import Workspace
from harvest.cli import main
from harvest.commands.orchestration import LOOPBACK
from tests.dagster_project.webserver import graphql, wait_for_location

ASSETS = "{ assetNodes { assetKey { path } } }"
SOURCE = "name: storeinfo\nstart_urls: [http://127.0.0.1:9/tables]\nschedule: '15 5 * * *'\n"


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "storeinfo.yaml").write_text(SOURCE, encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "harvest", "--home", str(tmp_path), "dagster", "--port", str(port)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_dagster_serves_the_workspace_on_loopback_and_stops_with_its_children(
    dagster_ui: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    process, port = dagster_ui
    data = wait_for_location(port)
    found = jobs.deployment(Workspace.at(tmp_path))
    assert found == jobs.Deployment(LOOPBACK, port, process.pid), "the launcher finds it"
    entry = data["workspaceOrError"]["locationEntries"][0]  # type: ignore[index]
    assert entry["name"] == "dagster_project.definitions"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    nodes = graphql(port, ASSETS)["assetNodes"]
    keys = {"/".join(node["assetKey"]["path"]) for node in nodes}  # type: ignore[attr-defined,index]
    assert {"raw_storeinfo", "clean_storeinfo"} <= keys, "the workspace's own sources are served"

    settings = yaml.safe_load((tmp_path / "dagster" / "dagster.yaml").read_text())
    assert settings["telemetry"] == {"enabled": False}

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(process.pid), "Dagster's webserver or daemon outlived harvest dagster"
    assert jobs.deployment(Workspace.at(tmp_path)) is None
    assert not (tmp_path / "dagster" / jobs.DEPLOYMENT).exists()
    with pytest.raises(OSError):
        graphql(port, "{ version }")
    assert b"Dagster stopped." in (process.stdout.read() if process.stdout else b"")


def test_dagster_refuses_a_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            main(["--home", str(tmp_path), "dagster", "--port", str(port)])
    assert exit_info.value.code == 1
    assert f"Port {port} on {LOOPBACK} is in use" in capsys.readouterr().err
