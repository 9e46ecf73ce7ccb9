"""``harvest dagster``: the Dagster UI and daemon on the workspace, stopped cleanly with its children."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

import jobs
from core.errors import InvalidInputError
from core.workspace import Workspace
from harvest import output

DEFINITIONS_MODULE = "dagster_project.definitions"
LOOPBACK = "127.0.0.1"


def register(app: typer.Typer) -> None:
    """Add ``harvest dagster`` to ``app``."""
    app.command("dagster")(dagster_command)
    app.command("dagster-worker")(dagster_worker_command)


def dagster_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port of the Dagster UI.")] = 3000,
) -> None:
    """Start the Dagster UI and daemon on 127.0.0.1 for this workspace (Ctrl-C stops both)."""
    from dagster_project.instance import prepare_dagster_home

    workspace: Workspace = ctx.obj
    ensure_port_free(port)
    dagster_home = prepare_dagster_home(workspace)
    output.console.print(
        f"Dagster UI on http://{LOOPBACK}:{port} for the workspace {workspace.home} "
        f"(DAGSTER_HOME {dagster_home}); Ctrl-C stops it."
    )
    jobs.record_deployment(workspace, LOOPBACK, port)  # the launcher submits training here
    try:
        code = run_process_group(
            dagster_dev_command(port), env=dagster_env(workspace, dagster_home), cwd=dagster_home
        )
    finally:
        jobs.forget_deployment(workspace)
    output.console.print("Dagster stopped.")
    raise typer.Exit(code)


def dagster_worker_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="The worker's name.")] = "harvest",
) -> None:
    """Start a Celery worker for Dagster runs on the team's Redis (Ctrl-C stops it)."""
    from dagster_project.instance import prepare_dagster_home
    from dagster_project.workers import worker_command, worker_env, write_worker_config

    workspace: Workspace = ctx.obj
    dagster_home = prepare_dagster_home(workspace)
    config = write_worker_config(dagster_home / "celery", os.environ)
    output.console.print(
        f"Celery worker {name} for Dagster steps on {os.environ['HARVEST_REDIS_URL']}; "
        "Ctrl-C stops it."
    )
    env = worker_env(workspace, config, dagster_home)
    raise typer.Exit(run_process_group(worker_command(name), env=env, cwd=dagster_home))


def dagster_dev_command(port: int) -> list[str]:
    """``dagster dev`` on loopback, loading the Harvest definitions in this environment."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        DEFINITIONS_MODULE,
        "-h",
        LOOPBACK,
        "-p",
        str(port),
    ]


def dagster_env(workspace: Workspace, dagster_home: Path) -> dict[str, str]:
    """The environment of the Dagster processes: this workspace and its instance folder."""
    return {
        **os.environ,
        "HARVEST_HOME": str(workspace.home),
        "HARVEST_CATALOG": workspace.catalog_uri,
        "HARVEST_DATA_PATH": workspace.data_path,
        "DAGSTER_HOME": str(dagster_home),
    }


def ensure_port_free(port: int) -> None:
    """Raise a clear error when ``port`` on loopback is taken or not a port."""
    if not 0 < port < 65536:
        raise InvalidInputError(f"--port {port} is not a TCP port: use 1 to 65535.")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise InvalidInputError(
                f"Port {port} on {LOOPBACK} is in use; choose another with --port."
            ) from error


def run_process_group(
    command: list[str], *, env: dict[str, str], cwd: Path, grace_s: float = 30.0
) -> int:
    """Run ``command`` in its own process group until it exits or we get SIGINT/SIGTERM.

    On a signal the leader is asked to stop (``dagster dev`` then stops its webserver, daemon
    and code servers); whatever is left of the group after ``grace_s`` is killed.
    """
    process = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
    stop = threading.Event()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, request_stop) for sig in handled}
    try:
        while process.poll() is None and not stop.wait(0.2):
            pass
    finally:
        stop_process_group(process, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stop.is_set() else int(process.returncode or 0)


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """Stop ``process`` with SIGTERM, then its whole group, then SIGKILL what still runs."""
    group = process.pid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(group):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        deadline = time.monotonic() + 5.0
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
    if process.poll() is None:
        process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
