"""Dagster's Celery executor on the team's Redis: a run's steps go to Celery workers, on this
machine or any other with the team's settings (``dagster-celery``).

``HARVEST_DAGSTER_EXECUTOR=celery`` (with ``HARVEST_REDIS_URL``) makes the Definitions'
executor ``celery_executor`` with Redis as broker and result backend; the default stays the
in-process executor. ``harvest dagster-worker`` starts one worker; the workers open the
run's instance from the run itself, so with Dagster's storage on PostgreSQL
(``dagster_project/instance.py``) every machine records into the same runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dagster import ExecutorDefinition, in_process_executor

from core.errors import InvalidInputError
from core.workspace import Workspace

EXECUTOR_SETTING = "HARVEST_DAGSTER_EXECUTOR"
EXECUTORS = ("in_process", "celery")
CONFIG_MODULE = "dagster_celery_config"  # what dagster_celery.app reads its settings from
QUEUE = "dagster"


def executor_for(environ: Mapping[str, str]) -> ExecutorDefinition:
    """The executor ``environ``'s settings choose: in-process, or Celery on the team's Redis."""
    choice = environ.get(EXECUTOR_SETTING) or "in_process"
    if choice not in EXECUTORS:
        raise InvalidInputError(
            f"{EXECUTOR_SETTING}={choice} is not an executor: use {' or '.join(EXECUTORS)}."
        )
    if choice == "in_process":
        return in_process_executor
    redis = _redis_url(environ)
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": redis, "backend": redis}, name="harvest_celery")


def _redis_url(environ: Mapping[str, str]) -> str:
    redis = environ.get("HARVEST_REDIS_URL")
    if not redis:
        raise InvalidInputError(
            f"{EXECUTOR_SETTING}=celery needs HARVEST_REDIS_URL (`harvest services env` prints it)."
        )
    return redis


def write_worker_config(folder: Path, environ: Mapping[str, str]) -> Path:
    """Write the Celery settings module a worker imports: Redis as broker and backend, and one
    step reserved at a time (acknowledged when done), so an idle worker takes the next step
    instead of a busy one holding it."""
    redis = _redis_url(environ)
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "broker_url": redis,
        "result_backend": redis,
        "worker_prefetch_multiplier": 1,
        "task_acks_late": True,
    }
    lines = [f"{name} = {value!r}" for name, value in settings.items()]
    (folder / f"{CONFIG_MODULE}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def worker_command(name: str) -> list[str]:
    """One Celery worker on the Dagster queue, one step at a time."""
    return [
        sys.executable,
        *("-m", "celery", "-A", "dagster_celery.app", "worker"),
        *("--prefetch-multiplier=1", "--concurrency=1", "-O", "fair"),
        *("-Q", QUEUE, "-n", f"{name}@%h"),
        "--loglevel=INFO",
    ]


def worker_env(workspace: Workspace, config: Path, dagster_home: Path) -> dict[str, str]:
    """A worker's environment: the settings module and this workspace on its path."""
    path = os.pathsep.join([str(config), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "HARVEST_HOME": str(workspace.home),
        "HARVEST_CATALOG": workspace.catalog_uri,
        "HARVEST_DATA_PATH": workspace.data_path,
        "DAGSTER_HOME": str(dagster_home),
        EXECUTOR_SETTING: "celery",
    }
