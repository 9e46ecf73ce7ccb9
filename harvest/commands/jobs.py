"""``harvest jobs start|list|show``: background work through the launcher (:mod:`jobs`)."""

from __future__ import annotations

from typing import Annotated

import typer

import jobs
from core.errors import InvalidInputError
from harvest import output
from harvest.output import JsonFlag

jobs_app = typer.Typer(
    help="Background jobs: crawls, training runs, any command.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``harvest jobs`` to ``app``."""
    app.add_typer(jobs_app, name="jobs")


@jobs_app.command(
    "start", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def start_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Run a harvest command in the background: ``harvest jobs start scrape tables``."""
    if not ctx.args:
        raise InvalidInputError("Give the command to run, e.g. `harvest jobs start scrape tables`.")
    command, *rest = ctx.args
    root = ctx.find_root()
    known: list[str] = sorted(getattr(root.command, "commands", {}))  # the harvest subcommands
    if command not in known or command == "jobs":
        raise InvalidInputError(
            f"{command!r} is not a harvest command to run in the background; "
            f"choose one of: {', '.join(c for c in known if c != 'jobs')}."
        )
    job = jobs.start(ctx.obj, command, " ".join(rest) or command, list(ctx.args))
    if as_json:
        output.emit_json(job.report())
        return
    output.console.print(
        f"Started job {job.id} (process {job.pid}); follow it with `harvest jobs show {job.id}`.",
        markup=False,
    )


@jobs_app.command("list")
def list_command(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option(help="Only jobs of this kind (scrape, train...).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the workspace's jobs, newest first."""
    found = jobs.list_jobs(ctx.obj, kind=kind)
    if as_json:
        output.emit_json([job.report() for job in found])
        return
    rows = []
    for job in found:
        status = job.status()
        code = "" if status.exit_code is None else str(status.exit_code)
        where = f"dagster {job.dagster_run_id}" if job.dagster_run_id else f"pid {job.pid}"
        rows.append(
            (
                job.id,
                job.kind,
                job.what,
                status.state,
                code,
                where,
                f"{job.started_at:%Y-%m-%d %H:%M:%S}",
            )
        )
    output.table(["job", "kind", "what", "state", "exit", "runs in", "started (UTC)"], rows)


@jobs_app.command("show")
def show_command(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id (see `harvest jobs list`).")],
    tail: Annotated[int, typer.Option(help="Lines of its log to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """One job: where it stands, its progress, the end of its log."""
    job = jobs.get(ctx.obj, job_id)
    described = {**job.report(), "logs": job.logs(tail=tail)}
    if as_json:
        output.emit_json(described)
        return
    status = job.status()
    output.console.print(
        f"{job.id}: {job.kind} {job.what}, {status.state}"
        + (f" (exit code {status.exit_code})" if status.exit_code is not None else "")
        + (f". {status.message}" if status.message else "."),
        markup=False,
    )
    progress = described["progress"]
    if progress and "trials" in progress:
        output.console.print(
            f"training: {progress['status']}, stage {progress['stage']}, {progress['trials']} trials",
            markup=False,
        )
    elif progress:
        output.console.print(
            f"crawl so far: {progress['pages']} pages, {progress['items']} records, "
            f"{progress['errors']} errors",
            markup=False,
        )
    if described["logs"]:
        output.console.print(described["logs"], markup=False, highlight=False)
