"""Dagster resources: typed handles on the packages, configured once per deployment.

Each resource names the workspace (``home``; empty means ``$HARVEST_HOME`` or
``~/.harvest``) and delegates to a plain package: the catalog, the scraper runner, the
model registry. Assets get them by parameter name and never open files themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from catalog import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace
from scrapers import crawl
from scrapers.sources import SourceFile
from training.spec import TrainingSpec
from training.train import TrainResult, train


class WorkspaceResource(ConfigurableResource):
    """Base of the Harvest resources: which workspace they work on."""

    home: str = ""

    @property
    def workspace(self) -> Workspace:
        return Workspace.at(self.home or None)


class CatalogResource(WorkspaceResource):
    """The workspace's dataset catalog, opened once per run."""

    _catalog: Catalog | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._catalog = Catalog.open(self.workspace)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:  # used outside a run (a test calling an asset directly)
            self._catalog = Catalog.open(self.workspace)
        return self._catalog


class ScraperResource(WorkspaceResource):
    """The crawl runner: crawls a source in a child process and commits ``raw.<source>``."""

    base_url: str = ""  # where relative start_urls resolve (the demo site); empty: the spec's own
    max_pages: dict[str, int] = Field(
        default_factory=dict
    )  # page caps per source name (demo runs, tests)
    timeout_s: float = 0.0  # stop a crawl after this long (0: no limit)

    def scrape(
        self, source: SourceFile, on_progress: Callable[[crawl.Progress], None] | None = None
    ) -> crawl.CrawlResult:
        """Crawl ``source`` and commit what it found (nothing if unchanged)."""
        return crawl.scrape(
            source.path,
            self.workspace,
            base_url=self.base_url or None,
            max_pages=self.max_pages.get(source.name),
            on_progress=on_progress,
            timeout_s=self.timeout_s or None,
        )


class ModelRegistryResource(WorkspaceResource):
    """Training and the model registry: search, evaluate, gate, register, promote."""

    time_budget: float = 0.0  # cap on each spec's time budget in seconds (0: the spec's own)

    def train(
        self,
        spec: TrainingSpec,
        catalog: Catalog,
        *,
        dataset: str | None = None,
        run_id: str | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> TrainResult:
        """Train ``spec`` on ``dataset`` (an exact version; default the spec's) and register it."""
        budget = min(spec.time_budget, self.time_budget) if self.time_budget else None
        return train(
            spec.with_overrides(dataset=dataset, time_budget=budget),
            catalog,
            run_id=run_id,
            echo=echo,
        )

    def ensure_workspace(self, home: str) -> None:
        """Refuse work asked for by another workspace than the one this deployment serves."""
        asked = Workspace.at(home).home
        if asked != self.workspace.home:
            raise InvalidInputError(
                f"This Dagster deployment serves the workspace {self.workspace.home}, not {asked}; "
                "start `harvest dagster` with --home set to the workspace that launches the run."
            )
