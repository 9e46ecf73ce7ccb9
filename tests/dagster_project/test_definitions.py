"""The code location: built from the workspace's specs, loadable, automated end to end."""

from __future__ import annotations

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    evaluate_automation_conditions,
    materialize,
)

from catalog import Catalog
from core.workspace import Workspace
from dagster_project.definitions import build_definitions
from demo_site.server import DemoSite
from scrapers.sources import source_files

RAW, CLEAN, MODEL = AssetKey("raw_shop"), AssetKey("clean_shop"), AssetKey("shop_price_model")


def test_definitions_load_with_assets_checks_and_schedules_for_every_spec(
    sources: Workspace,
) -> None:
    defs = build_definitions(sources)
    Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    for source in source_files(sources):
        if "." not in source.name:
            assert {f"raw_{source.name}", f"clean_{source.name}"} <= keys
    schedule = defs.resolve_schedule_def("scrape_storeinfo_schedule")
    assert schedule.cron_schedule == "15 5 * * *"
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    sensor = defs.resolve_sensor_def("harvest_automation_sensor")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert defs.resolve_assets_def("clean_storeinfo").check_keys


def test_adding_yaml_files_adds_assets_checks_and_a_schedule(sources: Workspace) -> None:
    before = {k.to_user_string() for k in build_definitions(sources).resolve_all_asset_keys()}
    (sources.sources / "extra.yaml").write_text(
        "name: extra\nstart_urls: [http://127.0.0.1:9/]\nschedule: '0 3 * * *'\n", encoding="utf-8"
    )
    (sources.sources / "extra.clean.yaml").write_text(
        "rules:\n  - {kind: min_rows, min: 1, name: some rows}\n", encoding="utf-8"
    )
    (sources.home / "training").mkdir()
    (sources.home / "training" / "extra-url.yaml").write_text(
        "dataset: clean.extra\ntarget: _url\n", encoding="utf-8"
    )
    defs = build_definitions(sources)
    after = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert after - before == {"raw_extra", "clean_extra", "extra_url_model"}
    checks = {key.name for key in defs.resolve_assets_def("clean_extra").check_keys}
    assert checks == {"some_rows"}
    model_checks = {key.name for key in defs.resolve_assets_def("extra_url_model").check_keys}
    assert model_checks == {"beats_baseline", "beats_champion"}
    assert defs.resolve_schedule_def("scrape_extra_schedule").cron_schedule == "0 3 * * *"
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("extra_url_model")).parent_keys == {AssetKey("clean_extra")}
    assert graph.get(AssetKey("clean_extra")).parent_keys == {AssetKey("raw_extra")}


def requested(result: object) -> set[str]:
    return {
        key.to_user_string()
        for key in (RAW, CLEAN, MODEL)
        if result.get_num_requested(key)  # type: ignore[attr-defined]
    }


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_the_graph_runs_and_automation_follows_new_versions_only(
    shop_model: Workspace,
    resources: dict[str, object],
    instance: DagsterInstance,
    site: DemoSite,
) -> None:
    defs = build_definitions(shop_model)
    assets = defs.assets
    run = materialize(assets, resources=resources, instance=instance, selection=[RAW, CLEAN, MODEL])  # type: ignore[arg-type]
    assert run.success
    assert {e.asset_key for e in run.get_asset_materialization_events()} == {RAW, CLEAN, MODEL}
    model = run.asset_materializations_for_node("shop_price_model")[0].metadata
    assert model["model"].value == "shop-price@1"
    assert model["dataset"].value == "clean.shop@1"
    assert "| # | phase | family |" in model["leaderboard"].value  # type: ignore[operator]
    tags = instance.get_run_by_id(run.run_id).tags  # type: ignore[union-attr]
    scrape_run = tags["harvest/scrape_shop"]
    assert tags["harvest/model_shop_price"] == "shop-price@1"
    assert tags["harvest/scrape_runs_shop_price"] == scrape_run == model["scrape_runs"].value
    checks = {c.check_name for c in run.get_asset_check_evaluations() if c.asset_key == MODEL}
    assert checks == {"beats_baseline", "beats_champion"}

    # Everything just ran in one run: nothing to do.
    tick = evaluate_automation_conditions(defs=defs, instance=instance)
    assert tick.total_requested == 0

    # The same site again: the scrape finds no change, and the chain ends there.
    unchanged = materialize(assets, resources=resources, instance=instance, selection=[RAW])  # type: ignore[arg-type]
    assert unchanged.success and unchanged.get_asset_materialization_events() == []
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.total_requested == 0

    # A day later prices moved: a new raw version requests cleaning and retraining.
    site.set_day(2)
    moved = materialize(assets, resources=resources, instance=instance, selection=[RAW])  # type: ignore[arg-type]
    assert [e.asset_key for e in moved.get_asset_materialization_events()] == [RAW]
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert requested(tick) == {"clean_shop", "shop_price_model"}
    assert tick.get_num_requested(CLEAN) == tick.get_num_requested(MODEL) == 1
    tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert tick.total_requested == 0, "the same update must not be requested twice"
    with Catalog.open(shop_model) as catalog:
        assert [v.number for v in catalog.versions("raw.shop")] == [1, 2]
        assert [v.number for v in catalog.versions("clean.shop")] == [1]
