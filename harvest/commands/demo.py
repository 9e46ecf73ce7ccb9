"""``harvest demo``: the whole pipeline through Dagster on the bundled demo site, twice."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import HarvestError
from core.workspace import Workspace
from harvest import output

if TYPE_CHECKING:  # Dagster is imported when the demo runs, not for every command
    from dagster_project.demo import DemoResult
    from dagster_project.runner import Progress
    from training.registry import ModelVersion

MARKS = {
    "start": "▶",
    "materialized": "✓",
    "unchanged": "=",
    "check": "!",
    "failed": "✗",
    "log": " ",
}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    ctx: typer.Context,
    time_budget: Annotated[
        float, typer.Option("--time-budget", min=1, help="Seconds of model search per model.")
    ] = 6.0,
    browser_pages: Annotated[
        int,
        typer.Option("--browser-pages", min=1, help="Page cap of sources rendered in chromium."),
    ] = 40,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", min=1, help="Page cap of every source.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show every search trial as it finishes.")
    ] = False,
) -> None:
    """Scrape, clean, check, train and promote on the demo site through Dagster, on two days."""
    from dagster_project.demo import DemoSettings, run_demo

    workspace: Workspace = ctx.obj
    settings = DemoSettings(
        browser_pages=browser_pages, max_pages=max_pages, time_budget=time_budget
    )
    output.console.print(
        f"Harvest demo in {workspace.home} (Dagster runs in {workspace.dagster_home})",
        markup=False,
    )
    started = time.monotonic()

    def show(message: str, progress: Progress | None) -> None:
        clock = f"[{time.monotonic() - started:5.0f}s]"
        if progress is None:
            output.console.print(f"{clock} {message}", markup=False, style="bold")
        elif verbose or not progress.text.lstrip().startswith("trial"):
            style = {"failed": "red", "check": "yellow", "log": "dim"}.get(progress.kind)
            line = f"{clock}   {MARKS[progress.kind]} {progress.text}"
            output.console.print(line, markup=False, style=style)

    result = run_demo(workspace, settings, show)
    if result.success:
        show("Serving the champion over HTTP and calling it once", None)
        output.console.print(f"  {call_champion(workspace, result.models)}", markup=False)
    print_summary(result, time.monotonic() - started)
    if not result.success:
        raise typer.Exit(1)


def call_champion(workspace: Workspace, models: Sequence[ModelVersion]) -> str:
    """Serve the first champion with the scoring server on loopback, send it one record of
    the data it was trained on as MLflow's ``dataframe_records``, and say what came back."""
    import httpx

    from catalog import Catalog
    from server.scoring import create_app, running
    from training.serving import ServedModel

    champions = [m for m in models if "champion" in m.aliases]
    tabular = [m for m in champions if m.task in ("regression", "classification")]
    if not champions:
        return "No model was promoted, so there is no champion to serve."
    champion = (tabular or champions)[0]
    with Catalog.open(workspace) as catalog:
        served = ServedModel(catalog, champion.model)
        row = catalog.read(champion.dataset, limit=1).to_pylist()[0]
        record = {name: row.get(name) for name in served.model.features}
        with running(create_app(served)) as url:
            answer = httpx.post(
                f"{url}/invocations", json={"dataframe_records": [record]}, timeout=60
            )
    if answer.status_code != 200:
        raise HarvestError(f"The scoring server answered {answer.status_code}: {answer.text}")
    body = answer.json()
    return (
        f"POST {url}/invocations → {body['model']} predicted {body['predictions'][0]!r} "
        f"(harvest models serve {champion.model} serves it until stopped)."
    )


def print_summary(result: DemoResult, seconds: float) -> None:
    """Datasets, versions and quality; models with metrics and gates; how to look closer."""
    output.table(
        ["dataset", "versions", "latest", "rows", "quality", "made by"],
        [
            (
                d.name,
                d.version_count,
                d.latest.ref if d.latest else "",
                d.latest.rows if d.latest else "",
                f"{d.latest.quality_score:.1f}"
                if d.latest and d.latest.quality_score is not None
                else "",
                d.latest.producer if d.latest else "",
            )
            for d in result.datasets
        ],
        title="Datasets",
    )
    for name, (added, removed, changed) in sorted(result.diffs.items()):
        output.console.print(
            f"{name}: the last version added {added}, removed {removed} and changed "
            f"{changed} values (harvest catalog diff {name}).",
            markup=False,
        )
    for name, sentence in sorted(result.drifts.items()):
        output.console.print(f"{name}: {sentence}", markup=False)
    if result.deliveries:
        output.table(
            ["subscription", "version", "status", "rows", "files", "target"],
            [
                (d.subscription, d.ref, d.status, d.rows, len(d.files), d.target)
                for d in result.deliveries
            ],
            title="Deliveries",
        )
        output.console.print(
            f"The loopback webhook verified {result.webhook_events} signed events "
            "(harvest deliveries list).",
            markup=False,
        )
    output.table(
        ["model", "family", "trained on", "metric", "score", "baseline", "gates", "alias"],
        [
            (
                m.ref,
                m.family,
                m.dataset,
                m.metric,
                f"{m.score:.4g}",
                f"{m.baseline:.4g}",
                "passed" if m.gates_passed else "refused",
                ", ".join(m.aliases) or "-",
            )
            for m in result.models
        ],
        title="Models",
    )
    for run in result.runs:
        outcome = run.outcome
        verdict = "succeeded" if outcome.success else f"failed at {', '.join(outcome.failed_steps)}"
        output.console.print(
            f"Day {run.day}: Dagster run {outcome.run_id} {verdict}; "
            f"{len(outcome.materialized)} assets materialised.",
            markup=False,
        )
    home = shlex.quote(str(result.workspace.home))
    output.console.print(f"Done in {seconds:.0f}s. Look closer:", markup=False, style="bold")
    output.console.print(f"  harvest --home {home} dashboard   # the storefront", markup=False)
    output.console.print(
        f"  harvest --home {home} dagster     # the Dagster UI: runs, assets, checks",
        markup=False,
    )
