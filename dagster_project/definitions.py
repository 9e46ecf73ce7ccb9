"""The Dagster code location: ``Definitions`` built from the specs of the workspace.

``dagster dev -m dagster_project.definitions`` (what ``harvest dagster`` runs) loads
``defs``; tests and ``harvest demo`` call :func:`build_definitions` for a given workspace.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from dagster_project.resources import CatalogResource
from harvest.workspace import Workspace


def build_definitions(workspace: Workspace | None = None) -> Definitions:
    """Assets, checks, schedules, sensors and resources for ``workspace``."""
    workspace = workspace or Workspace.at()
    home = str(workspace.home)
    return Definitions(
        resources={"catalog": CatalogResource(home=home)},
        executor=in_process_executor,
    )


defs = build_definitions()
