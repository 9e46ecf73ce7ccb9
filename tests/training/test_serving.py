"""Serving one model: the champion, a fixed version, a promotion noticed without a restart, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from catalog import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace
from tests.training.conftest import bundled, two_iris_versions
from training.registry import Registry
from training.serving import ServedModel, frame_from_csv, frame_from_payload, predict_rows

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.at(tmp_path_factory.mktemp("serving")).ensure()
    with Catalog.open(workspace) as catalog:
        two_iris_versions(catalog)
    return workspace


@pytest.fixture
def catalog(home: Workspace) -> Iterator[Catalog]:
    with Catalog.open(home) as opened:
        yield opened
        Registry(opened).set_alias(
            "iris", "champion", 1, {"by": "test"}
        )  # as the next test expects


def flowers(rows: int = 3) -> pd.DataFrame:
    """Iris rows 0, 50, 100...: one of each species first."""
    return bundled("iris").iloc[::50].head(rows).loc[:, list(FEATURES)]


def promote_elsewhere(home: Workspace, version: int) -> None:
    """Move the champion from another connection, as ``harvest models promote`` would."""
    with Catalog.open(home) as other:
        Registry(other).set_alias("iris", "champion", version, {"by": "test"})


def test_the_champion_is_served_with_its_ref(catalog: Catalog) -> None:
    served = ServedModel(catalog, "iris")
    scored = served.predict(flowers())
    assert (served.ref, served.pinned, scored.ref) == ("iris@1", False, "iris@1")
    assert scored.predictions() == ["setosa", "versicolor", "virginica"]
    first = scored.records()[0]
    assert first["prediction"] == "setosa" and first["probability"] > 0.5
    assert sum(first[f"proba_{s}"] for s in ("setosa", "versicolor", "virginica")) == pytest.approx(
        1
    )


def test_records_are_predicted_and_unused_columns_reported(catalog: Catalog) -> None:
    records = [{**row, "colour": "blue"} for row in flowers(1).to_dict(orient="records")]
    scored = ServedModel(catalog, "iris").predict(records)
    assert scored.predictions() == ["setosa"] and scored.ignored == ("colour",)


def test_a_pinned_version_stays_when_the_champion_moves(home: Workspace, catalog: Catalog) -> None:
    pinned = ServedModel(catalog, "iris@2")
    following = ServedModel(catalog, "iris@champion")
    assert pinned.pinned and pinned.ref == "iris@2" and following.ref == "iris@1"
    promote_elsewhere(home, 2)
    promote_elsewhere(home, 1)
    assert pinned.predict(flowers()).ref == "iris@2"
    assert following.predict(flowers()).ref == "iris@1"


def test_a_new_champion_is_served_without_a_restart(home: Workspace, catalog: Catalog) -> None:
    served = ServedModel(catalog, "iris", check_every=0)
    in_flight = served.current()  # a request that started before the promotion
    promote_elsewhere(home, 2)
    assert served.predict(flowers()).ref == "iris@2"
    assert predict_rows(in_flight, flowers()).ref == "iris@1"  # finishes on its model
    promote_elsewhere(home, 1)  # a roll-back is noticed the same way
    assert served.predict(flowers()).ref == "iris@1"


def test_a_request_without_a_commit_does_not_query_the_registry(catalog: Catalog) -> None:
    served = ServedModel(catalog, "iris")
    served._registry = None  # type: ignore[assignment]  # any look at the registry would fail
    assert served.predict(flowers()).ref == "iris@1"


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (flowers().drop(columns="petal_width"), "lacks the column petal_width"),
        (flowers().assign(sepal_width="wide"), "column 'sepal_width' takes a number"),
        (flowers().head(0), "has no rows"),
        ([1, 2], "list of JSON objects"),
    ],
)
def test_bad_input_is_one_sentence(catalog: Catalog, data: object, sentence: str) -> None:
    with pytest.raises(InvalidInputError, match=sentence):
        ServedModel(catalog, "iris").predict(data)  # type: ignore[arg-type]


def test_mlflow_payload_forms_read_as_the_same_frame() -> None:
    rows = flowers()
    split = {"columns": list(FEATURES), "data": rows.to_numpy().tolist()}
    forms = [
        {"dataframe_split": split},
        {"dataframe_split": {**split, "index": [0, 1, 2]}},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"instances": rows.to_dict(orient="records")},
        {"instances": rows.to_numpy().tolist()},
        {"inputs": rows.to_dict(orient="list")},
        {"inputs": rows.to_numpy().tolist()},
        {"inputs": rows.to_dict(orient="records")},
    ]
    for payload in forms:
        frame = frame_from_payload(payload, FEATURES)
        pd.testing.assert_frame_equal(frame[list(FEATURES)], rows.reset_index(drop=True))
    csv = frame_from_csv(rows.to_csv(index=False))
    pd.testing.assert_frame_equal(csv, rows.reset_index(drop=True))


@pytest.mark.parametrize(
    ("payload", "sentence"),
    [
        ([], "must be a JSON object"),
        ({}, "exactly one of the fields"),
        ({"dataframe_records": [], "inputs": []}, "it has dataframe_records, inputs"),
        ({"records": []}, "unknown field 'records'"),
        ({"inputs": [[1, 2]], "params": {"temperature": 1}}, "take no params"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "Row 1 of dataframe_split"),
        ({"dataframe_split": {"data": [], "orient": "x"}}, "unknown field 'orient'"),
        ({"instances": {"a": [1]}}, "instances takes a list"),
        ({"inputs": {"a": [1], "b": [1, 2]}}, "different numbers of values"),
        ({"inputs": [[1, 2, 3]]}, "Row 1 of inputs is not a record or a list of 4 values"),
    ],
)
def test_bad_payloads_are_one_sentence(payload: object, sentence: str) -> None:
    with pytest.raises(InvalidInputError, match=sentence):
        frame_from_payload(payload, FEATURES)


def test_an_empty_csv_body_is_one_sentence() -> None:
    with pytest.raises(InvalidInputError, match="not CSV with a header line"):
        frame_from_csv("")


def test_a_champion_that_cannot_be_loaded_leaves_the_old_one_served(
    home: Workspace, catalog: Catalog
) -> None:
    served = ServedModel(catalog, "iris")
    promote_elsewhere(home, 99)  # an alias to a version that is not there
    assert served.predict(flowers()).ref == "iris@1"
    promote_elsewhere(home, 2)  # the next commit is looked at again
    assert served.predict(flowers()).ref == "iris@2"
