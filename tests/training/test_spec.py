"""Training specs: the YAML edge, defaults, and one clear sentence for each bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace
from training.spec import (
    SPECS_DIR,
    default_model_name,
    load_spec,
    spec_files,
    spec_from_mapping,
    workspace_specs,
)
from training.task import Task


def test_minimal_spec_gets_defaults() -> None:
    spec = spec_from_mapping({"dataset": "clean.products@3", "target": "price"})
    assert spec.name == "products-price"
    assert spec.task is None and spec.families is None and spec.features is None
    assert (spec.time_budget, spec.cv_folds, spec.seed) == (60.0, None, 0)
    assert (spec.split.validation, spec.split.test, spec.split.key) == (0.15, 0.15, None)
    assert spec.gates.baseline_margin == 0.05


def test_full_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = spec_from_mapping(
        {
            "name": "shop-price",
            "dataset": "clean.products",
            "target": "price",
            "task": "regression",
            "families": ["hgb", "linear"],
            "split": {"key": "sku", "test": 0.2},
            "params": {"forest": {"n_estimators": 50}},
        }
    )
    assert spec.task is Task.REGRESSION and spec.split.key == ("sku",)
    assert spec.families == ("hgb", "linear")
    again = spec_from_mapping(spec.to_json())
    assert again == spec


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dataset": "d", "target": "t", "budget": 5}, "'budget' is not a spec key"),
        ({"dataset": "d", "target": "t", "name": "Bad Name"}, "'name'"),
        ({"dataset": "d", "target": "t", "time_budget": -1}, "'time_budget'"),
        (
            {"dataset": "d", "target": "t", "split": {"validation": 0.45, "test": 0.45}},
            "20% of rows",
        ),
        (
            {"dataset": "d", "target": "t", "families": ["xgboost"]},
            "Unknown model family 'xgboost'",
        ),
        ({"dataset": "d"}, "'target'"),
    ],
)
def test_bad_specs_are_one_sentence(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        spec_from_mapping(values)


def test_bundled_specs_load() -> None:
    files = sorted(SPECS_DIR.glob("*.yaml"))
    assert len(files) >= 3
    tasks = {load_spec(f).task for f in files}
    assert Task.LANGUAGE_MODELLING in tasks and Task.TEXT_CLASSIFICATION in tasks
    assert load_spec(files[0].stem) == load_spec(files[0])


def test_a_workspace_discovers_its_own_specs_and_the_bundled_ones_it_does_not_shadow(
    workspace: Workspace,
) -> None:
    bundled = sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))
    assert [p.stem for p in spec_files(workspace)] == bundled
    mine = workspace.home / "training"
    mine.mkdir()
    (mine / "products_price.yaml").write_text("dataset: clean.mine\ntarget: cost\n")
    (mine / "extra.yaml").write_text("dataset: imports.iris\ntarget: species\n")
    files = spec_files(workspace)
    assert [p.stem for p in files] == sorted([*bundled, "extra"])
    assert mine / "products_price.yaml" in files and SPECS_DIR / "products_price.yaml" not in files
    specs = {s.name: s for s in workspace_specs(workspace)}
    assert specs["mine-cost"].dataset == "clean.mine" and "products-price" not in specs
    assert specs["iris-species"].target == "species"


def test_missing_and_broken_spec_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("dataset: [unclosed\n")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_spec(broken)


def test_default_model_name() -> None:
    assert default_model_name("raw.Demo_Products@2", "In Stock") == "demo_products-in-stock"


def test_drift_threshold_and_action_default_to_warn_and_can_block() -> None:
    plain = spec_from_mapping({"dataset": "clean.x", "target": "y"})
    assert (plain.drift.threshold, plain.drift.action) == (0.2, "warn")
    strict = spec_from_mapping(
        {"dataset": "clean.x", "target": "y", "drift": {"threshold": 0.1, "action": "block"}}
    )
    assert (strict.drift.threshold, strict.drift.action) == (0.1, "block")
    assert spec_from_mapping(strict.to_json()) == strict
    with pytest.raises(InvalidInputError, match=r"drift\.action"):
        spec_from_mapping({"dataset": "clean.x", "target": "y", "drift": {"action": "stop"}})
