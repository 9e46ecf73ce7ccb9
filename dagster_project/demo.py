"""The demo: the whole graph through Dagster on the bundled demo site, on two days.

Starts the demo site on a free loopback port, builds the definitions of the workspace
with the scraper pointed at it, runs the pipeline job on the workspace's Dagster instance
(so ``harvest dagster`` shows the runs afterwards), moves the site one day on and runs it
again: the second run makes new versions only where the site changed, and retrains only
the models whose data changed. After the first day the demo subscribes a folder (the delta
of each new version) and a loopback webhook to the products, and after each day it delivers
what is pending, as ``harvest deliver`` does. ``harvest demo`` prints what this returns,
with the drift of each dataset's last version from the one before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dagster import DagsterInstance

from catalog import Catalog, Dataset
from catalog.access import ADMIN
from catalog.drift import DEFAULT_THRESHOLD, version_drift
from catalog.subscriptions import Delivery, Subscription, Subscriptions
from core.workspace import Workspace
from dagster_project.definitions import build_definitions
from dagster_project.instance import open_instance
from dagster_project.resources import ModelRegistryResource, ScraperResource
from dagster_project.runner import Progress, RunOutcome, run_pipeline
from dagster_project.scraping import sources_of
from delivery.receiver import Receiver, receiving
from delivery.run import deliver_pending, subscribe
from demo_site.server import DemoSite
from training.registry import ModelVersion, Registry

DAYS = (1, 2)
SUBSCRIBED = "clean.products"  # what the demo's subscriptions deliver


@dataclass(frozen=True)
class DemoSettings:
    """How much the demo does: page caps and a cap on each model's search time."""

    browser_pages: int = 40  # pages per source that renders in chromium (the slow ones)
    max_pages: int | None = None  # pages per source for every source (None: the spec's own)
    time_budget: float = 6.0  # seconds of search per model (the bundled specs ask for more)
    days: tuple[int, ...] = DAYS


@dataclass(frozen=True)
class DayRun:
    day: int
    outcome: RunOutcome


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the runs, the datasets and the models of the workspace."""

    workspace: Workspace
    runs: tuple[DayRun, ...]
    datasets: tuple[Dataset, ...]
    models: tuple[ModelVersion, ...]
    diffs: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    drifts: dict[str, str] = field(default_factory=dict)  # clean dataset -> one sentence
    deliveries: tuple[Delivery, ...] = ()
    webhook_events: int = 0  # events the loopback receiver verified

    @property
    def success(self) -> bool:
        return all(run.outcome.success for run in self.runs)


def page_caps(workspace: Workspace, settings: DemoSettings) -> dict[str, int]:
    """Per-source page caps: every source at ``max_pages``, browser sources at most ``browser_pages``."""
    caps: dict[str, int] = {}
    for source in sources_of(workspace):
        spec = source.spec
        limits = [n for n in (settings.max_pages,) if n]
        if spec.uses_browser:
            limits.append(settings.browser_pages)
        if limits:
            caps[spec.name] = min(limits)
    return caps


@contextmanager
def demo_site_env(site: DemoSite) -> Iterator[None]:
    """``$HARVEST_DEMO_URL`` pointing at the running site, for specs whose base is ``{demo}``
    (crawl children inherit it); other sources keep their own URLs."""
    previous = os.environ.get("HARVEST_DEMO_URL")
    os.environ["HARVEST_DEMO_URL"] = site.url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HARVEST_DEMO_URL", None)
        else:
            os.environ["HARVEST_DEMO_URL"] = previous


def run_demo(
    workspace: Workspace,
    settings: DemoSettings = DemoSettings(),
    report: Callable[[str, Progress | None], None] = lambda _message, _progress: None,
    instance: DagsterInstance | None = None,
) -> DemoResult:
    """Run the pipeline once per day in ``settings.days``; ``report`` hears the progress."""
    workspace = workspace.ensure()
    home = str(workspace.home)
    instance = instance or open_instance(workspace)
    runs: list[DayRun] = []
    deliveries: list[Delivery] = []
    with DemoSite(day=settings.days[0]) as site, demo_site_env(site), receiving() as hook:
        report(f"Demo site on {site.url}", None)
        defs = build_definitions(
            workspace,
            {
                "scraper": ScraperResource(home=home, max_pages=page_caps(workspace, settings)),
                "registry": ModelRegistryResource(home=home, time_budget=settings.time_budget),
            },
        )
        for day in settings.days:
            site.set_day(day)
            report(f"Day {day}: running the whole graph through Dagster", None)
            outcome = run_pipeline(
                defs,
                instance,
                tags={"harvest/demo_day": str(day), "harvest/site": site.url},
                report=lambda progress: report("", progress),
            )
            runs.append(DayRun(day, outcome))
            if outcome.success:
                deliveries += deliver_day(workspace, hook, report)
    return summarise(workspace, tuple(runs), tuple(deliveries), len(hook.events))


def deliver_day(
    workspace: Workspace, hook: Receiver, report: Callable[[str, Progress | None], None]
) -> list[Delivery]:
    """Subscribe the demo's folder and webhook to the products once they exist, then deliver
    what is pending; the deliveries made."""
    with Catalog.open(workspace) as catalog:
        if catalog.find(SUBSCRIBED) is None:
            return []
        names = {"products-to-folder", "products-webhook"}
        if not names & {s.name for s in Subscriptions(catalog).subscriptions()}:
            folder = workspace.home / "deliveries" / "products"
            subscribe(
                catalog,
                ADMIN,
                Subscription("products-to-folder", SUBSCRIBED, str(folder), mode="delta"),
            )
            made = subscribe(catalog, ADMIN, Subscription("products-webhook", SUBSCRIBED, hook.url))
            hook.key = made.signing_key or ""
            report(
                f"Subscribed {folder} (each version's delta) and {hook.url} to {SUBSCRIBED}", None
            )
        done = deliver_pending(catalog)
    for delivery in done:
        report(
            f"Delivered {delivery.ref} to {delivery.subscription}: {delivery.status}, "
            f"{delivery.rows} rows, {len(delivery.files)} files",
            None,
        )
    return done


def summarise(
    workspace: Workspace,
    runs: tuple[DayRun, ...],
    deliveries: tuple[Delivery, ...] = (),
    webhook_events: int = 0,
) -> DemoResult:
    """The datasets and models of the workspace after the runs, with each raw diff and each
    clean dataset's drift from its previous version."""
    with Catalog.open(workspace) as catalog:
        datasets = tuple(catalog.datasets())
        diffs, drifts = {}, {}
        for dataset in datasets:
            if dataset.version_count < 2:
                continue
            last = dataset.version_count
            before, after = f"{dataset.name}@{last - 1}", f"{dataset.name}@{last}"
            if dataset.stage == "raw":
                diff = catalog.diff(before, after)
                diffs[dataset.name] = (
                    diff.added.num_rows,
                    diff.removed.num_rows,
                    diff.changed.num_rows,
                )
            elif dataset.stage == "clean":
                drifts[dataset.name] = version_drift(catalog, before, after).summary(
                    DEFAULT_THRESHOLD
                )
        models = tuple(Registry(catalog).versions())
    return DemoResult(workspace, runs, datasets, models, diffs, drifts, deliveries, webhook_events)
