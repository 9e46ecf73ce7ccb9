"""Jobs: start a crawl or a training run through the one launcher the command line and the
dashboard use, and follow it. A job is visible to who started it and to the administrator."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

import jobs
from catalog.access import Principal
from catalog.records import DatasetRef
from core.errors import InvalidInputError, NotFoundError
from server.deps import PrincipalDep, ServicesDep
from server.problems import RESPONSES
from server.schemas import JobOut, JobStatusOut, ScrapeRequest
from server.visible import find_dataset
from training.spec import SpecFile

router = APIRouter(prefix="/v1", tags=["jobs"], responses=RESPONSES)


def _out(job: jobs.Job) -> JobOut:
    report = job.report()
    return JobOut(
        id=job.id,
        kind=job.kind,
        what=job.what,
        started_at=job.started_at,
        started_by=job.started_by,
        status=JobStatusOut(**asdict(job.status())),
        progress=report["progress"],
    )


def _starter(principal: Principal) -> str:
    """Who a job is recorded as started by: a user's name, or "" for the administrator (as
    from the command line), so no user, whatever their name, follows the administrator's jobs."""
    return "" if principal.admin else principal.user or ""


@router.post("/scrapes", response_model=JobOut, status_code=202, summary="Start a crawl")
def start_scrape(body: ScrapeRequest, s: ServicesDep, principal: PrincipalDep) -> JobOut:
    """Crawl a source in the background (needs the `write` scope)."""
    principal.require("write")
    try:
        job = jobs.scrape(s.workspace, body.source, started_by=_starter(principal))
    except NotFoundError:
        raise NotFoundError(f"There is no source '{body.source}'.") from None
    return _out(job)


@router.post("/train", response_model=JobOut, status_code=202, summary="Start a training run")
def start_training(body: SpecFile, s: ServicesDep, principal: PrincipalDep) -> JobOut:
    """Train a spec in the background (needs the `train` scope and read access to its dataset,
    named as stage.name or stage.name@N)."""
    principal.require("train")
    if body.image_root is not None:
        raise InvalidInputError(
            "image_root is not taken over the API: images come from the catalog."
        )
    if body.dataset:  # reinforcement learning in a Gymnasium environment reads no dataset
        try:
            name = DatasetRef.parse(body.dataset).qualified
        except InvalidInputError:
            name = body.dataset
        find_dataset(s, principal, name, read=True)
    return _out(jobs.train(s.workspace, body.build(), started_by=_starter(principal)))


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status and progress")
def job_status(
    s: ServicesDep, principal: PrincipalDep, job_id: Annotated[str, Path(max_length=200)]
) -> JobOut:
    try:
        job = jobs.get(s.workspace, job_id)
    except NotFoundError:
        job = None
    if job is None or not (
        principal.admin or (principal.user and job.started_by == principal.user)
    ):
        raise NotFoundError(f"There is no job '{job_id}'.")
    return _out(job)
