"""Train, Models and Predict pages on a workspace with real model versions, and their error paths."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from catalog import Catalog
from tests.dashboard.conftest import populate
from tests.dashboard.test_pages import ran, texts
from training.registry import Registry

MakeApp = Callable[[Path, str], AppTest]


@pytest.mark.parametrize("page", ["train", "models", "predict"])
def test_pages_explain_an_empty_workspace(app: MakeApp, empty_home: Path, page: str) -> None:
    at = ran(app(empty_home, page))
    assert not at.error
    assert at.info and ("empty" in at.info[0].value or "No models yet" in at.info[0].value)


def test_train_page_shows_the_inferred_task(app: MakeApp, populated_home: Path) -> None:
    at = app(populated_home, "train")
    at.session_state["dataset"] = "imports.iris"
    ran(at)
    at.selectbox(key="train_target").select("species")
    ran(at)
    assert "**Task:** classification · judged by **accuracy**" in texts(at)
    assert set(at.multiselect(key="train_families").value) >= {"linear"}
    at.selectbox(key="train_target").select("petal_width_cm")
    ran(at)
    assert "regression" in texts(at)


def test_an_untrainable_target_is_one_sentence_and_cannot_launch(
    app: MakeApp, populated_home: Path
) -> None:
    at = app(populated_home, "train")
    at.session_state["dataset"] = "raw.products"
    ran(at)
    at.selectbox(key="train_target").select("sku")  # one class per row
    ran(at)
    assert len(at.error) == 1 and "sku" in at.error[0].value
    assert next(b for b in at.button if b.label == "Launch training").disabled


def test_launch_training_runs_in_the_background_and_finishes(app: MakeApp, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Catalog.open(home) as cat:
        from catalog.importer import import_file
        from catalog.samples import IRIS, IRIS_LISTING

        import_file(cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import")
    at = ran(app(home, "train"))
    at.selectbox(key="train_target").select("species")
    at.multiselect(key="train_families").set_value(["linear"])
    at.slider(key="train_budget").set_value(5)
    ran(at)
    next(b for b in at.button if b.label == "Launch training").click()
    ran(at)
    deadline = time.monotonic() + 180
    while not any(m.label == "Status" and m.value == "done" for m in at.metric):
        assert time.monotonic() < deadline, texts(at)
        assert not at.error, [e.value for e in at.error]
        time.sleep(2)
        ran(at)
    assert "Registered iris-species@1" in texts(at)
    gates = at.dataframe[-1].value
    assert list(gates["gate"]) == ["baseline", "champion"]
    with Catalog.open(home) as cat:
        assert Registry(cat).get("iris-species@champion").version == 1


def test_launch_with_harvest_dagster_up_submits_the_run_and_shows_when_dagster_gives_up(
    app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterRunStatus

    import dagster_project.submit
    import jobs
    from catalog.importer import import_file
    from catalog.samples import IRIS, IRIS_LISTING
    from core.workspace import Workspace
    from dagster_project.submit import TRAINING_RUN_TAG
    from tests.dagster_project.test_submit import FakeDagster

    home = tmp_path / "home"
    with Catalog.open(home) as cat:
        import_file(cat, IRIS, "iris", listing=IRIS_LISTING, key=("id",), producer="import")
    workspace = Workspace.at(home)
    dagster = FakeDagster()  # Dagster's GraphQL client, answering as a deployment with no daemon
    monkeypatch.setattr(dagster_project.submit, "client", lambda _deployment: dagster)
    jobs.record_deployment(workspace, "127.0.0.1", 3999)  # this process plays `harvest dagster`
    at = ran(app(home, "train"))
    at.selectbox(key="train_target").select("species")
    ran(at)
    next(b for b in at.button if b.label == "Launch training").click()
    ran(at)
    assert not at.error, [e.value for e in at.error]
    assert any(m.label == "Status" and m.value == "queued" for m in at.metric), texts(at)
    assert any("waiting for its daemon" in i.value for i in at.info)
    run_id = at.session_state["train_run"]
    (submitted,) = dagster.submitted
    assert submitted["tags"][TRAINING_RUN_TAG] == run_id and submitted["job_name"] == "training_job"
    assert jobs.get(workspace, run_id).dagster_run_id == "dagster-run-1"
    dagster.status = DagsterRunStatus.CANCELED
    ran(at)
    assert any(m.label == "Status" and m.value == "failed" for m in at.metric)
    assert "ended (canceled) before training started" in at.error[0].value


def test_models_page_leaderboard_compare_plots_and_card(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "models"))
    leaderboard = at.dataframe[0].value
    assert sorted(leaderboard["version"]) == [1, 2]
    assert set(leaderboard["family"]) == {"linear", "tree"}
    scores = list(leaderboard["accuracy"])
    assert scores == sorted(scores, reverse=True)
    compare = at.dataframe[1].value
    assert list(compare.columns) == ["", "iris-species@2", "iris-species@1"]
    assert "test accuracy" in list(compare[""])
    assert {"protocol", "test accuracy 95% interval"} <= set(compare[""])  # issue 22
    interval = compare.loc[compare[""] == "test accuracy 95% interval", "iris-species@1"].iloc[0]
    low, high = (float(x) for x in interval.split(" to "))
    score = float(compare.loc[compare[""] == "test accuracy", "iris-species@1"].iloc[0])
    assert low <= score <= high
    assert len(at.get("imgs")) >= 1 or at.get("image")
    assert any("Intended use" in m.value for m in at.markdown)


def test_promote_and_roll_back_the_champion(app: MakeApp, tmp_path: Path) -> None:
    home = tmp_path / "home"
    populate(home)
    with Catalog.open(home) as cat:
        registry = Registry(cat)
        first = registry.alias("iris-species", "champion")
        other = 2 if first == 1 else 1
        registry.set_alias("iris-species", "champion", other, {"by": "test"})
    at = ran(app(home, "models"))
    with Catalog.open(home) as cat:
        history = [(e.version, e.event) for e in Registry(cat).events("iris-species")]
    assert any(b.label == f"Roll back to v{first}" for b in at.button), (
        history,
        [b.label for b in at.button],
        texts(at),
    )
    at.button(key="rollback").click()
    ran(at)
    assert f"iris-species@{first} is the champion again." in texts(at)
    with Catalog.open(home) as cat:
        assert Registry(cat).alias("iris-species", "champion") == first
    at = ran(app(home, "models"))
    at.selectbox(key="promote_ref").select(f"iris-species@{other}")
    at.button(key="promote").click()
    ran(at)
    verdict = (at.success or at.error)[0].value
    assert f"iris-species@{other}" in verdict


def test_predict_one_record_from_the_schema_form(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "predict"))
    for name, value in (
        ("sepal_length_cm", 5.1),
        ("sepal_width_cm", 3.5),
        ("petal_length_cm", 1.4),
        ("petal_width_cm", 0.2),
    ):
        at.number_input(key=f"in_{name}").set_value(value)
    next(b for b in at.button if b.label == "Predict").click()
    ran(at)
    assert not at.error
    assert any(m.value == "setosa" for m in at.metric)


def test_predict_a_file_and_download(app: MakeApp, populated_home: Path) -> None:
    at = ran(app(populated_home, "predict"))
    csv = b"sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    at.file_uploader[0].set_value(("rows.csv", csv, "text/csv"))
    ran(at)
    assert not at.error
    frame = at.dataframe[-1].value
    assert len(frame) == 2 and next(iter(frame["prediction"])) == "setosa"
    assert any(b.label == "Download predictions (CSV)" for b in at.get("download_button"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv is empty"),
        ("rows.parquet", b"this is not parquet at all", "Could not read rows.parquet"),
        ("rows.csv", b"colour,size\nred,3\n", "lacks the columns"),
    ],
)
def test_bad_uploads_are_one_sentence(
    app: MakeApp, populated_home: Path, name: str, content: bytes, message: str
) -> None:
    at = ran(app(populated_home, "predict"))
    at.file_uploader[0].set_value((name, content, "application/octet-stream"))
    ran(at)
    assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]


def test_the_train_page_preselects_a_target_that_can_be_trained(
    app: MakeApp, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with Catalog.open(home) as cat:  # like the demo's articles: the last column has one class
        cat.commit(
            "clean.articles",
            pa.table(
                {
                    "title": [f"Article {i}" for i in range(60)],
                    "section": [("food", "travel", "tech")[i % 3] for i in range(60)],
                    "words": [300 + (i * 37) % 50 for i in range(60)],
                    "language": ["en"] * 60,
                }
            ),
            producer="t",
        )
    at = ran(app(home, "train"))
    assert at.selectbox(key="train_target").value == "words"
    assert not at.error
    assert "regression" in texts(at)


def test_models_page_shows_a_policys_reward_curve_and_gates(app: MakeApp, tmp_path: Path) -> None:
    from catalog import Catalog
    from training.spec import spec_from_mapping
    from training.train import train

    home = tmp_path / "home"
    tiny = {"timesteps": 256, "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}
    spec = {"task": "reinforcement_learning", "environment": "CartPole-v1", "families": ["ppo"],
            "trials": 0, "episodes": 3, "params": {"ppo": tiny}}  # fmt: skip
    with Catalog.open(home) as catalog:
        train(spec_from_mapping(spec), catalog)
    at = ran(app(home, "models"))
    assert list(at.dataframe[0].value["mean_return"])  # the leaderboard ranks by return
    assert any("reward curve" in str(getattr(i, "caption", "")) for i in at.get("imgs")) or at.get(
        "image"
    )
    gates = at.dataframe[-1].value
    assert list(gates["gate"]) == ["baseline", "champion"]
    assert any("Environment CartPole" in c.value and "timesteps" in c.value for c in at.caption)


def test_models_page_charts_the_drift_of_the_newest_data_from_the_training_data(
    app: MakeApp, populated_home: Path
) -> None:
    at = ran(app(populated_home, "models"))
    drift = next(d.value for d in at.dataframe if "score" in d.value.columns)
    assert set(drift["column"]) == {
        f"{p}_{d}_cm" for p in ("sepal", "petal") for d in ("length", "width")
    }
    assert (drift["score"] == 0).all()  # the newest version is the one it was trained on
    assert any(
        "No column of imports.iris@1 drifts from imports.iris@1" in c.value for c in at.caption
    )
