"""The registry: version numbers, aliases, safe loading, staging left by dead runs."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from catalog import Catalog
from core.errors import InvalidInputError, NotFoundError
from training.registry import (
    Event,
    Registration,
    Registry,
    champion_history,
    load_pipeline,
    save_pipeline,
)

ENTRY = Registration(
    task="classification", target="y", family="dummy", metric="accuracy", score=0.5, baseline=0.5,
    dataset="imports.x@1", content_hash="abc", gates_passed=True, run_id="run-1",
)  # fmt: skip


def fitted() -> Pipeline:
    return Pipeline([("features", "passthrough"), ("model", DummyClassifier())]).fit(
        [[0], [1]], [0, 1]
    )


def register(registry: Registry, model: str = "m") -> int:
    staging = registry.staging(model)
    save_pipeline(fitted(), staging)
    return registry.register(
        model, staging, ENTRY, lambda n, f: (f / "card.json").write_text("{}")
    ).version


def test_versions_count_up_and_skip_orphan_folders(catalog: Catalog) -> None:
    registry = Registry(catalog)
    assert register(registry) == 1
    (catalog.workspace.models / "m" / "2").mkdir()  # left by a run killed after claiming 2
    (catalog.workspace.models / "m" / "2" / "x").write_text("partial")
    assert register(registry) == 3
    assert [v.version for v in registry.versions("m")] == [1, 3]
    assert registry.get("m").version == 3  # no champion: the latest
    registry.set_alias("m", "champion", 1, {"why": "test"})
    assert registry.get("m").version == 1 and registry.get("m@champion").aliases == ("champion",)
    with pytest.raises(NotFoundError, match="Model 'm' has no challenger yet"):
        registry.get("m@challenger")
    with pytest.raises(InvalidInputError, match="'boss' is not an alias"):
        registry.set_alias("m", "boss", 1, {})
    with pytest.raises(InvalidInputError, match="is not a model version"):
        registry.get("m@latest")
    with pytest.raises(InvalidInputError, match="cannot name a model"):
        registry.get("Bad Name")
    assert [e.event for e in registry.events("m")] == ["registered", "registered", "champion"]


def test_staging_of_dead_runs_is_removed(catalog: Catalog) -> None:
    registry = Registry(catalog)
    dead = catalog.workspace.models / "m" / ".staging-999999999-abc"
    dead.mkdir(parents=True)
    mine = registry.staging("m")
    assert not dead.exists() and mine.exists()


def test_loading_refuses_types_outside_the_allow_list(tmp_path: Path) -> None:
    sio.dump(
        Pipeline([("model", DummyClassifier())]).fit([[0], [1]], [0, 1]), tmp_path / "model.skops"
    )
    assert load_pipeline(tmp_path).predict([[0]]).shape == (1,)
    sio.dump({"payload": Path("/etc")}, tmp_path / "model.skops")
    with pytest.raises(
        InvalidInputError, match="contains a type Harvest does not trust \\(pathlib"
    ):
        load_pipeline(tmp_path)
    (tmp_path / "model.skops").unlink()
    with pytest.raises(NotFoundError, match="No model artifact"):
        load_pipeline(tmp_path)


def test_a_failed_catalog_write_leaves_no_version_folder(catalog: Catalog) -> None:
    registry = Registry(catalog)
    staging = registry.staging("m")
    save_pipeline(fitted(), staging)

    def broken_card(number: int, folder: Path) -> None:
        (folder / "card.json").write_text(json.dumps({"n": number}))
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        registry.register("m", staging, ENTRY, broken_card)
    assert not (catalog.workspace.models / "m" / "1").exists()
    assert registry.versions("m") == []


def champion(version: int, by: str = "promote") -> Event:
    return Event("m", version, "champion", json.dumps({"by": by}), datetime.now(UTC))


def test_champion_history_stacks_promotions_and_unstacks_roll_backs() -> None:
    verdict = Event("m", 4, "gate", "{}", datetime.now(UTC))
    assert champion_history([champion(1), verdict, champion(2), champion(3)]) == [1, 2, 3]
    rolled = [champion(1), champion(2), champion(3), champion(2, "roll-back")]
    assert champion_history(rolled) == [1, 2]
    older = champion(1, "dashboard roll-back")  # what the dashboard wrote before the registry did
    assert champion_history([champion(1), champion(2), older]) == [1]
    assert champion_history([champion(1), champion(1)]) == [1]


def test_roll_back_goes_back_one_champion_at_a_time_and_says_when_there_is_none(
    catalog: Catalog,
) -> None:
    registry = Registry(catalog)
    for number in (register(registry), register(registry), register(registry)):
        registry.set_alias("m", "champion", number, {"by": "promote"})
    assert registry.previous_champion("m") == 2
    assert registry.roll_back("m", by="dashboard") == 2
    assert registry.alias("m", "champion") == 2 and registry.previous_champion("m") == 1
    last = registry.events("m")[-1]
    assert json.loads(last.detail) == {"by": "roll-back", "from": 3, "requested_by": "dashboard"}
    assert registry.roll_back("m") == 1  # further back, not forth to 3
    assert registry.previous_champion("m") is None
    with pytest.raises(InvalidInputError, match="m has had no earlier champion to roll back to"):
        registry.roll_back("m")
    assert registry.alias("m", "champion") == 1


def test_register_records_the_gates_and_the_alias_with_the_version(catalog: Catalog) -> None:
    registry = Registry(catalog)

    def register_as(alias: str | None) -> int:
        staging = registry.staging("m")
        save_pipeline(fitted(), staging)
        version = registry.register(
            "m", staging, ENTRY, gates=[{"gate": "baseline", "passed": True}], alias=alias
        )
        return version.version

    assert register_as("champion") == 1
    assert register_as("challenger") == 2
    assert registry.get("m@2").aliases == ("challenger",)
    assert register_as("champion") == 3  # a new champion ends the challenger
    assert registry.alias("m", "champion") == 3 and registry.alias("m", "challenger") is None
    assert [(e.version, e.event) for e in registry.events("m")] == [
        (1, "registered"), (1, "gates"), (1, "champion"),
        (2, "registered"), (2, "gates"), (2, "challenger"),
        (3, "registered"), (3, "gates"), (3, "champion"),
    ]  # fmt: skip
    assert json.loads(registry.events("m")[1].detail) == [{"gate": "baseline", "passed": True}]
    with pytest.raises(InvalidInputError, match="'boss' is not an alias"):
        register_as("boss")
    assert [v.version for v in registry.versions("m")] == [1, 2, 3], "nothing half-registered"
    assert not (catalog.workspace.models / "m" / "4").exists()


def test_listing_models_does_not_load_scikit_learn(catalog: Catalog) -> None:
    """``harvest models list`` is a catalog read: scikit-learn (a second to import) stays out."""
    register(Registry(catalog))
    script = (
        "import sys; from catalog import Catalog; from training.registry import Registry; "
        f"versions = Registry(Catalog.open({str(catalog.workspace.home)!r})).versions(); "
        "print(len(versions), 'sklearn' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "False"]


def register_with_card(registry: Registry, card: object, entry: Registration = ENTRY) -> int:
    staging = registry.staging("m")
    save_pipeline(fitted(), staging)
    return registry.register(
        "m", staging, entry, lambda n, f: (f / "card.json").write_text(json.dumps(card))
    ).version


def test_a_model_that_is_not_what_its_card_says_is_refused(catalog: Catalog) -> None:
    registry = Registry(catalog)
    honest = registry.get(f"m@{register_with_card(registry, {'family': 'dummy'})}")
    assert registry.load(honest).predict([[0]]).shape == (1,)
    lying = registry.get(f"m@{register_with_card(registry, {'family': 'linear'})}")
    with pytest.raises(InvalidInputError, match=r"m@2 is registered as a dummy model but its artifact holds a DummyClassifier \(card family 'linear'\)"):  # fmt: skip
        registry.load(lying)
    swapped = replace(ENTRY, family="forest")
    renamed = registry.get(f"m@{register_with_card(registry, {'family': 'forest'}, swapped)}")
    with pytest.raises(InvalidInputError, match="registered as a forest model but its artifact holds a DummyClassifier"):  # fmt: skip
        registry.load(renamed)
    no_card = registry.get(f"m@{register_with_card(registry, [1, 2])}")
    with pytest.raises(InvalidInputError, match=r"m@4's card .* is not a JSON object"):
        registry.load(no_card)
    (no_card.path / "card.json").chmod(0o600)
    (no_card.path / "card.json").unlink()
    with pytest.raises(InvalidInputError, match="m@4 has no readable card"):
        registry.verify(no_card)


def test_a_pytorch_model_folder_with_a_missing_or_wrong_file_is_one_sentence(
    tmp_path: Path,
) -> None:
    import torch

    sio.dump(Pipeline([("features", "passthrough")]), tmp_path / "features.skops")
    (tmp_path / "model.json").write_text(json.dumps({"class": "MLPRegressor", "params": {}}))
    with pytest.raises(InvalidInputError, match=r"lacks model\.pt; it was not loaded"):
        load_pipeline(tmp_path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    for config, error in [
        ({"class": "os.system", "params": {}, "fitted": {}}, "ValueError"),
        ({"class": "MLPRegressor", "params": {"evil": 1}, "fitted": {}}, "ValueError"),
        ({"class": "MLPRegressor", "params": {}, "fitted": {"_make_module": 1}}, "ValueError"),
        ({"class": "MLPRegressor", "params": {}, "fitted": {"n_features_in_": 3}}, "RuntimeError"),
    ]:
        (tmp_path / "model.json").write_text(json.dumps(config))
        with pytest.raises(InvalidInputError, match=rf"PyTorch model that could not be read \({error}\)"):  # fmt: skip
            load_pipeline(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match=r"could not be read \(JSONDecodeError\)"):
        load_pipeline(tmp_path)
    (tmp_path / "features.skops").unlink()
    with pytest.raises(InvalidInputError, match=r"features\.skops is missing; it was not loaded"):
        load_pipeline(tmp_path)
