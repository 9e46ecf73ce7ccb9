"""The Dagster code location: ``Definitions`` built from the specs of the workspace.

``dagster dev -m dagster_project.definitions`` (what ``harvest dagster`` runs) loads
``defs``; tests and ``harvest demo`` call :func:`build_definitions` for a given workspace.
Adding a source, cleaning or training YAML adds its assets; no Python changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    ConfigurableResource,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
)

from core.workspace import Workspace
from dagster_project.cleaning import build_cleaning, cleanings_of
from dagster_project.delivery import build_delivery_sensor, delivery_job
from dagster_project.resources import CatalogResource, ModelRegistryResource, ScraperResource
from dagster_project.scraping import build_scraping, sources_of
from dagster_project.training import build_drift_checks, build_training, models_of, training_job
from dagster_project.workers import executor_for

PIPELINE_JOB = "harvest_job"


def default_resources(workspace: Workspace) -> dict[str, ConfigurableResource]:
    home = str(workspace.home)
    return {
        "catalog": CatalogResource(home=home),
        "scraper": ScraperResource(home=home),
        "registry": ModelRegistryResource(home=home),
    }


def build_definitions(
    workspace: Workspace | None = None,
    resources: Mapping[str, ConfigurableResource] | None = None,
) -> Definitions:
    """Assets, checks, jobs, schedules, the automation sensor and resources for ``workspace``."""
    workspace = workspace or Workspace.at()
    sources = sources_of(workspace)
    scraping = build_scraping(sources)
    cleaning = build_cleaning(cleanings_of(workspace, [source.name for source in sources]))
    models = models_of(workspace)
    training = build_training(models)
    datasets = [key for assets in (*scraping.assets, *cleaning) for key in assets.keys]
    automation = AutomationConditionSensorDefinition(
        "harvest_automation_sensor",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="New raw versions start cleaning; new clean versions start training.",
    )
    return Definitions(
        assets=[*scraping.assets, *cleaning, *training],
        asset_checks=build_drift_checks(models, datasets),
        jobs=[define_asset_job(PIPELINE_JOB, AssetSelection.all()), training_job, delivery_job],
        schedules=scraping.schedules,
        sensors=[automation, build_delivery_sensor(workspace)],
        resources={**default_resources(workspace), **(resources or {})},
        executor=executor_for(os.environ),
    )


defs = build_definitions()
