"""The raw_<source> asset, called directly and through a run."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, MaterializeResult, build_asset_context, materialize

from catalog import Catalog
from core.workspace import Workspace
from dagster_project.definitions import build_definitions
from dagster_project.scraping import Source, raw_asset
from scrapers.sources import find_source
from scrapers.spec import load_spec


def storeinfo(workspace: Workspace) -> Source:
    file = find_source("storeinfo", workspace)
    return Source(file, load_spec(file.path))


@pytest.mark.slow
def test_raw_asset_called_directly_commits_a_version_and_describes_it(
    sources: Workspace, resources: dict[str, object], instance: DagsterInstance
) -> None:
    asset = raw_asset(storeinfo(sources))
    with build_asset_context(instance=instance, resources=resources) as context:
        (result,) = list(asset(context))
    assert isinstance(result, MaterializeResult)
    metadata = result.metadata or {}
    with Catalog.open(sources) as catalog:
        version = catalog.version("raw.storeinfo")
    assert metadata["dataset"] == version.ref == "raw.storeinfo@1"
    assert metadata["dagster/row_count"] == version.rows > 10
    assert metadata["crawl_status"] == "committed"
    assert metadata["scrape_run"] == version.producer.removeprefix("scrape:")
    preview = metadata["preview"].value  # type: ignore[union-attr]
    assert "Shipping rates" in preview and "_run_id" not in preview
    assert result.data_version is not None
    assert result.data_version.value == version.content_hash


@pytest.mark.slow
def test_an_unchanged_scrape_materialises_nothing_and_says_so(
    sources: Workspace, resources: dict[str, object], instance: DagsterInstance
) -> None:
    defs = build_definitions(sources)
    key = AssetKey("raw_storeinfo")
    first = materialize(defs.assets, resources=resources, instance=instance, selection=[key])  # type: ignore[arg-type]
    second = materialize(defs.assets, resources=resources, instance=instance, selection=[key])  # type: ignore[arg-type]
    assert [e.asset_key for e in first.get_asset_materialization_events()] == [key]
    assert second.success and second.get_asset_materialization_events() == []
    (observed,) = second.get_asset_observation_events()
    description = observed.asset_observation_data.asset_observation.description or ""
    assert "raw.storeinfo@1" in description
    run = instance.get_run_by_id(second.run_id)
    assert run is not None and run.tags["harvest/scrape_storeinfo"] != ""
    with Catalog.open(sources) as catalog:
        assert [v.number for v in catalog.versions("raw.storeinfo")] == [1]
