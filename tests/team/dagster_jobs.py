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


defs = dg.Definitions(jobs=[meeting_job])
