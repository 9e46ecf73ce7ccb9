"""Background work: the one launcher for everything Harvest runs out of process, and its handle.

A **job** is a ``harvest`` command (a crawl, a training run, anything the command line
runs) started in a process of its own session, so a closed tab, a stopped dashboard or
an ended request leaves it running; or a training run submitted to the workspace's
Dagster deployment (``harvest dagster``) through Dagster's GraphQL API. Every job is a
record on disk, so any process (the dashboard after a restart, ``harvest jobs``, the API)
lists and follows it::

    HARVEST_HOME/jobs/<id>.json         the record (:class:`Job`), written when it starts
    HARVEST_HOME/jobs/<id>.log          the command's output
    HARVEST_HOME/jobs/<id>.exit.json    its exit code, written when the command ends

A process job runs under a small supervisor (``python -m jobs``, the process
group's leader) that waits for the command and writes its exit code, even when the
command was killed by a signal. A job whose supervisor is gone without that file (the
machine rebooted, someone SIGKILLed the group) reads as failed.

* :func:`scrape`, :func:`train` and :func:`start` launch; each returns a :class:`Job`.
* :func:`get` and :func:`list_jobs` read the records back.
* :meth:`Job.status`, :meth:`Job.progress` and :meth:`Job.logs` follow one.
* :func:`record_deployment` is how ``harvest dagster`` says where its webserver listens.

It sits above the packages and beside the shells (the command line, the dashboard and the
API use it); it imports only the foundation (:mod:`core`) at the top, so the supervisor
(``jobs/__main__.py``) starts fast, and the packages and Dagster load inside the
functions that need them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import NotFoundError
from core.processes import new_job_id, process_alive
from core.workspace import Workspace

if TYPE_CHECKING:
    from scrapers.landing import CrawlCounts
    from training.runs import RunProgress
    from training.spec import TrainingSpec

STATES = ("queued", "running", "succeeded", "failed")
RECORD = ".json"
EXIT = ".exit.json"
LOG = ".log"
DEPLOYMENT = "webserver.json"  # in DAGSTER_HOME: where ``harvest dagster`` serves GraphQL
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")


def jobs_folder(workspace: Workspace) -> Path:
    return workspace.home / "jobs"


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` to ``path`` atomically: readers see the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands: ``state`` is queued, running, succeeded or failed."""

    state: str
    exit_code: int | None = None  # a process job's, once it ended
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


@dataclass(frozen=True)
class Job:
    """A job as recorded when it started; its methods read how it goes now."""

    id: str
    kind: str  # scrape | train | the command it runs
    what: str  # the source, the model, or the command line
    home: Path  # the workspace it runs on
    started_at: datetime
    pid: int = 0  # a process job's supervisor (its process group), 0 in Dagster
    dagster_run_id: str | None = None
    log: Path | None = None  # None in Dagster: its UI has the run's logs
    argv: tuple[str, ...] = ()
    started_by: str = ""  # who asked for it: a user's name, or "" for the workspace's administrator

    @property
    def workspace(self) -> Workspace:
        return Workspace.at(self.home)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "what": self.what,
            "home": str(self.home),
            "started_at": self.started_at.isoformat(),
            "pid": self.pid,
            "dagster_run_id": self.dagster_run_id,
            "log": str(self.log) if self.log else None,
            "argv": list(self.argv),
            "started_by": self.started_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["id"],
            kind=data["kind"],
            what=data["what"],
            home=Path(data["home"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            pid=int(data.get("pid") or 0),
            dagster_run_id=data.get("dagster_run_id"),
            log=Path(data["log"]) if data.get("log") else None,
            argv=tuple(data.get("argv", ())),
            started_by=str(data.get("started_by") or ""),
        )

    def status(self) -> JobStatus:
        """Queued, running, succeeded or failed (with the exit code of a process job)."""
        if self.dagster_run_id:
            return self._dagster_status()
        alive = process_alive(self.pid)  # before the exit file: it is written before the exit
        ended = jobs_folder(self.workspace) / f"{self.id}{EXIT}"
        if ended.exists():
            code = int(json.loads(ended.read_text(encoding="utf-8"))["exit_code"])
            if code == 0:
                return JobStatus("succeeded", 0)
            return JobStatus("failed", code, f"{self.kind} {self.what} exited with code {code}.")
        if alive:
            return JobStatus("running")
        return JobStatus(
            "failed",
            None,
            f"The process of {self.kind} {self.what} ended without recording how; "
            "it was killed or the machine stopped.",
        )

    def _dagster_status(self) -> JobStatus:
        """A Dagster job: its training progress, and Dagster's word while training has not ended."""
        run = self._training_progress()
        if run is not None and run.status == "done":
            return JobStatus("succeeded")
        if run is not None and run.finished:
            return JobStatus("failed", None, run.message)
        found = deployment(self.workspace)
        dagster = None
        if found is not None and self.dagster_run_id:
            from dagster_project.submit import run_status  # Dagster loads only for its jobs

            dagster = run_status(found, self.dagster_run_id)
        waiting = run is None or run.status == "queued"
        if dagster in ("FAILURE", "CANCELED", "CANCELING"):
            when = "before training started" if waiting else "while training"
            return JobStatus(
                "failed",
                None,
                f"Dagster run {self.dagster_run_id} ended ({str(dagster).lower()}) {when}; "
                "its logs in the Dagster UI say why.",
            )
        if dagster == "SUCCESS":
            return JobStatus("succeeded")
        if waiting:
            return JobStatus("queued", None, run.message if run else "")
        return JobStatus("running")

    def _training_progress(self) -> RunProgress | None:
        if self.kind != "train":
            return None
        from training.runs import read_progress

        try:
            return read_progress(self.workspace, self.id)
        except NotFoundError:
            return None

    def progress(self) -> RunProgress | CrawlCounts | None:
        """How far the job got: a training job's :meth:`run_progress`, a running crawl's
        :meth:`crawl_progress`; None for other jobs (their logs say how far they got)."""
        if self.kind == "scrape":
            return self.crawl_progress()
        return self.run_progress()

    def run_progress(self) -> RunProgress | None:
        """A training job's progress file; a queued run Dagster gave up on reads as failed."""
        run = self._training_progress()
        if run is not None and run.status == "queued" and self.dagster_run_id:
            status = self.status()
            if status.state == "failed":
                run = replace(run, status="failed", message=status.message)
        return run

    def crawl_progress(self) -> CrawlCounts | None:
        """A running crawl's pages, items and errors so far; None before it lands and once it
        is committed (its run in the catalog says the rest)."""
        if self.kind != "scrape":
            return None
        from scrapers.landing import running_crawl

        return running_crawl(self.workspace.landing, self.what, self.started_at)

    def report(self) -> dict[str, Any]:
        """The job as the shells print it (``--json``, the API): its record, where it stands
        and how far it got."""
        crawl = self.crawl_progress()
        run = self.run_progress()
        progress: dict[str, Any] | None = asdict(crawl) if crawl else None
        if run is not None:
            progress = {
                "status": run.status,
                "stage": run.stage,
                "trials": len(run.trials),
                "best": run.best,
                "result": run.result,
                "message": run.message,
            }
        return {**self.to_json(), "status": asdict(self.status()), "progress": progress}

    def logs(self, tail: int = 20) -> str:
        """The last ``tail`` lines of the job's output."""
        if self.log is None:
            where = deployment(self.workspace)
            at = f"{where.url}/runs/{self.dagster_run_id}" if where else "the Dagster UI"
            return f"Dagster run {self.dagster_run_id}: its logs are in {at}."
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-tail:]) if tail > 0 else ""


def _record(workspace: Workspace, job: Job) -> Job:
    folder = jobs_folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / f"{job.id}{RECORD}", job.to_json())
    return job


def start(
    workspace: Workspace,
    kind: str,
    what: str,
    args: list[str],
    job_id: str | None = None,
    started_by: str = "",
) -> Job:
    """Start ``harvest <args>`` on ``workspace`` in a process of its own session; return its job.

    A ``train`` command writes its progress under the job's id unless it names a run id.
    """
    job_id = job_id or new_job_id(f"{kind}-{what}" if what != kind else kind)
    if args[:1] == ["train"] and "--run-id" not in args:
        args = [*args, "--run-id", job_id]
    folder = jobs_folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{job_id}{LOG}"
    argv = (sys.executable, "-m", "harvest", "--home", str(workspace.home), *args)
    supervisor = [sys.executable, "-m", "jobs", str(folder / f"{job_id}{EXIT}"), *argv]
    env = {**os.environ, "HARVEST_HOME": str(workspace.home), "PYTHONUNBUFFERED": "1"}
    started = datetime.now(UTC)
    with log.open("ab") as out:
        child = subprocess.Popen(
            supervisor,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: outlives the tab, the server, the request
        )
    job = Job(job_id, kind, what, workspace.home, started, child.pid, None, log, argv, started_by)
    return _record(workspace, job)


def record_submitted(workspace: Workspace, kind: str, what: str, job_id: str, run_id: str) -> Job:
    """Record a job that the Dagster deployment runs as ``run_id``."""
    job = Job(job_id, kind, what, workspace.home, datetime.now(UTC), 0, run_id)
    return _record(workspace, job)


def scrape(workspace: Workspace, source: str, started_by: str = "") -> Job:
    """Crawl ``source`` (``harvest scrape``) in the background; an unknown source is refused
    at once with the command's own sentence."""
    from scrapers.sources import find_source

    find_source(source, workspace)
    return start(workspace, "scrape", source, ["scrape", source], started_by=started_by)


def train(workspace: Workspace, spec: TrainingSpec, started_by: str = "") -> Job:
    """Train ``spec``: in the Dagster deployment when ``harvest dagster`` serves this workspace,
    else ``harvest train`` in a process of its own. Either way the job id is the training run
    id, whose progress file (:mod:`training.runs`) exists when this returns."""
    from training.runs import PROGRESS, ProgressFile, new_run_id, runs_folder

    found = deployment(workspace)
    if found is not None:
        from dagster_project.submit import submit_training  # Dagster loads only when it runs

        submitted = submit_training(spec, workspace, found)
        if submitted is not None:
            return _record(workspace, replace(submitted, started_by=started_by))
    run_id = new_run_id(spec.name)
    folder = runs_folder(workspace) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec.to_json(), indent=1), encoding="utf-8")
    args = ["train", "--spec", str(spec_file), "--run-id", run_id, "--quiet"]
    job = start(workspace, "train", spec.name, args, job_id=run_id, started_by=started_by)
    if not (folder / PROGRESS).exists():  # readable at once; the run rewrites it as it starts
        ProgressFile(workspace, run_id, spec, pid=job.pid)
    return job


def get(workspace: Workspace, job_id: str) -> Job:
    """The job ``job_id`` of ``workspace``."""
    file = jobs_folder(workspace) / f"{job_id}{RECORD}"
    if not _JOB_ID.fullmatch(job_id) or ".." in job_id or not file.is_file():
        raise NotFoundError(
            f"There is no job {job_id!r} in {workspace.home}; see `harvest jobs list`."
        )
    return Job.from_json(json.loads(file.read_text(encoding="utf-8")))


def list_jobs(workspace: Workspace, kind: str | None = None, what: str | None = None) -> list[Job]:
    """The workspace's jobs, newest first (only ``kind`` and ``what`` when given)."""
    folder = jobs_folder(workspace)
    found = []
    for file in folder.glob(f"*{RECORD}") if folder.is_dir() else ():
        if file.name.endswith(EXIT) or file.name.startswith("."):
            continue
        job = Job.from_json(json.loads(file.read_text(encoding="utf-8")))
        if (kind is None or job.kind == kind) and (what is None or job.what == what):
            found.append(job)
    return sorted(found, key=lambda j: j.started_at, reverse=True)


# -- the Dagster deployment ----------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """Where ``harvest dagster`` serves the Dagster webserver (and its GraphQL API)."""

    host: str
    port: int
    pid: int  # the ``harvest dagster`` process

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def record_deployment(workspace: Workspace, host: str, port: int) -> None:
    """Say that this process serves Dagster for ``workspace`` on ``host:port``."""
    workspace.dagster_home.mkdir(parents=True, exist_ok=True)
    record = {"host": host, "port": port, "pid": os.getpid()}
    _write_json(workspace.dagster_home / DEPLOYMENT, record)


def forget_deployment(workspace: Workspace) -> None:
    """Remove this process's deployment record (when ``harvest dagster`` stops)."""
    found = deployment(workspace, alive_only=False)
    if found is not None and found.pid == os.getpid():
        (workspace.dagster_home / DEPLOYMENT).unlink(missing_ok=True)


def deployment(workspace: Workspace, *, alive_only: bool = True) -> Deployment | None:
    """The Dagster deployment serving ``workspace``, or None when none runs."""
    file = workspace.dagster_home / DEPLOYMENT
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        found = Deployment(str(data["host"]), int(data["port"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if not alive_only or process_alive(found.pid) else None


# -- the supervisor ------------------------------------------------------------------


def supervise(exit_file: Path, command: list[str]) -> int:
    """Run ``command``, then write its exit code to ``exit_file`` (a signal's as its negative).

    SIGTERM and SIGINT sent to the supervisor alone are passed on to the command, so the
    exit code is still recorded.
    """
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    code = child.wait()
    _write_json(exit_file, {"exit_code": code, "finished_at": datetime.now(UTC).isoformat()})
    return 0
