"""The executor the settings choose: in-process by default, Celery on the team's Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import in_process_executor

from core.errors import InvalidInputError
from dagster_project.workers import CONFIG_MODULE, executor_for, write_worker_config


def test_the_default_executor_is_in_process() -> None:
    assert executor_for({}) is in_process_executor
    assert executor_for({"HARVEST_DAGSTER_EXECUTOR": "in_process"}) is in_process_executor


def test_an_unknown_executor_is_one_sentence() -> None:
    with pytest.raises(InvalidInputError, match="HARVEST_DAGSTER_EXECUTOR=k8s is not an executor"):
        executor_for({"HARVEST_DAGSTER_EXECUTOR": "k8s"})


def test_celery_without_redis_is_one_sentence() -> None:
    with pytest.raises(InvalidInputError, match="needs HARVEST_REDIS_URL"):
        executor_for({"HARVEST_DAGSTER_EXECUTOR": "celery"})


def test_the_worker_settings_name_redis_and_reserve_one_step(tmp_path: Path) -> None:
    folder = write_worker_config(tmp_path, {"HARVEST_REDIS_URL": "redis://127.0.0.1:1/0"})
    settings: dict[str, object] = {}
    exec((folder / f"{CONFIG_MODULE}.py").read_text(), settings)
    assert settings["broker_url"] == settings["result_backend"] == "redis://127.0.0.1:1/0"
    assert settings["worker_prefetch_multiplier"] == 1 and settings["task_acks_late"] is True
