"""Predictions: a dataset in and predictions.<model> out, files in and out, one record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog import Catalog
from harvest.errors import InvalidInputError, NotFoundError
from harvest.workspace import Workspace
from tests.training.conftest import bundled
from training.predict import predict_dataset, predict_file, predict_record, predictions_name
from training.spec import spec_from_mapping
from training.train import train

SPECIES = {0: "setosa", 1: "versicolor", 2: "virginica"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.at(tmp_path_factory.mktemp("predict")).ensure()
    frame = (
        bundled("iris").assign(species=lambda f: f["target"].map(SPECIES)).drop(columns="target")
    )
    with Catalog.open(workspace) as catalog:
        catalog.commit("clean.iris", frame, producer="user:test", key=("row_id",))
        spec = spec_from_mapping(
            {
                "dataset": "clean.iris",
                "target": "species",
                "name": "iris",
                "families": ["linear"],
                "trials": 0,
            }
        )
        train(spec, catalog)
    return workspace


def test_batch_predictions_become_a_dataset_with_lineage(home: Workspace) -> None:
    with Catalog.open(home) as catalog:
        result = predict_dataset(catalog, "iris", "clean.iris")
        version = result.version
        assert result.created and version.ref == "predictions.iris@1"
        assert version.producer == "train:iris@1" and version.parents == ("clean.iris@1",)
        table = catalog.read(version.ref).to_pandas()
        assert catalog.dataset("predictions.iris").key == ("row_id",)
        truth = catalog.read("clean.iris").to_pandas().set_index("row_id")["species"]
    assert list(table.columns) == [
        "row_id", "prediction", "probability", "proba_setosa", "proba_versicolor", "proba_virginica", "_model",
    ]  # fmt: skip
    assert len(table) == 150 and set(table["_model"]) == {"iris@1"}
    accuracy = float(np.mean(table.set_index("row_id")["prediction"] == truth))
    assert accuracy > 0.9
    assert np.allclose(
        table[["proba_setosa", "proba_versicolor", "proba_virginica"]].sum(axis=1), 1.0
    )


def test_predicting_the_same_data_again_makes_no_new_version(home: Workspace) -> None:
    with Catalog.open(home) as catalog:
        predict_dataset(catalog, "iris@1", "clean.iris@1")
        again = predict_dataset(catalog, "iris@1", "clean.iris@1")
        assert not again.created


def test_file_in_file_out(home: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "flowers.csv"
    bundled("iris").drop(columns=["target", "row_id"]).head(10).to_csv(source, index=False)
    with Catalog.open(home) as catalog:
        out = predict_file(catalog, "iris", source, tmp_path / "out" / "predicted.parquet")
        written = pd.read_parquet(tmp_path / "out" / "predicted.parquet")
        assert written.equals(out) and len(written) == 10
        assert written["prediction"].iloc[0] == "setosa"
        jsonl = tmp_path / "flowers.jsonl"
        written.drop(columns=["prediction"]).to_json(jsonl, orient="records", lines=True)
        assert len(predict_file(catalog, "iris", jsonl)) == 10
        pd.DataFrame({"sepal_length": [5.0]}).to_csv(tmp_path / "narrow.csv", index=False)
        with pytest.raises(
            InvalidInputError,
            match=r"narrow\.csv lacks the columns sepal_width, petal_length, petal_width that iris@1 uses",
        ):
            predict_file(catalog, "iris", tmp_path / "narrow.csv")
        with pytest.raises(NotFoundError, match="does not exist"):
            predict_file(catalog, "iris", tmp_path / "missing.csv")
        (tmp_path / "data.xml").write_text("<x/>")
        with pytest.raises(InvalidInputError, match=r"Cannot read data\.xml"):
            predict_file(catalog, "iris", tmp_path / "data.xml")


def test_one_record(home: Workspace) -> None:
    record = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
    with Catalog.open(home) as catalog:
        answer = predict_record(catalog, "iris@champion", record)
        assert answer["model"] == "iris@1" and answer["prediction"] == "virginica"
        assert answer["probability"] == max(answer[f"proba_{s}"] for s in SPECIES.values())
        partial = predict_record(catalog, "iris", {"petal_length": 1.4, "petal_width": 0.2})
        assert partial["missing_fields"] == ["sepal_length", "sepal_width"]
        with pytest.raises(InvalidInputError, match="has none of the fields iris@1 uses"):
            predict_record(catalog, "iris", {"colour": "blue"})
        with pytest.raises(NotFoundError, match="There is no model 'roses'"):
            predict_record(catalog, "roses", record)
        with pytest.raises(NotFoundError, match="has no version 7; it has versions 1"):
            predict_record(catalog, "iris@7", record)


def test_predictions_dataset_name() -> None:
    assert predictions_name("products-price.v2") == "predictions.products_price_v2"
