"""Servers a team setup runs on, started on loopback inside a workspace to try it on one machine.

Today: PostgreSQL (Debian's ``postgresql`` package), for the catalog. ``harvest services up``
starts it with ``initdb`` and ``pg_ctl`` on a free loopback port, and ``harvest services env`` prints the ``HARVEST_CATALOG`` that points a workspace at
it. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user, which
owns its folder. A team points the same setting at its own PostgreSQL instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import HarvestError

DATABASE = "harvest"


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server this workspace started: its folder, port and process."""

    folder: str
    port: int
    pid: int
    user: str

    @property
    def catalog_uri(self) -> str:
        return (
            f"ducklake:postgres:dbname={DATABASE} host=127.0.0.1 port={self.port} user={self.user}"
        )


def _binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise HarvestError(
            "PostgreSQL is not installed: `apt-get install postgresql` (or `make test`) adds it."
        )
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str], owner: str) -> list[str]:
    """``command`` run as ``owner`` when this process is root (PostgreSQL refuses root)."""
    return ["runuser", "-u", owner, "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HarvestError(f"Could not {what}: {last[0]}")


def _postgres_folder(home: Path) -> Path:
    """Where the cluster lives: in the workspace, except as root, where the ``postgres`` user
    it runs as may not be able to reach the workspace (a home folder is often closed to
    others): then in a folder of its own under the system's temporary folder."""
    if os.geteuid() != 0:
        return home / "services" / "postgres"
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"harvest-postgres-{digest}"


def state_file(home: Path) -> Path:
    return home / "services" / "services.json"


def running_postgres(home: Path) -> Postgres | None:
    """The PostgreSQL this workspace started, if it is still running."""
    try:
        found = Postgres(**json.loads(state_file(home).read_text())["postgres"])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None
    try:
        os.kill(found.pid, 0)
    except ProcessLookupError:
        return None
    return found


def start_postgres(home: Path) -> Postgres:
    """Start (or find running) the workspace's PostgreSQL, with its ``harvest`` database."""
    running = running_postgres(home)
    if running is not None:
        return running
    binaries = _binaries()
    owner = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    folder = _postgres_folder(home)
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, user=owner)
    if not (data / "PG_VERSION").exists():
        _run(
            _as_owner(
                [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", owner,
                 "-E", "UTF8", "--locale=C.UTF-8", "--lc-messages=C", "--no-instructions"],
                owner,
            ),
            "create the PostgreSQL cluster",
        )  # fmt: skip
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c lc_messages=C"
    _run(
        _as_owner(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
             "-o", options, "-w", "-t", "60", "start"],
            owner,
        ),
        "start PostgreSQL",
    )  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().split()[0])
    created = subprocess.run(
        _as_owner(
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", owner, DATABASE],
            owner,
        ),
        capture_output=True,
        text=True,
    )
    if created.returncode != 0 and "already exists" not in created.stderr:
        stop_postgres(home, Postgres(str(folder), port, pid, owner))
        raise HarvestError(f"Could not create the {DATABASE} database: {created.stderr.strip()}")
    server = Postgres(str(folder), port, pid, owner)
    state_file(home).parent.mkdir(parents=True, exist_ok=True)
    state_file(home).write_text(json.dumps({"postgres": asdict(server)}, indent=2))
    return server


def stop_postgres(home: Path, server: Postgres | None = None) -> bool:
    """Stop the workspace's PostgreSQL; whether one was running."""
    server = server or running_postgres(home)
    if server is None:
        return False
    data = Path(server.folder) / "data"
    _run(
        _as_owner([str(_binaries() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                  server.user),
        "stop PostgreSQL",
    )  # fmt: skip
    state_file(home).unlink(missing_ok=True)
    return True
