"""The clean_<source> asset: rules as checks, error rules blocking, the report as metadata."""

from __future__ import annotations

import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, materialize

from catalog import Catalog
from catalog.cleaning import load_spec
from catalog.cleaning.rules import RuleResult
from core.errors import NotFoundError
from core.workspace import Workspace
from dagster_project.cleaning import Cleaning, check_names, check_results, check_specs
from dagster_project.definitions import build_definitions

RULES = """\
rules:
  - {kind: min_rows, min: %d, name: enough rows}
  - {kind: max_null_share, column: Region, max: 0.01, severity: warn, name: regions filled}
  - {kind: unique, severity: warn}
"""
RAW, CLEAN = AssetKey("raw_storeinfo"), AssetKey("clean_storeinfo")


def with_rules(workspace: Workspace, min_rows: int) -> Cleaning:
    path = workspace.sources / "storeinfo.clean.yaml"
    path.write_text(RULES % min_rows, encoding="utf-8")
    return Cleaning("storeinfo", load_spec(path, "storeinfo"))


def test_each_rule_is_a_check_and_error_rules_block(sources: Workspace) -> None:
    cleaning = with_rules(sources, 5)
    specs = {spec.name: spec for spec in check_specs(cleaning)}
    assert check_names(cleaning.spec) == ["enough_rows", "regions_filled", "unique"]  # type: ignore[arg-type]
    assert specs["enough_rows"].blocking and not specs["regions_filled"].blocking
    assert {s.asset_key for s in specs.values()} == {CLEAN}


def test_an_inferred_spec_reports_its_rules_under_one_blocking_check() -> None:
    cleaning = Cleaning("storeinfo", None)
    (spec,) = check_specs(cleaning)
    assert spec.name == "quality_rules" and spec.blocking
    results = [
        RuleResult("not empty", "min_rows", "error", True, "19 rows"),
        RuleResult("key unique", "unique", "error", False, "2 duplicate keys"),
    ]
    (check,) = check_results(cleaning, results)
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert "key unique" in (check.description or "")


def test_rule_results_map_to_their_checks_with_severity(sources: Workspace) -> None:
    cleaning = with_rules(sources, 5)
    results = [
        RuleResult("enough rows", "min_rows", "error", True, "19 rows", 19.0),
        RuleResult("regions filled", "max_null_share", "warn", False, "Region 70% null", 0.7),
        RuleResult("unique", "unique", "warn", True, "no duplicates"),
    ]
    checks = {c.check_name: c for c in check_results(cleaning, results)}
    assert checks["enough_rows"].passed
    assert not checks["regions_filled"].passed
    assert checks["regions_filled"].severity == AssetCheckSeverity.WARN


@pytest.mark.slow
def test_a_failing_error_rule_blocks_everything_downstream(
    sources: Workspace, resources: dict[str, object], instance: DagsterInstance
) -> None:
    with_rules(sources, 1000)
    (sources.home / "training").mkdir()
    (sources.home / "training" / "regions.yaml").write_text(
        "dataset: clean.storeinfo\ntarget: Region\n", encoding="utf-8"
    )
    defs = build_definitions(sources)
    model = AssetKey("storeinfo_region_model")
    result = materialize(
        defs.assets,  # type: ignore[arg-type]
        resources=resources,
        instance=instance,
        selection=[RAW, CLEAN, model],
        raise_on_error=False,
    )
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert started == ["raw_storeinfo", "clean_storeinfo"], "the model must not start"
    assert not result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [RAW]
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["enough_rows"].passed
    assert checks["enough_rows"].severity == AssetCheckSeverity.ERROR
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["clean_storeinfo"]
    with Catalog.open(sources) as catalog, pytest.raises(NotFoundError):
        catalog.dataset("clean.storeinfo")


@pytest.mark.slow
def test_a_clean_version_carries_its_report_and_passing_checks(
    sources: Workspace, resources: dict[str, object], instance: DagsterInstance
) -> None:
    with_rules(sources, 5)
    defs = build_definitions(sources)
    result = materialize(
        defs.assets,  # type: ignore[arg-type]
        resources=resources,
        instance=instance,
        selection=[RAW, CLEAN],
    )
    clean = result.asset_materializations_for_node("clean_storeinfo")[0].metadata
    with Catalog.open(sources) as catalog:
        version = catalog.version("clean.storeinfo")
    assert clean["dataset"].value == version.ref == "clean.storeinfo@1"
    assert clean["raw_version"].value == "raw.storeinfo@1"
    assert clean["quality_score"].value == pytest.approx(version.quality_score)
    assert "enough rows" in clean["quality_report"].value  # type: ignore[operator]
    assert version.parents == ("raw.storeinfo@1",)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["enough_rows"] is True and set(checks) == {
        "enough_rows",
        "regions_filled",
        "unique",
    }
