"""``harvest scrape`` and ``harvest sources``: crawl a source into ``raw.<source>``, list sources."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from catalog import Catalog
from core.errors import HarvestError, InvalidInputError
from core.workspace import Workspace
from harvest import output
from harvest.commands.access import (
    OwnerOption,
    VisibilityOption,
    access_json,
    apply_owner,
    check_owner,
    print_access,
)
from harvest.output import JsonFlag
from scrapers.landing import DROPPED
from scrapers.sources import SourceFile, find_source, source_files
from scrapers.spec import SourceSpec, load_spec

if TYPE_CHECKING:  # Scrapy is imported when a crawl runs, not for every command
    from scrapers import crawl

sources_app = typer.Typer(help="List and show source specs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``scrape`` and ``sources`` to ``app``."""
    app.command("scrape")(scrape)
    app.command("scrape-worker")(scrape_worker)
    app.add_typer(sources_app, name="sources")


def scrape(
    ctx: typer.Context,
    source: Annotated[str | None, typer.Argument(help="A bundled or user source name.")] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Scrape this spec file instead.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Resolve relative start_urls against this URL (overrides the spec's base_url).",
        ),
    ] = None,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", min=1, help="Fetch at most this many pages.")
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay", help="Re-parse pages from the HTTP cache without fetching anything."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Crawl with this many processes sharing a Redis frontier (HARVEST_REDIS_URL).",
        ),
    ] = 1,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared",
            help="Share the frontier in Redis even with one worker, so workers on other "
            "machines can join (harvest scrape-worker).",
        ),
    ] = False,
    owner: OwnerOption = None,
    visibility: VisibilityOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Crawl a source and commit what it found as a new raw.<source> version."""
    from scrapers import crawl

    workspace: Workspace = ctx.obj
    path = _spec_path(source, spec, workspace)
    spec_model = load_spec(path, base_url)
    redis_url = _frontier_url(workers, replay, shared)
    if owner is not None or visibility is not None:
        with Catalog.open(workspace) as catalog:
            check_owner(catalog, owner, visibility)
    limit = max_pages or spec_model.limits.max_pages
    if redis_url is not None:
        result = _shared(spec_model, path, workspace, base_url, max_pages, workers, redis_url)
    elif as_json:
        result = crawl.scrape(
            path, workspace, base_url=base_url, max_pages=max_pages, replay=replay
        )
    else:
        result = _with_progress(spec_model, path, workspace, base_url, max_pages, replay, limit)
    run = result.run
    access = None
    if run.status in ("committed", "unchanged") and (owner is not None or visibility is not None):
        with Catalog.open(workspace) as catalog:
            access = apply_owner(catalog, run.dataset, owner, visibility)
    if as_json:
        output.emit_json({**asdict(run), **({"access": access_json(access)} if access else {})})
    else:
        _summary(result)
        print_access(access)
    if run.status == "failed":
        raise HarvestError(
            f"The crawl of {run.source} failed and nothing was committed: {run.message}."
        )


def scrape_worker(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source the crawl is of.")],
    run: Annotated[str, typer.Option("--run", help="The run id harvest scrape --workers printed.")],
) -> None:
    """Join a running shared crawl as one more worker (on this machine or another)."""
    from scrapers.frontier import REDIS_ENV, redis_url
    from scrapers.shared import join_crawl

    workspace: Workspace = ctx.obj
    url = redis_url()
    if url is None:
        raise InvalidInputError(
            f"Joining a crawl needs its Redis frontier: set {REDIS_ENV} to the URL the "
            "crawl uses (harvest services env prints it)."
        )
    done = join_crawl(source, run, find_source(source, workspace).path, url, workspace)
    if done.failure is not None:
        raise HarvestError(f"The worker stopped before the crawl was done: {done.failure}.")
    output.console.print(
        f"[bold]{source}[/]: worker done, {done.pages} pages and {done.items} records landed; "
        "the crawl's coordinator commits them"
    )


def _frontier_url(workers: int, replay: bool, shared: bool) -> str | None:
    """The Redis URL a crawl with ``workers`` shares (None for one worker, not shared)."""
    from scrapers.frontier import REDIS_ENV, redis_url

    if workers == 1 and not shared:
        return None
    url = redis_url()
    if url is None:
        asked = "--shared" if workers == 1 else f"--workers {workers}"
        raise InvalidInputError(
            f"{asked} needs a Redis frontier to share: set {REDIS_ENV} "
            "(harvest services up starts one) or crawl with one worker."
        )
    if replay:
        raise InvalidInputError("--replay reads this machine's HTTP cache: use it with one worker.")
    return url


def _shared(
    spec: SourceSpec,
    path: Path,
    workspace: Workspace,
    base_url: str | None,
    max_pages: int | None,
    workers: int,
    redis_url: str,
) -> crawl.CrawlResult:
    from scrapers.shared import scrape_shared

    def started(run_id: str) -> None:
        typer.echo(
            f"crawl {run_id} of {spec.name} with {workers} workers; join from another machine "
            f"with: harvest scrape-worker {spec.name} --run {run_id}",
            err=True,
        )

    return scrape_shared(
        path,
        workspace,
        workers=workers,
        redis_url=redis_url,
        base_url=base_url,
        max_pages=max_pages,
        on_start=started,
    )


def _spec_path(source: str | None, spec: Path | None, workspace: Workspace) -> Path:
    if (source is None) == (spec is None):
        raise InvalidInputError(
            "Name a source (harvest sources list) or pass --spec FILE.yaml, not both."
        )
    return spec if spec is not None else find_source(source or "", workspace).path


def _with_progress(
    spec: SourceSpec,
    path: Path,
    workspace: Workspace,
    base_url: str | None,
    max_pages: int | None,
    replay: bool,
    limit: int,
) -> crawl.CrawlResult:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(
            "{task.completed:.0f}/{task.total:.0f} pages · {task.fields[items]} records · {task.fields[errors]} errors"
        ),
        TimeElapsedColumn(),
    )
    from scrapers import crawl

    with Progress(*columns, console=output.console, transient=True) as bar:
        task = bar.add_task(f"scraping {spec.name}", total=limit, items=0, errors=0)

        def show(progress: crawl.Progress) -> None:
            bar.update(task, completed=progress.pages, items=progress.items, errors=progress.errors)

        return crawl.scrape(
            path, workspace, base_url=base_url, max_pages=max_pages, replay=replay, on_progress=show
        )


def _summary(result: crawl.CrawlResult) -> None:
    run = result.run
    outcome = {
        "committed": f"new version {run.dataset}@{run.version}",
        "unchanged": f"no new version: the content equals {run.dataset}@{run.version}",
        "empty": "no new version: no records found",
        "failed": "nothing committed",
    }[run.status]
    output.console.print(
        f"[bold]{run.source}[/]: {run.pages} pages, {run.items} records, {run.errors} errors, "
        f"{run.retries} retries in {run.duration_s:.1f}s — {outcome}"
    )
    for reason, count in sorted(run.errors_by_reason.items(), key=lambda kv: -kv[1]):
        output.console.print(f"  {count} × {reason}", markup=False)
    if run.dropped:
        output.console.print(
            f"  dropped {sum(run.dropped.values())}: "
            + ", ".join(f"{n} {DROPPED.get(r, r)} ({r})" for r, n in sorted(run.dropped.items())),
            markup=False,
        )


# -- sources -------------------------------------------------------------------------


@sources_app.command("list")
def sources_list(
    ctx: typer.Context,
    as_json: JsonFlag = False,
) -> None:
    """List the bundled and user source specs."""
    workspace: Workspace = ctx.obj
    rows = [_describe(source) for source in source_files(workspace)]
    if as_json:
        output.emit_json(rows)
        return
    output.table(
        ["name", "title", "render", "schedule", "origin", "path"],
        [[r["name"], r["title"], r["render"], r["schedule"], r["origin"], r["path"]] for r in rows],
    )


@sources_app.command("show")
def sources_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one source spec, validated, with its start URLs resolved and its recent crawls."""
    workspace: Workspace = ctx.obj
    source = find_source(name, workspace)
    spec = load_spec(source.path)
    runs = _recent_runs(workspace, spec.name)
    if as_json:
        output.emit_json(
            {
                "origin": source.origin,
                "path": str(source.path),
                "spec": spec.model_dump(mode="json"),
                "crawls": [asdict(r) for r in runs],
            }
        )
        return
    output.console.print(f"[bold]{spec.name}[/] ({source.origin}, {source.path})")
    output.console.print(_spec_text(spec), markup=False)
    if runs:
        output.table(
            ["run", "status", "pages", "records", "errors", "seconds", "version"],
            [
                [r.run_id, r.status, r.pages, r.items, r.errors, f"{r.duration_s:.1f}", r.version]
                for r in runs
            ],
            title="recent crawls",
        )


def _describe(source: SourceFile) -> dict[str, Any]:
    try:
        spec = load_spec(source.path)
        return {
            "name": source.name,
            "title": spec.title,
            "render": _render(spec),
            "schedule": spec.schedule or "",
            "origin": source.origin,
            "path": str(source.path),
            "error": None,
        }
    except HarvestError as error:
        return {
            "name": source.name,
            "title": "",
            "render": "",
            "schedule": "",
            "origin": source.origin,
            "path": str(source.path),
            "error": str(error),
        }


def _render(spec: SourceSpec) -> str:
    kinds = {spec.render, *(rule.render for rule in spec.follow if rule.render)}
    return ", ".join(k for k in ("http", "browser") if k in kinds)


def _spec_text(spec: SourceSpec) -> str:
    import yaml

    data = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip()


def _recent_runs(workspace: Workspace, source: str) -> list[Any]:
    from scrapers.runs import last_runs

    if workspace.catalog_file is not None and not workspace.catalog_file.exists():
        return []
    with Catalog.open(workspace) as catalog:
        return last_runs(catalog, source, limit=10)
