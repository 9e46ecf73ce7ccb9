"""Dagster resources: typed handles on the packages, configured once per deployment.

Each resource names the workspace (``home``; empty means ``$HARVEST_HOME`` or
``~/.harvest``) and delegates to a plain package: the catalog, the scraper runner, the
model registry. Assets get them by parameter name and never open files themselves.
"""

from __future__ import annotations

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from catalog import Catalog
from harvest.workspace import Workspace


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
