"""Training runs submitted to a running Dagster deployment, through its public GraphQL API.

``harvest dagster`` records where its webserver listens (:func:`jobs.record_deployment`);
while it runs, :func:`jobs.train` calls :func:`submit_training` here, which queues a
``training_job`` run with :class:`dagster_graphql.DagsterGraphQLClient`: the daemon launches
it, so it shows in the Dagster UI with its logs and metadata. The run writes the same
progress file as a run in a process of its own, keyed by the training run id (the job's id).
:func:`run_status` is Dagster's word on a run, for a job whose training has not started.
"""

from __future__ import annotations

import shutil

import requests
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from core.errors import HarvestError
from core.workspace import Workspace
from dagster_project.training import TRAINING_JOB, training_run_config
from jobs import Deployment, Job, record_submitted
from training.runs import ProgressFile, new_run_id
from training.spec import TrainingSpec

# The code location ``harvest dagster`` serves (``dagster dev -m dagster_project.definitions``).
CODE_LOCATION = "dagster_project.definitions"
REPOSITORY = "__repository__"  # the repository Dagster makes of a module's ``Definitions``
TRAINING_RUN_TAG = "harvest/training_run"
TIMEOUT_S = 30


def client(deployment: Deployment) -> DagsterGraphQLClient:
    """Dagster's GraphQL client for ``deployment``."""
    return DagsterGraphQLClient(deployment.host, port_number=deployment.port, timeout=TIMEOUT_S)


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the webserver did not answer (rather than refused the request)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, requests.exceptions.ConnectionError):
            return True
        cause = cause.__cause__
    return False


def reason(error: DagsterGraphQLClientError) -> str:
    """Dagster's answer in one line: its error type, and its message when it gave one."""
    kind, *rest = [*error.args, ""][:2]
    detail = rest[0]
    if isinstance(detail, list):  # config errors: one entry per wrong key
        detail = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in detail
        )
    first = " ".join(f"{kind}: {detail}".split()) if detail else " ".join(str(kind).split())
    return first[:300]


def submit_training(spec: TrainingSpec, workspace: Workspace, deployment: Deployment) -> Job | None:
    """Queue a ``training_job`` run for ``spec`` in ``deployment``; None when it does not answer."""
    run_id = new_run_id(spec.name)
    progress = ProgressFile.queued(
        workspace, run_id, spec, "queued in Dagster; waiting for its daemon to start the run"
    )
    try:
        dagster_run_id = client(deployment).submit_job_execution(
            TRAINING_JOB,
            repository_location_name=CODE_LOCATION,
            repository_name=REPOSITORY,
            run_config=training_run_config(spec, run_id, workspace),
            tags={TRAINING_RUN_TAG: run_id, "harvest/model": spec.name},
        )
    except DagsterGraphQLClientError as error:
        if unreachable(error):  # still starting, or stopped without a word: train elsewhere
            shutil.rmtree(progress.folder, ignore_errors=True)
            return None
        progress.failed(f"Dagster did not take the run: {reason(error)}")
        raise HarvestError(
            f"Dagster at {deployment.url} did not take the training run ({reason(error)}); "
            "stop `harvest dagster` to train in a process of its own, or fix its code location."
        ) from error
    return record_submitted(workspace, "train", spec.name, run_id, dagster_run_id)


def run_status(deployment: Deployment, dagster_run_id: str) -> str | None:
    """The status of Dagster run ``dagster_run_id`` (``QUEUED``, ``SUCCESS``, ...); None unknown."""
    try:
        return client(deployment).get_run_status(dagster_run_id).value
    except DagsterGraphQLClientError:
        return None
