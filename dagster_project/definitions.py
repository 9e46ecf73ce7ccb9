"""The Dagster code location: ``Definitions`` built from the specs of the workspace.

``dagster dev -m dagster_project.definitions`` (what ``harvest dagster`` runs) loads
``defs``; tests and ``harvest demo`` call :func:`build_definitions` for a given workspace.
Adding a source, cleaning or training YAML adds its assets; no Python changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    ConfigurableResource,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from catalog import cleaning as cleaning_specs
from dagster_project.cleaning import Cleaning, build_cleaning
from dagster_project.resources import CatalogResource, ModelRegistryResource, ScraperResource
from dagster_project.scraping import Source, build_scraping
from dagster_project.training import Model, build_training
from harvest.workspace import Workspace
from scrapers.sources import source_files
from scrapers.spec import load_spec
from training import spec as training_specs

PIPELINE_JOB = "harvest_job"


def default_resources(workspace: Workspace) -> dict[str, ConfigurableResource]:
    home = str(workspace.home)
    return {
        "catalog": CatalogResource(home=home),
        "scraper": ScraperResource(home=home),
        "registry": ModelRegistryResource(home=home),
    }


def spec_files(workspace: Workspace) -> list[Path]:
    """Training specs: ``HARVEST_HOME/training/*.yaml``, then the bundled ones not shadowed."""
    found: dict[str, Path] = {}
    for folder in (workspace.home / "training", training_specs.SPECS_DIR):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            found.setdefault(path.stem, path)
    return [found[name] for name in sorted(found)]


def find_cleaning(workspace: Workspace, source: str) -> Cleaning:
    """The cleaning of ``source``: its ``<source>.clean.yaml``, or a spec inferred at run time."""
    path = cleaning_specs.find_spec(workspace, source)
    return Cleaning(source, cleaning_specs.load_spec(path, source) if path else None)


def build_definitions(
    workspace: Workspace | None = None,
    resources: Mapping[str, ConfigurableResource] | None = None,
) -> Definitions:
    """Assets, checks, jobs, schedules, the automation sensor and resources for ``workspace``."""
    workspace = workspace or Workspace.at()
    # ``<source>.clean.yaml`` files beside the source specs are cleaning specs, not sources.
    files = [f for f in source_files(workspace) if "." not in f.name]
    sources = [Source(f, load_spec(f.path)) for f in files]
    scraping = build_scraping(sources)
    cleaning = build_cleaning([find_cleaning(workspace, s.name) for s in sources])
    training = build_training([Model(training_specs.load_spec(p)) for p in spec_files(workspace)])
    automation = AutomationConditionSensorDefinition(
        "harvest_automation_sensor",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="New raw versions start cleaning; new clean versions start training.",
    )
    return Definitions(
        assets=[*scraping.assets, *cleaning, *training],
        jobs=[define_asset_job(PIPELINE_JOB, AssetSelection.all())],
        schedules=scraping.schedules,
        sensors=[automation],
        resources={**default_resources(workspace), **(resources or {})},
        executor=in_process_executor,
    )


defs = build_definitions()
