"""``harvest dashboard``: the Streamlit app, headless on loopback, for the current workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import InvalidInputError
from core.workspace import Workspace

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard_command)


def streamlit_argv(port: int) -> list[str]:
    """The command that serves the dashboard on 127.0.0.1:``port``, usage statistics off."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--global.developmentMode=false",
        "--client.toolbarMode=minimal",
    ]


def dashboard_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8501,
) -> None:
    """Serve the dashboard (marketplace, datasets, SQL, training, models) on http://127.0.0.1:PORT."""
    if not 0 < port < 65536:
        raise InvalidInputError(f"{port} is not a port: use a number from 1 to 65535.")
    workspace: Workspace = ctx.obj
    workspace.ensure()
    env = {
        **os.environ,
        "HARVEST_HOME": str(workspace.home),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    typer.echo(
        f"Harvest dashboard on http://127.0.0.1:{port} (workspace {workspace.home}); Ctrl+C stops it."
    )
    argv = streamlit_argv(port)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)  # the server takes this process's place, so its PID is ours
