"""The MLflow-protocol scoring server on a real uvicorn: every payload form, CSV, bad bodies, a live swap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from catalog import Catalog
from catalog.access import Accounts
from core.workspace import Workspace
from server.scoring import create_app, running
from tests.training.conftest import bundled, two_iris_versions
from training.registry import Registry
from training.serving import ServedModel

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
LIMIT = 100_000
ROWS = bundled("iris").iloc[::50].loc[:, FEATURES]  # one of each species
SPECIES = ["setosa", "versicolor", "virginica"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.at(tmp_path_factory.mktemp("scoring")).ensure()
    with Catalog.open(workspace) as catalog:
        two_iris_versions(catalog)
    return workspace


@pytest.fixture(scope="module")
def client(home: Workspace) -> Iterator[httpx.Client]:
    """A scoring server for ``iris`` (its champion) on a free loopback port."""
    with (
        Catalog.open(home) as catalog,
        running(create_app(ServedModel(catalog, "iris"), max_body_bytes=LIMIT)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield http


def set_champion(home: Workspace, version: int) -> None:
    with Catalog.open(home) as catalog:
        Registry(catalog).set_alias("iris", "champion", version, {"by": "test"})


MLFLOW_PAYLOADS = {  # the forms of MLflow's "Deploy MLflow models" documentation
    "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": ROWS.to_numpy().tolist()}},
    "dataframe_split with index": {
        "dataframe_split": {
            "index": [0, 1, 2],
            "columns": FEATURES,
            "data": ROWS.to_numpy().tolist(),
        }
    },
    "dataframe_records": {"dataframe_records": ROWS.to_dict(orient="records")},
    "instances as records": {"instances": ROWS.to_dict(orient="records")},
    "instances as rows": {"instances": ROWS.to_numpy().tolist()},
    "inputs as columns": {"inputs": ROWS.to_dict(orient="list")},
    "inputs as rows": {"inputs": ROWS.to_numpy().tolist()},
    "empty params": {"inputs": ROWS.to_numpy().tolist(), "params": {}},
}


@pytest.mark.parametrize("form", sorted(MLFLOW_PAYLOADS))
def test_every_mlflow_json_form_is_scored(client: httpx.Client, form: str) -> None:
    response = client.post("/invocations", json=MLFLOW_PAYLOADS[form])
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": SPECIES, "model": "iris@1"}
    assert response.headers["x-harvest-model"] == "iris@1"


def test_a_csv_body_is_scored(client: httpx.Client) -> None:
    response = client.post(
        "/invocations",
        content=ROWS.to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == SPECIES


def test_ping_health_and_version(client: httpx.Client) -> None:
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 200 and response.json()["model"] == "iris@1"
    version = client.get("/version")
    assert version.status_code == 200 and version.text.count(".") >= 1


BAD_BODIES = [
    ("{not json", "application/json", 400, "not valid JSON"),
    ('{"records": []}', "application/json", 400, "unknown field 'records'"),
    ('{"dataframe_split": {"columns": ["x"], "data": [[1]]}}', "application/json", 400,
     "lacks the columns"),
    ('{"inputs": [[5.1, "wide", 1.4, 0.2]]}', "application/json", 400, "takes a number"),
    ('{"inputs": []}', "application/json", 400, "has no rows"),
    ('[' * 100_000 + ']' * 100_000, "application/json", 413, "larger than the limit"),
    ("[" * 40_000 + "]" * 40_000, "application/json", 400, "nested too deeply"),
    ("a,b\n1", "text/plain", 415, "application/json or text/csv"),
    ('{"inputs": [[1, 2, 3, 4]]}', "application/json; charset=latin-1", 415, "UTF-8"),
    ("", "text/csv", 400, "not CSV"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "content_type", "status", "sentence"), BAD_BODIES)
def test_bad_bodies_are_a_4xx_problem_with_one_sentence(
    client: httpx.Client, body: str, content_type: str, status: int, sentence: str
) -> None:
    response = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and sentence in problem["detail"]
    assert problem["message"] == problem["detail"] and problem["error_code"]
    assert "Traceback" not in response.text and problem["detail"].count(". ") == 0


def test_an_oversized_body_without_a_declared_length_is_refused(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 1000 + 2):
            yield b" " * 1000

    response = client.post(
        "/invocations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_a_new_champion_is_served_during_a_stream_without_a_failed_request(
    home: Workspace, client: httpx.Client
) -> None:
    seen: dict[int, list[str]] = {0: [], 1: []}
    failures: list[str] = []
    stop = threading.Event()

    def stream(worker: int) -> None:
        while not stop.is_set():
            response = client.post("/invocations", json=MLFLOW_PAYLOADS["dataframe_records"])
            if response.status_code != 200 or len(response.json()["predictions"]) != 3:
                failures.append(response.text)
            else:
                seen[worker].append(response.json()["model"])

    workers = [threading.Thread(target=stream, args=(w,)) for w in seen]
    for worker in workers:
        worker.start()
    try:
        while min(len(s) for s in seen.values()) < 5:
            time.sleep(0.02)
        set_champion(home, 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
            s.count("iris@2") >= 5 for s in seen.values()
        ):
            time.sleep(0.02)
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        set_champion(home, 1)
    assert failures == []
    for refs in seen.values():
        switched = refs.index("iris@2")
        assert set(refs[:switched]) == {"iris@1"} and set(refs[switched:]) == {"iris@2"}


def test_harvest_models_serve_answers_on_loopback_and_stops(home: Workspace) -> None:
    command = [sys.executable, "-m", "harvest", "--home", str(home.home), "models", "serve"]
    process = subprocess.Popen(
        [*command, "iris@2", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Serving iris@2 on http://127.0.0.1:") and "fixed version" in line
        url = line.split(" on ", 1)[1].split()[0]
        response = httpx.post(url, json=MLFLOW_PAYLOADS["dataframe_split"], timeout=30)
        assert response.json() == {"predictions": SPECIES, "model": "iris@2"}
    finally:
        process.terminate()
        process.wait(30)
    unknown = subprocess.run([*command, "nosuch"], capture_output=True, text=True)
    assert unknown.returncode != 0 and "There is no model 'nosuch'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_workspace_without_users_is_served_on_loopback_only(home: Workspace) -> None:
    command = [sys.executable, "-m", "harvest", "--home", str(home.home), "models", "serve"]
    refused = subprocess.run(
        [*command, "iris", "--host", "0.0.0.0"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "has no users" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_with_users_a_token_that_may_use_the_model_is_needed(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path / "accounts").ensure()
    with Catalog.open(workspace) as catalog:
        two_iris_versions(catalog)
        accounts = Accounts(catalog)
        for user in ("ann", "ben"):
            accounts.add_user(user)
        accounts.set_access("clean.iris", owner="ann", visibility="private")
        ann, _ = accounts.create_token("ann")
        ben, _ = accounts.create_token("ben")
        payload = MLFLOW_PAYLOADS["dataframe_split"]
        with (
            running(create_app(ServedModel(catalog, "iris"), accounts=accounts)) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            anonymous = http.post("/invocations", json=payload)
            outsider = http.post("/invocations", json=payload, headers=bearer(ben))
            forged = http.post("/invocations", json=payload, headers=bearer(ann[:-2] + "xx"))
            owner = http.post("/invocations", json=payload, headers=bearer(ann))
    assert anonymous.status_code == 401 and forged.status_code == 401
    assert outsider.status_code == 404
    assert outsider.json()["detail"] == "There is no model 'iris'."
    assert owner.status_code == 200 and owner.json()["model"] == "iris@1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
