"""The Train page's fine-tune choice and the Models page's model-to-model lineage (AppTest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

import jobs
from catalog import Catalog
from tests.dashboard.test_pages import ran
from training.spec import TrainingSpec, spec_from_mapping
from training.train import train

MakeApp = Callable[[Path, str], AppTest]


def test_the_train_page_launches_a_fine_tune_of_a_chosen_version(
    app: MakeApp, populated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: list[TrainingSpec] = []

    def fake_train(workspace: object, spec: TrainingSpec) -> SimpleNamespace:
        launched.append(spec)
        return SimpleNamespace(id="run-finetune", dagster_run_id=None, pid=1)

    monkeypatch.setattr(jobs, "train", fake_train)
    at = app(populated_home, "train")
    at.session_state["dataset"] = "imports.iris"
    ran(at)
    at.selectbox(key="train_target").select("species")
    ran(at)
    assert not [s for s in at.selectbox if s.key == "train_parent"]  # scratch by default
    at.radio(key="train_start").set_value("fine-tune")
    ran(at)
    assert at.selectbox(key="train_parent").options == ["iris-species@2", "iris-species@1"]
    at.selectbox(key="train_parent").select("iris-species@1")
    ran(at)
    assert not [m for m in at.multiselect if m.key == "train_families"]  # the parent's family
    assert at.text_input(key="train_name").value == "iris-species"
    next(b for b in at.button if b.label == "Launch training").click()
    ran(at)
    (spec,) = launched
    assert (spec.from_model, spec.families, spec.name) == ("iris-species@1", None, "iris-species")
    assert spec.dataset.startswith("imports.iris@") and spec.target == "species"


def test_the_models_page_shows_a_fine_tuned_versions_parent_and_its_data(
    app: MakeApp, tmp_path: Path
) -> None:
    from catalog.importer import import_file
    from catalog.samples import IRIS, IRIS_LISTING

    home = tmp_path / "home"
    with Catalog.open(home) as cat:
        import_file(cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import")
        ref = cat.version("imports.iris").ref
        values = {"dataset": ref, "target": "species", "name": "iris-species", "trials": 0}
        train(spec_from_mapping({**values, "families": ["linear"], "time_budget": 5}), cat)
        train(spec_from_mapping({**values, "from": "iris-species@1", "time_budget": 5}), cat)
    at = app(home, "models")
    ran(at)
    at.selectbox(key="card_ref").select("iris-species@2")
    ran(at)
    lineage = next(d.value for d in at.dataframe if "crawl" in d.value.columns)
    assert list(lineage["model"]) == ["iris-species@1"]
    assert list(lineage["trained on"]) == [ref] and list(lineage["family"]) == ["linear"]
    compare = at.dataframe[1].value
    row = list(compare[""]).index("fine-tuned from")
    assert (
        compare["iris-species@2"][row] == "iris-species@1" and compare["iris-species@1"][row] == ""
    )
