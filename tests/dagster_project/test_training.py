"""The model asset's pieces: gates as checks, leaderboard, plots, lineage to scrape runs."""

from __future__ import annotations

import base64
from pathlib import Path

import pyarrow as pa
from dagster import AssetCheckSeverity, AssetKey, AutomationCondition

from catalog import Catalog
from dagster_project.training import (
    Model,
    gate_checks,
    gate_results,
    leaderboard_markdown,
    model_asset,
    plot_metadata,
    scrape_runs,
)
from training.gates import GateResult
from training.search import TrialRecord
from training.spec import spec_from_mapping

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def model(dataset: str = "clean.products") -> Model:
    return Model(
        spec_from_mapping({"name": "products-price", "dataset": dataset, "target": "price"})
    )


def test_a_model_asset_depends_on_its_dataset_and_has_both_gates_as_checks() -> None:
    asset = model_asset(model())
    assert asset.key == AssetKey("products_price_model")
    assert set(asset.asset_deps[asset.key]) == {AssetKey("clean_products")}
    assert {c.name for c in gate_checks(model())} == {"beats_baseline", "beats_champion"}
    assert not any(c.blocking for c in gate_checks(model()))


def test_a_pinned_dataset_is_trained_once_not_on_every_update() -> None:
    pinned = model_asset(model("clean.products@3"))
    following = model_asset(model())
    assert pinned.automation_conditions_by_key[pinned.key] == AutomationCondition.on_missing()
    label = following.automation_conditions_by_key[following.key].get_label()
    assert label == "eager, once upstream blocking checks pass"


def test_gates_become_check_results_and_a_refused_challenger_says_the_champion_stays() -> None:
    gates = (
        GateResult("baseline", True, "r2", 0.8, 0.1, 0.145, 0.05, "r2 0.8 beats the baseline."),
        GateResult("champion", False, "r2", 0.8, 0.9, 0.9, 0.0, "r2 0.8 does not beat 0.9."),
    )
    checks = {c.check_name: c for c in gate_results(model(), gates)}
    assert checks["beats_baseline"].passed
    assert checks["beats_baseline"].severity == AssetCheckSeverity.ERROR
    champion = checks["beats_champion"]
    assert not champion.passed and champion.severity == AssetCheckSeverity.WARN
    assert "The champion stays in place." in (champion.description or "")
    assert champion.metadata["reference"].value == 0.9


def test_the_leaderboard_ranks_scored_trials() -> None:
    trials = [
        TrialRecord(0, "selection", "dummy", {}, "complete", 0.10, 0.01, seconds=0.1),
        TrialRecord(1, "selection", "forest", {"n_estimators": 50}, "complete", 0.80, 0.02),
        TrialRecord(2, "tuning", "forest", {"n_estimators": 90}, "pruned"),
    ]
    table = leaderboard_markdown(trials, "r2")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "phase" not in line]
    assert "forest" in rows[0] and "n_estimators=50" in rows[0] and "dummy" in rows[1]
    assert "3 trials in all" in table


def test_plots_are_paths_and_inline_images(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "residuals.png").write_bytes(PNG)
    metadata = plot_metadata(tmp_path)
    assert metadata["plot_residuals"].value == str(tmp_path / "plots" / "residuals.png")
    assert "data:image/png;base64," in metadata["plots"].value


def test_scrape_runs_follow_lineage_back_from_the_training_data(catalog: Catalog) -> None:
    rows = pa.table({"sku": ["a", "b"], "price": [1.0, 2.0]})
    catalog.commit("raw.products", rows, producer="scrape:run-1", key=("sku",))
    catalog.commit(
        "clean.products", rows, producer="clean:abc", parents=("raw.products@1",), key=("sku",)
    )
    assert scrape_runs(catalog, "clean.products@1") == ["run-1"]


def test_policy_assets_repricing_with_its_heuristic_gate_and_gym_envs_without_data() -> None:
    from training.spec import load_spec

    repricing = Model(load_spec("products_repricing"))
    asset = model_asset(repricing)
    assert asset.key == AssetKey("products_repricing_model")
    assert set(asset.asset_deps[asset.key]) == {AssetKey("clean_products")}
    names = {c.name for c in gate_checks(repricing)}
    assert names == {"beats_heuristic", "beats_baseline", "beats_champion"}
    gates = (
        GateResult("baseline", True, "mean_return", 9.0, 7.0, 7.4, 0.05, "beats random."),
        GateResult("heuristic", False, "mean_return", 9.0, 9.1, 9.5, 0.05, "does not beat."),
    )
    checks = {c.check_name: c for c in gate_results(repricing, gates)}
    assert not checks["beats_heuristic"].passed and checks["beats_baseline"].passed
    cartpole = Model(
        spec_from_mapping({"task": "reinforcement_learning", "environment": "CartPole-v1"})
    )
    asset = model_asset(cartpole)
    assert not asset.asset_deps[asset.key] and "a policy for CartPole-v1" in (
        asset.descriptions_by_key[asset.key] or ""
    )
