"""Scraping: one ``raw_<source>`` asset per source spec, and a schedule from its cron.

The asset runs the crawl runner of ``scrapers.crawl`` through :class:`ScraperResource`.
A crawl that finds the same content as the latest version materialises nothing, so the
chain downstream stops there; a failed crawl fails the asset and commits nothing.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
)

from core.workspace import Workspace
from dagster_project.common import (
    as_failure,
    data_version,
    is_news,
    observe_unchanged,
    tag_run,
)
from dagster_project.metadata import Metadata, numbers, version_metadata
from dagster_project.resources import CatalogResource, ScraperResource
from scrapers import crawl
from scrapers.runs import CrawlRun
from scrapers.sources import SourceFile, source_files
from scrapers.spec import SourceSpec, load_spec

GROUP = "scraping"
PROGRESS_EVERY_S = 5.0


@dataclass(frozen=True)
class Source:
    """A source spec as the definitions see it: its file and its validated spec."""

    file: SourceFile
    spec: SourceSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> AssetKey:
        return AssetKey(f"raw_{self.name}")


@dataclass(frozen=True)
class ScrapingDefs:
    assets: list[AssetsDefinition]
    schedules: list[ScheduleDefinition]


def sources_of(workspace: Workspace) -> list[Source]:
    """Every source spec of the workspace (the user's, then the bundled ones not shadowed)."""
    return [Source(f, load_spec(f.path)) for f in source_files(workspace)]


def crawl_metadata(run: CrawlRun) -> Metadata:
    """What the crawl did: run id, outcome, counts and errors by reason."""
    reasons = "\n".join(f"- {reason}: {n}" for reason, n in sorted(run.errors_by_reason.items()))
    return {
        "scrape_run": run.run_id,
        "crawl_status": run.status,
        **numbers(
            {
                "pages": run.pages,
                "items": run.items,
                "errors": run.errors,
                "retries": run.retries,
                "crawl_seconds": round(run.duration_s, 2),
            }
        ),
        "errors_by_reason": MetadataValue.md(reasons or "_(no errors)_"),
    }


def raw_asset(source: Source) -> AssetsDefinition:
    """The ``raw_<source>`` asset: crawl, commit, report what changed."""
    spec = source.spec
    description = (
        f"{spec.title or spec.name}: {spec.description}\n\n"
        f"Crawled from {', '.join(spec.start_urls)} ({spec.render}); committed as raw.{spec.name}."
    )

    @asset(
        key=source.key,
        group_name=GROUP,
        description=description,
        kinds={"scrapy"},
        tags={"harvest/stage": "raw"},
        output_required=False,
    )
    def _raw(
        context: AssetExecutionContext, scraper: ScraperResource, catalog: CatalogResource
    ) -> Iterator[MaterializeResult]:
        with as_failure():
            result = scraper.scrape(source.file, on_progress=_progress_logger(context, source.name))
        run = result.run
        tag_run(context, {f"scrape_{source.name}": run.run_id})
        if run.status == "failed":
            raise Failure(
                description=f"The crawl of {source.name} failed, so nothing was committed: {run.message}.",
                metadata=crawl_metadata(run),
            )
        metadata = crawl_metadata(run)
        if not is_news(context, result.version):
            observe_unchanged(
                context, run.message or f"raw.{source.name}: nothing new from this crawl", metadata
            )
            return
        assert result.version is not None
        yield MaterializeResult(
            metadata={**version_metadata(catalog.catalog, result.version), **metadata},
            data_version=data_version(result.version),
        )

    return _raw


def _progress_logger(context: AssetExecutionContext, name: str) -> Callable[[crawl.Progress], None]:
    last = [0.0]

    def log(progress: crawl.Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            context.log.info(
                f"scraping {name}: {progress.pages} pages, {progress.items} records, "
                f"{progress.errors} errors after {progress.elapsed_s:.0f}s"
            )

    return log


def build_scraping(sources: Sequence[Source], schedules_running: bool = False) -> ScrapingDefs:
    """The assets, and a schedule for each source that has a ``schedule``."""
    assets = [raw_asset(source) for source in sources]
    status = DefaultScheduleStatus.RUNNING if schedules_running else DefaultScheduleStatus.STOPPED
    schedules = [
        ScheduleDefinition(
            name=f"scrape_{source.name}_schedule",
            target=AssetSelection.assets(source.key),
            cron_schedule=source.spec.schedule,
            default_status=status,
            description=f"Scrape {source.name} on its cron ({source.spec.schedule}).",
        )
        for source in sources
        if source.spec.schedule
    ]
    return ScrapingDefs(assets=assets, schedules=schedules)
