"""Models (list, versions, card, plots, predict), SQL as JSON and Arrow, and jobs started and
followed over the API."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pyarrow as pa
import pytest

import jobs
from tests.server.conftest import PRIVATE, PUBLIC, Running

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 7.7, "sepal_width": 3.0, "petal_length": 6.1, "petal_width": 2.3}


def test_models_their_versions_card_and_plots(api: Running, tokens: dict[str, str]) -> None:
    with api.client(tokens["reader"]) as c:
        models = {m["name"]: m for m in c.get("/v1/models").json()}
        assert models["iris_open"]["champion"] == 1 and models["iris_open"]["task"] == (
            "classification"
        )
        versions = c.get("/v1/models/iris_secret/versions").json()
        assert [(v["ref"], v["dataset"]) for v in versions] == [("iris_secret@1", f"{PRIVATE}@1")]
        card = c.get("/v1/models/iris_open@champion/card").json()
        assert card["ref"] == "iris_open@1" and card["data"]["dataset"] == PUBLIC
        assert c.get("/v1/models/iris_open@2/card").status_code == 404
        assert c.get("/v1/models/Not a name/card").status_code == 404
        plots = card["plots"]
        assert plots, "the card lists its plots"
        name = plots[0].rsplit("/", 1)[-1]
        image = c.get(f"/v1/models/iris_open@1/plots/{name}")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert image.headers["content-type"] == "image/png"
        assert c.get("/v1/models/iris_open@1/plots/card.json").status_code == 404


def test_predict_one_record_or_a_batch_on_the_champion_or_a_version(
    api: Running, tokens: dict[str, str]
) -> None:
    with api.client(tokens["other"]) as c:
        one = c.post("/v1/models/iris_open/predict", json={"records": [SETOSA]})
        assert one.status_code == 200 and one.json()["model"] == "iris_open@1"
        assert one.json()["predictions"][0]["prediction"] == "setosa"
        batch = c.post("/v1/models/iris_open@1/predict", json={"records": [SETOSA, VIRGINICA]})
        assert [p["prediction"] for p in batch.json()["predictions"]] == ["setosa", "virginica"]
        wrong = c.post(
            "/v1/models/iris_open/predict", json={"records": [{**SETOSA, "petal_width": "wide"}]}
        )
        assert wrong.status_code == 422
        assert wrong.json()["detail"].startswith("Field 'petal_width' takes a number")
        assert c.post("/v1/models/iris_open/predict", json={"records": []}).status_code == 422
        many = c.post("/v1/models/iris_open@1/predict", json={"records": [VIRGINICA] * 200})
        assert {p["prediction"] for p in many.json()["predictions"]} == {"virginica"}
        assert len(many.json()["predictions"]) == 200
        too_many = c.post("/v1/models/iris_open/predict", json={"records": [SETOSA] * 1001})
        assert too_many.status_code == 422
        assert c.post("/v1/models/iris_open/predict", json={"record": SETOSA}).status_code == 422


def test_sql_as_json_and_as_arrow_and_a_refused_statement(
    api: Running, tokens: dict[str, str]
) -> None:
    sql = f"SELECT species, count(*) AS n FROM {PUBLIC} GROUP BY species ORDER BY species"
    with api.client(tokens["reader"]) as c:
        result = c.post("/v1/sql", json={"sql": sql}).json()
        assert result["rows"] == [
            {"species": "setosa", "n": 50},
            {"species": "versicolor", "n": 50},
            {"species": "virginica", "n": 49},
        ]
        assert [col["name"] for col in result["columns"]] == ["species", "n"]
        arrow = c.post("/v1/sql", json={"sql": sql, "format": "arrow"})
        assert arrow.headers["content-type"] == "application/vnd.apache.arrow.stream"
        table = pa.ipc.open_stream(arrow.content).read_all()
        assert table.column("n").to_pylist() == [50, 50, 49]
        refused = c.post("/v1/sql", json={"sql": f"DELETE FROM {PUBLIC}"})
        assert refused.status_code == 400 and refused.json()["title"] == "Bad Request"
        assert c.post("/v1/sql", json={"sql": sql, "format": "xml"}).status_code == 422


@pytest.fixture
def started() -> Iterator[list[jobs.Job]]:
    """Jobs a test started; their process groups are ended after it."""
    found: list[jobs.Job] = []
    yield found
    for job in found:
        if job.pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGTERM)


def test_jobs_start_with_their_scope_and_only_their_starter_follows_them(
    api: Running, tokens: dict[str, str], started: list[jobs.Job]
) -> None:
    spec = {"dataset": f"{PUBLIC}@1", "target": "species", "families": ["linear"], "trials": 0}
    with api.client(tokens["owner"]) as alice, api.client(tokens["reader"]) as bob:
        assert bob.post("/v1/train", json=spec).status_code == 403  # a read-only token
        assert bob.post("/v1/scrapes", json={"source": "products"}).status_code == 403
        made = alice.post("/v1/train", json={**spec, "name": "iris_api"})
        assert made.status_code == 202, made.text
        job = made.json()
        started.append(jobs.get(api.services.workspace, job["id"]))
        assert job["kind"] == "train" and job["what"] == "iris_api"
        assert job["started_by"] == "alice"
        assert job["status"]["state"] in ("queued", "running", "succeeded")
        followed = alice.get(f"/v1/jobs/{job['id']}").json()
        assert followed["id"] == job["id"] and followed["progress"] is not None
        hidden, never = bob.get(f"/v1/jobs/{job['id']}"), bob.get("/v1/jobs/nothing")
        assert hidden.status_code == never.status_code == 404
        assert hidden.json()["detail"] == f"There is no job '{job['id']}'."
        crawl = alice.post("/v1/scrapes", json={"source": "products"})
        assert crawl.status_code == 202 and crawl.json()["kind"] == "scrape"
        started.append(jobs.get(api.services.workspace, crawl.json()["id"]))
        unknown = alice.post("/v1/scrapes", json={"source": "nowhere"})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "There is no source 'nowhere'."
        secret = alice.post("/v1/train", json={**spec, "dataset": "imports.nothing"})
        assert secret.status_code == 404
        assert alice.post("/v1/train", json={**spec, "image_root": "/"}).status_code == 422
        assert alice.post("/v1/train", json={**spec, "colour": 1}).status_code == 422
    secret_token = api.services.accounts.create_token("carol", ("read", "train"))[0]
    with api.client(secret_token) as carol:
        hidden_data = carol.post("/v1/train", json={**spec, "dataset": f"{PRIVATE}@1"})
        never_data = carol.post("/v1/train", json={**spec, "dataset": "imports.nothing@1"})
        assert hidden_data.status_code == never_data.status_code == 404
        assert hidden_data.json()["detail"] == f"There is no dataset '{PRIVATE}'."


def test_a_public_model_of_private_data_names_none_of_it_to_outsiders(
    api: Running, tokens: dict[str, str]
) -> None:
    accounts = api.services.accounts
    accounts.set_model_visibility("iris_secret", "public")
    try:
        with api.client(tokens["other"]) as carol, api.client(tokens["reader"]) as bob:
            card = carol.get("/v1/models/iris_secret/card")
            versions = carol.get("/v1/models/iris_secret/versions")
            predicted = carol.post("/v1/models/iris_secret/predict", json={"records": [SETOSA]})
            inside = bob.get("/v1/models/iris_secret/card").json()
    finally:
        accounts.set_model_visibility("iris_secret", None)
    assert card.status_code == 200 and PRIVATE not in card.text
    assert card.json()["data"]["dataset"] == "a dataset you cannot see"
    assert card.json()["data"]["lineage"] == []
    assert "a dataset you cannot see" in card.json()["intended_use"]
    assert versions.json()[0]["dataset"] is None
    assert predicted.json()["predictions"][0]["prediction"] == "setosa"
    assert inside["data"]["dataset"] == PRIVATE and inside["data"]["lineage"]
