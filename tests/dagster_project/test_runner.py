"""Running the graph in-process with live progress, as ``harvest demo`` does."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from dagster import AssetKey, DagsterInstance

from core.workspace import Workspace
from dagster_project.definitions import build_definitions
from dagster_project.runner import Progress, run_pipeline


@pytest.mark.slow
def test_progress_reports_each_step_and_a_bad_spec_as_one_sentence(
    sources: Workspace, resources: dict[str, object], instance: DagsterInstance
) -> None:
    (sources.home / "training").mkdir()
    (sources.home / "training" / "nothing.yaml").write_text(
        "dataset: clean.storeinfo\ntarget: no_such_column\n", encoding="utf-8"
    )
    defs = build_definitions(sources, resources)  # type: ignore[arg-type]
    heard: list[Progress] = []
    selection = [
        AssetKey("raw_storeinfo"),
        AssetKey("clean_storeinfo"),
        AssetKey("storeinfo_no_such_column_model"),
    ]
    outcome = run_pipeline(
        defs, instance, selection=selection, tags={"harvest/test": "yes"}, report=heard.append
    )
    assert not outcome.success
    assert outcome.materialized == ("raw_storeinfo", "clean_storeinfo")
    assert outcome.failed_steps == ("storeinfo_no_such_column_model",)
    kinds = [(p.kind, p.step) for p in heard if p.kind != "log"]
    assert kinds[:4] == [
        ("start", "raw_storeinfo"),
        ("materialized", "raw_storeinfo"),
        ("start", "clean_storeinfo"),
        ("materialized", "clean_storeinfo"),
    ]
    (failure,) = [p for p in heard if p.kind == "failed"]
    assert "no_such_column" in failure.text and "Traceback" not in failure.text
    assert failure.text.startswith("storeinfo_no_such_column_model failed: Target column"), failure
    lines = [p.text for p in heard if p.kind == "materialized"]
    assert re.match(r"raw_storeinfo: raw\.storeinfo@1 \(\d+ rows\)$", lines[0]), lines
    assert re.match(r"clean_storeinfo: clean\.storeinfo@1 \(\d+ rows, score [\d.]+\)$", lines[1])
    run = instance.get_run_by_id(outcome.run_id)
    assert run is not None and run.tags["harvest/test"] == "yes"


NOTICES = """
import logging
from dagster_project.runner import without_skipped_check_notices
plan = logging.getLogger("dagster.some.module.of.the.plan")
with without_skipped_check_notices():
    plan.warning("Blocking asset check 'a' emitted no result in step 'b'; downstream ...")
    plan.warning("something else went wrong")
plan.warning("Blocking asset check 'a' emitted no result in step 'b'; after the run")
"""


def test_the_skipped_check_notice_is_kept_off_stderr_and_other_warnings_are_not() -> None:
    """Dagster logs it from its execution plan's logger; with no logging set up (as in the
    demo) Python's last resort would print it. Found without naming Dagster's private module."""
    done = subprocess.run(
        [sys.executable, "-c", NOTICES],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert "emitted no result in step 'b'; downstream" not in done.stderr
    assert "something else went wrong" in done.stderr and "after the run" in done.stderr
