"""Running the pipeline job in this process on a persistent instance, with live progress.

``harvest demo``, the benchmark and the tests run the whole graph here; the runs land in
the workspace's Dagster instance, so ``harvest dagster`` shows them afterwards. While the
run executes, a watcher thread reads its event log and reports each step as it starts,
materialises, finds nothing new, fails a check or fails.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EventLogEntry,
)

from dagster_project.definitions import PIPELINE_JOB

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Progress:
    """One thing a run did: ``kind`` is start, materialized, unchanged, check, failed or log."""

    kind: str
    step: str
    text: str


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    materialized: tuple[str, ...]
    failed_steps: tuple[str, ...]
    skipped_steps: tuple[str, ...]


def describe(entry: EventLogEntry) -> Progress | None:
    """The progress line of one event log entry (None for the ones people need not see)."""
    step = entry.step_key or ""
    event = entry.dagster_event
    if event is None:
        return Progress("log", step, entry.user_message) if entry.user_message else None
    kind = event.event_type
    if kind == DagsterEventType.STEP_START:
        return Progress("start", step, f"{step} started")
    if kind == DagsterEventType.ASSET_MATERIALIZATION:
        materialization = event.step_materialization_data.materialization
        metadata = materialization.metadata
        what = metadata.get("model") or metadata.get("dataset")
        rows = metadata.get("dagster/row_count")
        score = metadata.get("quality_score") or metadata.get("score")
        value = score.value if score else None
        detail = ", ".join(
            part
            for part in (
                f"{rows.value} rows" if rows else "",
                f"score {value:.4g}" if isinstance(value, int | float) else "",
            )
            if part
        )
        return Progress(
            "materialized",
            step,
            f"{materialization.asset_key.to_user_string()}: {what.value if what else 'done'}"
            + (f" ({detail})" if detail else ""),
        )
    if kind == DagsterEventType.ASSET_OBSERVATION:
        observation = event.asset_observation_data.asset_observation
        return Progress("unchanged", step, observation.description or "nothing new")
    if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        check = event.asset_check_evaluation_data
        if check.passed:
            return None
        return Progress(
            "check",
            step,
            f"check {check.asset_key.to_user_string()}.{check.check_name} "
            f"failed ({check.severity.value.lower()}): {check.description or ''}".rstrip(": "),
        )
    if kind == DagsterEventType.STEP_FAILURE:
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause  # the user's exception, not Dagster's wrapper
        message = error.message.strip().splitlines()[0] if error else "failed"
        if error is not None and error.cls_name and error.cls_name in message.split(": ", 1)[0]:
            message = message.split(": ", 1)[-1]
        return Progress("failed", step, f"{step} failed: {message}")
    return None


def watch(
    instance: DagsterInstance,
    run_id: str,
    report: Callable[[Progress], None],
    done: threading.Event,
) -> None:
    """Report the run's events until ``done`` is set and the log is drained."""
    cursor: str | None = None
    while True:
        finished = done.is_set()
        connection = instance.get_records_for_run(run_id, cursor=cursor)
        cursor = connection.cursor
        for record in connection.records:
            line = describe(record.event_log_entry)
            if line is not None:
                report(line)
        if finished and not connection.has_more:
            return
        done.wait(WATCH_INTERVAL_S)


def _skipped_check_notice(record: logging.LogRecord) -> bool:
    """Drop Dagster's notice that a blocking check "emitted no result".

    Every check of this project reports whenever its asset's step runs, so the notice only
    comes for a step skipped on purpose (an unchanged scrape ends the chain), where it
    reads like a fault on the demo's stderr.
    """
    return "emitted no result in step" not in record.getMessage()


@contextmanager
def without_skipped_check_notices() -> Iterator[None]:
    """Keep :func:`_skipped_check_notice` off the handlers that would print Dagster's log
    records (the root's, Dagster's own, or Python's last resort) while the block runs."""
    handlers = {*logging.getLogger().handlers, *logging.getLogger("dagster").handlers}
    if logging.lastResort is not None:
        handlers.add(logging.lastResort)
    for handler in handlers:
        handler.addFilter(_skipped_check_notice)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(_skipped_check_notice)


def run_pipeline(
    defs: Definitions,
    instance: DagsterInstance,
    *,
    selection: Sequence[AssetKey] | None = None,
    tags: Mapping[str, str] | None = None,
    report: Callable[[Progress], None] | None = None,
) -> RunOutcome:
    """Materialise ``selection`` (default: everything) in one run recorded on ``instance``."""
    job = defs.resolve_job_def(PIPELINE_JOB)
    run_id = str(uuid.uuid4())  # Dagster's run ids are UUIDs
    done = threading.Event()
    watcher = (
        threading.Thread(target=watch, args=(instance, run_id, report, done), daemon=True)
        if report
        else None
    )
    if watcher:
        watcher.start()
    try:
        with without_skipped_check_notices():
            result = job.execute_in_process(
                run_config=QUIET,
                instance=instance,
                run_id=run_id,
                asset_selection=list(selection) if selection else None,
                tags=dict(tags or {}),
                raise_on_error=False,
            )
    finally:
        done.set()
        if watcher:
            watcher.join(timeout=30)
    return RunOutcome(
        run_id=run_id,
        success=result.success,
        materialized=tuple(
            e.materialization.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()
        ),
        failed_steps=tuple(e.step_key or "" for e in result.all_events if e.is_step_failure),
        skipped_steps=tuple(e.step_key or "" for e in result.all_events if e.is_step_skipped),
    )
