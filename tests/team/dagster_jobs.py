"""A job for the team instance's tests: each run waits until another run has started too.

``HARVEST_TEST_BARRIER`` names a folder; a run writes its id there and waits (up to a
minute) for a second id, so a run only succeeds when two runs were going at once.
"""

import os
import time
from pathlib import Path

import dagster as dg


@dg.op
def meet_another_run(context: dg.OpExecutionContext) -> int:
    barrier = Path(os.environ["HARVEST_TEST_BARRIER"])
    (barrier / context.run_id).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("no other run started within a minute")
        time.sleep(0.2)
    return len(list(barrier.iterdir()))


@dg.job
def meeting_job() -> None:
    meet_another_run()


@dg.op
def first_half(context: dg.OpExecutionContext) -> int:
    return meet_another_step(context, "first")


@dg.op
def second_half(context: dg.OpExecutionContext) -> int:
    return meet_another_step(context, "second")


def meet_another_step(context: dg.OpExecutionContext, name: str) -> int:
    """Record this step's process and wait for the other step: both run at once, or neither ends."""
    barrier = Path(os.environ["HARVEST_TEST_BARRIER"])
    (barrier / name).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{context.op.name}: the other step did not start within a minute")
        time.sleep(0.2)
    return os.getpid()


defs = dg.Definitions(jobs=[meeting_job])


def celery_halves_job() -> dg.JobDefinition:
    """Two steps that meet, on the executor the environment chooses (Celery in the test)."""
    from dagster_project.workers import executor_for

    @dg.job(executor_def=executor_for(os.environ))
    def celery_halves() -> None:
        first_half()
        second_half()

    return celery_halves
