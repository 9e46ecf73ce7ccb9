"""Background work the dashboard starts: ``harvest`` commands in processes of their own.

Each launch runs the real command line (``python -m harvest ...``) detached in its own
session, so closing the tab or stopping the dashboard does not stop it, with its output in
a log file under ``HARVEST_HOME/logs/``. The Popen handles are kept per process, so the
page can tell a finished run from a running one (and reap it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harvest.workspace import Workspace

_children: dict[int, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Launch:
    """A command started in the background."""

    pid: int
    what: str
    argv: tuple[str, ...]
    log: Path
    started_at: datetime


def harvest(workspace: Workspace, what: str, *args: str) -> Launch:
    """Start ``harvest <args>`` on ``workspace`` in the background; ``what`` names it in the log file."""
    logs = workspace.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    log = logs / f"{what}-{started:%Y%m%dT%H%M%S%f}.log"
    argv = (sys.executable, "-m", "harvest", "--home", str(workspace.home), *args)
    env = {**os.environ, "HARVEST_HOME": str(workspace.home), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        child = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: a closed tab or a stopped server leaves it running
        )
    with _lock:
        _children[child.pid] = child
    return Launch(pid=child.pid, what=what, argv=argv, log=log, started_at=started)


def exit_code(launch: Launch) -> int | None:
    """The exit code of a launch, or None while it runs (or when another process started it)."""
    with _lock:
        child = _children.get(launch.pid)
    return child.poll() if child is not None else None


def tail(launch: Launch, lines: int = 20) -> str:
    """The last lines of a launch's log."""
    try:
        text = launch.log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
