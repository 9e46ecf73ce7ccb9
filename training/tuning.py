"""Where a training run's shared Optuna study lives, and the worker processes that join it.

``harvest train --workers N`` runs the search's tuning trials in N processes: the run's own
and N - 1 ``harvest tune-worker RUN`` processes it starts; ``harvest tune-worker RUN`` run by
hand joins from another machine. They share one study, created once by the run before any
worker starts (two first starts of an Optuna storage race on its tables):

* with a catalog on PostgreSQL, in that database (Optuna's RDB storage, in the schema
  ``optuna``, through a ``postgresql+psycopg2://`` URL), so a worker on any machine with the
  team's settings joins it;
* otherwise in a journal file in the run's folder (``JournalFileBackend``), so workers join
  on this machine only.

A worker that dies leaves its trial unfinished; the others go on, and the run lists that
trial as failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.errors import InvalidInputError, NotFoundError
from core.postgres import catalog_dsn, create_schema, sqlalchemy_url
from core.workspace import Workspace
from training.runs import runs_folder
from training.search import SharedTuning, median_pruner, tpe_sampler

if TYPE_CHECKING:
    import optuna

SCHEMA = "optuna"
SPEC = "spec"  # the run's spec (its dataset pinned to one version), a user attribute
PLAN = "plan"  # what search() planned: families, fixed parameters, deadline, cap
JOURNAL = "study.journal"
HELPER_GRACE_S = 60.0  # how long past the deadline helpers may take to end their last trial


def study_name(run_id: str) -> str:
    return f"harvest-{run_id}"


def open_storage(workspace: Workspace, run_id: str) -> optuna.storages.BaseStorage:
    """The Optuna storage of ``run_id``'s study: the catalog's PostgreSQL, or a journal file."""
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from sqlalchemy.pool import NullPool

    dsn = catalog_dsn(workspace)
    if dsn is not None:
        create_schema(dsn, SCHEMA)
        return optuna.storages.RDBStorage(
            sqlalchemy_url(dsn, SCHEMA), engine_kwargs={"poolclass": NullPool}
        )
    folder = runs_folder(workspace) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    backend = JournalFileBackend(str(folder / JOURNAL))
    return optuna.storages.JournalStorage(backend)


def check_workers(workers: int) -> None:
    if workers < 1:
        raise InvalidInputError(f"--workers {workers} is not a number of processes: use 1 or more.")


def shared_tuning(
    workspace: Workspace, run_id: str, spec: Mapping[str, object], workers: int, seed: int
) -> SharedTuning:
    """Tuning for ``run_id`` in ``workers`` processes: this one and ``workers - 1`` helpers."""
    import optuna

    def create(plan: Mapping[str, object]) -> optuna.Study:
        study = optuna.create_study(
            storage=open_storage(workspace, run_id),
            study_name=study_name(run_id),
            direction="maximize",
            sampler=tpe_sampler(seed, shared=True),
            pruner=median_pruner(),
        )
        study.set_user_attr(SPEC, dict(spec))
        study.set_user_attr(PLAN, dict(plan))
        return study

    @contextmanager
    def helpers() -> Iterator[None]:
        started = start_helpers(workspace, run_id, workers - 1)
        try:
            yield
        except BaseException:  # the run stops early: its helpers stop with it
            for process in started:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            raise
        finally:
            deadline = time.monotonic() + HELPER_GRACE_S
            for process in started:
                try:
                    process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    return SharedTuning(create=create, helpers=helpers)


def start_helpers(workspace: Workspace, run_id: str, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` ``harvest tune-worker RUN`` processes on this machine, logging to the run's folder."""
    folder = runs_folder(workspace) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HARVEST_HOME": str(workspace.home),
        "HARVEST_CATALOG": workspace.catalog_uri,
        "HARVEST_DATA_PATH": workspace.data_path,
    }
    command = [sys.executable, "-m", "harvest", "--home", str(workspace.home)]
    started = []
    for number in range(1, count + 1):
        with (folder / f"worker-{number}.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [*command, "tune-worker", run_id, "--quiet"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
    return started


def load_study(workspace: Workspace, run_id: str, seed: int | None = None) -> optuna.Study:
    """The shared study of ``run_id``, for a worker to join (a sampler of its own)."""
    import optuna

    if catalog_dsn(workspace) is None and not (runs_folder(workspace) / run_id / JOURNAL).exists():
        raise NotFoundError(_no_search(workspace, run_id))
    try:
        return optuna.load_study(
            study_name=study_name(run_id),
            storage=open_storage(workspace, run_id),
            sampler=tpe_sampler(seed, shared=True),
            pruner=median_pruner(),
        )
    except KeyError as error:
        raise NotFoundError(_no_search(workspace, run_id)) from error


def _no_search(workspace: Workspace, run_id: str) -> str:
    where = "the catalog's PostgreSQL" if catalog_dsn(workspace) else f"{workspace.home}"
    return (
        f"There is no search of run {run_id!r} to join in {where}: "
        "start one with `harvest train --workers N` and give its run id."
    )
