"""The drift check before retraining: blocks (or warns) when the model's features drift."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, asset, materialize

from catalog import Catalog
from core.workspace import Workspace
from dagster_project.resources import CatalogResource
from dagster_project.training import Model, build_drift_checks
from tests.training.conftest import bundled
from training.drift import model_drift
from training.spec import spec_from_mapping
from training.train import train


def _spec(action: str) -> dict[str, object]:
    return {
        "dataset": "clean.iris",
        "target": "target",
        "name": "iris",
        "families": ["linear"],
        "trials": 0,
        "drift": {"threshold": 0.2, "action": action},
    }


@pytest.fixture
def shifted(workspace: Workspace) -> Workspace:
    """clean.iris@1 and a model trained on it; clean.iris@2 with petal lengths moved by 5 cm."""
    frame = bundled("iris")
    with Catalog.open(workspace) as catalog:
        catalog.commit("clean.iris", frame, producer="user:test", key=("row_id",))
        train(spec_from_mapping(_spec("warn")), catalog)
        moved = frame.assign(petal_length=frame["petal_length"] + 5.0)
        catalog.commit("clean.iris", moved, producer="user:test")
    return workspace


def _run(workspace: Workspace, action: str) -> tuple[bool, bool]:
    """Materialise the dataset asset with the drift check and a model downstream; return
    (the check passed, the model step ran)."""
    model = Model(spec_from_mapping(_spec(action)))
    ran: list[bool] = []

    @asset(key=model.dataset_key)
    def clean_iris() -> None:
        return None

    @asset(key=AssetKey("iris_model"), deps=[model.dataset_key])
    def iris_model() -> None:
        ran.append(True)

    checks = build_drift_checks([model], [model.dataset_key])
    result = materialize(
        [clean_iris, iris_model, *checks],
        resources={"catalog": CatalogResource(home=str(workspace.home))},
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert "petal_length" in (evaluation.description or "")
    return evaluation.passed, bool(ran)


def test_drift_over_the_threshold_blocks_retraining_when_the_spec_says_block(
    shifted: Workspace,
) -> None:
    assert _run(shifted, "block") == (False, False)


def test_drift_over_the_threshold_only_warns_by_default(shifted: Workspace) -> None:
    assert _run(shifted, "warn") == (False, True)


def test_the_verdict_names_the_model_and_the_drifting_feature(shifted: Workspace) -> None:
    with Catalog.open(shifted) as catalog:
        verdict = model_drift(catalog, spec_from_mapping(_spec("block")), "clean.iris")
        same = model_drift(catalog, spec_from_mapping(_spec("block")), "clean.iris@1")
    assert verdict is not None and verdict.model == "iris@1" and verdict.blocks
    assert [c.column for c in verdict.report.over(0.2)] == ["petal_length"]
    assert "row_id" not in {c.column for c in verdict.report.columns}  # not a feature
    assert same is not None and same.passed


def test_no_model_yet_passes(workspace: Workspace) -> None:
    with Catalog.open(workspace) as catalog:
        catalog.commit("clean.iris", pd.DataFrame({"x": [1.0]}), producer="user:test")
        assert model_drift(catalog, spec_from_mapping(_spec("block")), "clean.iris") is None
