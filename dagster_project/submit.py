"""Training runs that others launch (the dashboard): through the Dagster daemon when it runs.

:func:`launch_training` looks at the workspace's Dagster instance (``DAGSTER_HOME`` inside
``HARVEST_HOME``): when its run queue daemon has sent a heartbeat lately (``harvest
dagster`` or ``dagster-daemon run`` is up), the spec is queued there as a run of
``training_job`` and the daemon launches it, so it shows in the Dagster UI with its logs
and metadata. Otherwise ``harvest train`` starts in a background process of its own
(:func:`training.runs.launch`). Either way the run writes the same progress file, keyed
by the training run id (:func:`training.runs.read_progress`); :func:`follow_queued` reads a
queued run that Dagster failed or cancelled before training started as ``failed``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

from dagster import DagsterInstance, DagsterRunStatus, QueuedRunCoordinator, RunsFilter
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from dagster_project.training import TRAINING_JOB, training_run_config
from harvest.errors import HarvestError
from harvest.workspace import Workspace
from training.runs import ProgressFile, RunHandle, RunProgress, launch, new_run_id
from training.spec import TrainingSpec

# The code location ``harvest dagster`` serves (``dagster dev -m dagster_project.definitions``);
# the daemon finds a queued run's code by this name.
CODE_LOCATION = "dagster_project.definitions"
REPOSITORY = "__repository__"  # the repository Dagster makes of a module's ``Definitions``
TRAINING_RUN_TAG = "harvest/training_run"
# The daemon writes a heartbeat every 30 s; one older than this means it is not running.
HEARTBEAT_FRESH_S = 60.0
STOPPED = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING)


def has_instance(workspace: Workspace) -> bool:
    """Whether ``harvest dagster`` (or anything else) ever set up this workspace's instance."""
    return (workspace.dagster_home / "dagster.yaml").is_file()


def open_existing_instance(workspace: Workspace) -> DagsterInstance:
    return DagsterInstance.from_config(str(workspace.dagster_home))


def daemon_running(instance: DagsterInstance, now: float | None = None) -> bool:
    """Whether a daemon dequeues ``instance``'s runs: a queued run coordinator and a fresh heartbeat."""
    if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
        return False
    heartbeat = instance.get_daemon_heartbeats().get(QueuedRunCoordinatorDaemon.daemon_type())
    if heartbeat is None:
        return False
    return (now if now is not None else time.time()) - heartbeat.timestamp <= HEARTBEAT_FRESH_S


def launch_training(spec: TrainingSpec, workspace: Workspace) -> RunHandle:
    """Queue ``spec`` in Dagster when its daemon runs, else start it in a process of its own."""
    if has_instance(workspace):
        with open_existing_instance(workspace) as instance:
            if daemon_running(instance):
                return submit_training(spec, workspace, instance)
    return launch(spec, workspace)


def submit_training(
    spec: TrainingSpec, workspace: Workspace, instance: DagsterInstance
) -> RunHandle:
    """Queue a ``training_job`` run for ``spec`` on ``instance``; the daemon launches it."""
    run_id = new_run_id(spec.name)
    progress = ProgressFile.queued(
        workspace, run_id, spec, "queued in Dagster; waiting for its daemon to start the run"
    )
    try:
        dagster_run_id = queue_run(spec, run_id, workspace, instance)
    except Exception as error:
        progress.failed(f"Dagster did not take the run: {error}")
        raise HarvestError(
            f"Dagster did not take the training run ({type(error).__name__}: {error}); "
            "stop the Dagster daemon to train in a process of its own, or fix its code location."
        ) from error
    return RunHandle(run_id, 0, progress.folder, dagster_run_id=dagster_run_id)


def queue_run(
    spec: TrainingSpec, run_id: str, workspace: Workspace, instance: DagsterInstance
) -> str:
    """Create the ``training_job`` run for ``spec`` and put it in ``instance``'s queue."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION),
        location_name=CODE_LOCATION,
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as context:
        location = context.create_request_context().get_code_location(CODE_LOCATION)
        repository = location.get_repository(REPOSITORY)
        remote_job = repository.get_full_job(TRAINING_JOB)
        run_config = training_run_config(spec, run_id, workspace)
        plan = location.get_execution_plan(
            remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
        ).execution_plan_snapshot
        run = instance.create_run(
            job_name=TRAINING_JOB,
            run_id=None,
            run_config=run_config,
            status=None,
            tags={**remote_job.tags, TRAINING_RUN_TAG: run_id, "harvest/model": spec.name},
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            execution_plan_snapshot=plan,
            job_snapshot=remote_job.job_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            asset_selection=None,
            asset_check_selection=None,
            resolved_op_selection=None,
            op_selection=None,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_graph=repository.asset_graph,
        )
        instance.submit_run(run.run_id, context.create_request_context())
    return run.run_id


def follow_queued(workspace: Workspace, progress: RunProgress) -> RunProgress:
    """``progress`` of a queued run, read as ``failed`` when Dagster ended the run before training."""
    if progress.status != "queued" or not has_instance(workspace):
        return progress
    with open_existing_instance(workspace) as instance:
        runs = instance.get_runs(RunsFilter(tags={TRAINING_RUN_TAG: progress.run_id}), limit=1)
    if not runs or runs[0].status not in STOPPED:
        return progress
    return replace(
        progress,
        status="failed",
        message=(
            f"Dagster run {runs[0].run_id} ended ({runs[0].status.value.lower()}) before training "
            "started; its logs in the Dagster UI say why."
        ),
    )
