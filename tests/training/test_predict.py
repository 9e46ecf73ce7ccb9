"""Predictions: a dataset in and predictions.<model> out, files in and out, one record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from catalog import Catalog
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace
from tests.training.conftest import bundled
from training.predict import (
    drift_warning,
    load_model,
    predict_dataset,
    predict_file,
    predict_record,
    predictions_name,
)
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


FLOWER = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("wide", "Field 'petal_width' takes a number, but the record gives the text 'wide'."),
        ([1, 2], "Field 'petal_width' takes a number, but the record gives a list."),
        ({"cm": 2}, "Field 'petal_width' takes a number, but the record gives an object."),
        (float("inf"), "Field 'petal_width' takes a number, but the record gives the non-finite number inf."),
        (float("nan"), "Field 'petal_width' takes a number, but the record gives the non-finite number nan; give null for a missing value."),
        (10**400, "Field 'petal_width' takes a number, but the record gives the non-finite number 1000"),
    ],
)  # fmt: skip
def test_a_record_of_the_wrong_types_is_one_sentence_naming_the_field(
    home: Workspace, value: object, says: str
) -> None:
    with Catalog.open(home) as catalog, pytest.raises(InvalidInputError) as error:
        predict_record(catalog, "iris", {**FLOWER, "petal_width": value})
    assert str(error.value).startswith(says) and "\n" not in str(error.value)


def test_json_infinity_in_a_record_is_refused(home: Workspace) -> None:
    import json

    record = json.loads(
        '{"sepal_length": Infinity, "sepal_width": 3.0, "petal_length": 1, "petal_width": 1}'
    )
    with Catalog.open(home) as catalog, pytest.raises(InvalidInputError, match="'sepal_length' takes a number, but the record gives the non-finite number inf"):  # fmt: skip
        predict_record(catalog, "iris", record)


def test_extra_record_fields_are_ignored_and_reported(home: Workspace) -> None:
    with Catalog.open(home) as catalog:
        answer = predict_record(catalog, "iris", {**FLOWER, "colour": [1], "note": "x"})
        plain = predict_record(catalog, "iris", FLOWER)
    assert answer["ignored_fields"] == ["colour", "note"] and "ignored_fields" not in plain
    assert answer["prediction"] == plain["prediction"] == "virginica"


def flowers(rows: int = 3) -> pd.DataFrame:
    return bundled("iris").drop(columns=["target", "row_id"]).head(rows)


@pytest.mark.parametrize(
    ("name", "write", "says"),
    [
        ("text.csv", lambda f, p: f.astype({"petal_width": object}).assign(petal_width=["0.2", "wide", "0.3"]).to_csv(p, index=False),
         "text.csv: column 'petal_width' takes a number, but row 2 holds the text 'wide'."),
        ("infinite.csv", lambda f, p: f.assign(sepal_width=[1.0, 2.0, float("inf")]).to_csv(p, index=False),
         "infinite.csv: column 'sepal_width' takes a number, but row 3 holds the non-finite number inf."),
        ("nested.jsonl", lambda f, p: f.assign(sepal_length=[{"cm": 5}, 1.0, 2.0]).to_json(p, orient="records", lines=True),
         "nested.jsonl: column 'sepal_length' takes a number, but row 1 holds an object."),
        ("lists.parquet", lambda f, p: f.assign(petal_length=[[1.0], [2.0], [3.0]]).to_parquet(p),
         "lists.parquet: column 'petal_length' takes a number, but row 1 holds a list."),
        ("flags.json", lambda f, p: f.assign(petal_length=[True, "x", None]).to_json(p, orient="records"),
         "flags.json: column 'petal_length' takes a number, but row 2 holds the text 'x'."),
    ],
)  # fmt: skip
def test_a_batch_file_of_the_wrong_types_is_one_sentence_naming_the_column(
    home: Workspace, tmp_path: Path, name: str, write: Any, says: str
) -> None:
    write(flowers(), tmp_path / name)
    with Catalog.open(home) as catalog, pytest.raises(InvalidInputError) as error:
        predict_file(catalog, "iris", tmp_path / name, tmp_path / "out.csv")
    assert str(error.value) == says
    assert not (tmp_path / "out.csv").exists()


def test_extra_file_columns_are_ignored_and_reported(home: Workspace, tmp_path: Path) -> None:
    flowers().assign(colour="blue", note=[[1], [2], [3]]).to_parquet(tmp_path / "extra.parquet")
    with Catalog.open(home) as catalog:
        out = predict_file(catalog, "iris", tmp_path / "extra.parquet")
    assert out.attrs["ignored_columns"] == ["colour", "note"]
    assert list(out["prediction"]) == ["setosa"] * 3


def test_a_dataset_of_the_wrong_types_is_refused(home: Workspace) -> None:
    frame = bundled("iris").drop(columns="target").astype({"sepal_width": str})
    frame.loc[4, "sepal_width"] = "n/a"
    with Catalog.open(home) as catalog:
        catalog.commit("imports.iris_text", frame, producer="user:test", key=("row_id",))
        with pytest.raises(InvalidInputError, match=r"^imports\.iris_text@1: column 'sepal_width' takes a number, but row 5 holds the text 'n/a'\.$"):  # fmt: skip
            predict_dataset(catalog, "iris", "imports.iris_text")


def test_a_batch_that_drifts_from_the_training_data_is_warned_about(
    home: Workspace, tmp_path: Path
) -> None:
    same = flowers(150)
    shifted = same.assign(petal_length=same["petal_length"] + 5.0)
    with Catalog.open(home) as catalog:
        model = load_model(catalog, "iris")
        assert drift_warning(catalog, model, same, "same.csv") is None
        sentence = drift_warning(catalog, model, shifted, "shifted.csv")
        keyed = shifted.assign(row_id=range(len(shifted)))  # as keyed as predictions.iris
        catalog.commit("imports.iris_shifted", keyed, producer="user:test", key=("row_id",))
        from_dataset = drift_warning(
            catalog, model, "imports.iris_shifted@1", "imports.iris_shifted@1"
        )
    assert sentence is not None and sentence.startswith(
        "shifted.csv drifts from clean.iris@1 beyond 0.2 in 1 column: petal_length ("
    )
    assert from_dataset is not None and "petal_length" in from_dataset
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    same.to_csv(tmp_path / "same.csv", index=False)
    run = [sys.executable, "-m", "harvest", "--home", str(home.home), "predict", "iris"]
    warned = subprocess.run([*run, "--input", str(tmp_path / "shifted.csv"), "--output",
                             str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=120)  # fmt: skip
    quiet = subprocess.run([*run, "--input", str(tmp_path / "same.csv"), "--output",
                            str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert warned.returncode == quiet.returncode == 0, warned.stderr
    assert warned.stderr.strip().splitlines() == [f"warning: {sentence}"]
    assert quiet.stderr.strip() == ""
    dataset = subprocess.run([*run, "--dataset", "imports.iris_shifted"], capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert dataset.returncode == 0, dataset.stderr
    assert dataset.stderr.strip().splitlines() == [f"warning: {from_dataset}"]
