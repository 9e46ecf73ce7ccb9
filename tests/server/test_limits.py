"""Bad input and limits: every error a problem+json of one sentence and a 4xx (malformed JSON,
unknown fields, wrong types, oversized bodies, bad tokens, too many requests), an unexpected
failure a generic 500; and ``harvest serve`` on a workspace without users."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from core.services import free_port
from core.workspace import Workspace
from server.deps import Settings
from server.problems import install
from tests.server.conftest import PUBLIC, Running, serve, serve_app

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == status
    detail: str = body["detail"]
    assert detail.endswith(".") and "\n" not in detail
    for internal in ("pydantic", "input_value", "Traceback", "loc", "errors.pydantic"):
        assert internal not in detail
    return detail


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b'{"sql": "SELECT 1"', "The request body is not valid JSON."),
        (b'{"sql": "SELECT 1", "limit": 3}', "The field 'limit' is not one this request takes."),
        (b'{"sql": 3}', "In the body 'sql': input should be a valid string."),
        (b"{}", "The request lacks the body 'sql'."),
        (b'["SELECT 1"]', None),
    ],
)
def test_bad_bodies_are_one_sentence_4xx(api: Running, body: bytes, sentence: str | None) -> None:
    with api.client() as c:
        response = c.post("/v1/sql", content=body, headers={"content-type": "application/json"})
    detail = assert_problem(response, 422)
    if sentence:
        assert detail == sentence


def test_wrong_query_types_and_unknown_paths_are_problems(api: Running) -> None:
    with api.client() as c:
        assert "limit" in assert_problem(c.get("/v1/datasets", params={"limit": "many"}), 422)
        assert_problem(c.get("/v1/datasets", params={"limit": 0}), 422)
        assert_problem(c.get("/v1/nowhere"), 404)
        assert_problem(c.delete("/v1/datasets"), 405)


def test_a_body_over_the_limit_is_413_whether_sized_or_streamed(api: Running) -> None:
    big = b'{"sql": "' + b"x" * (2**20 + 10) + b'"}'
    with api.client() as c:
        sized = c.post("/v1/sql", content=big, headers={"content-type": "application/json"})
        streamed = c.post(
            "/v1/sql",
            content=(big[i : i + 65536] for i in range(0, len(big), 65536)),
            headers={"content-type": "application/json"},
        )
    assert "larger than the limit" in assert_problem(sized, 413)
    assert "larger than the limit" in assert_problem(streamed, 413)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer hvt_nothing", "Bearer hvt_abcdefghij_" + "x" * 40, "Basic YWxpY2U6cHc=", "Bearer"],
)
def test_a_bad_token_is_401_with_a_bearer_challenge(api: Running, authorization: str) -> None:
    with httpx.Client(base_url=api.url, headers={"Authorization": authorization}) as c:
        response = c.get(f"/v1/datasets/{PUBLIC}")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoked_and_expired_tokens_say_so(api: Running, tokens: dict[str, str]) -> None:
    with api.client(tokens["revoked"]) as c:
        assert "revoked" in assert_problem(c.get("/v1/me"), 401)
    with api.client(tokens["expired"]) as c:
        assert "expired" in assert_problem(c.get("/v1/me"), 401)


@pytest.fixture
def strict(home: Workspace, tokens: dict[str, str]) -> Iterator[Running]:
    running = serve(home, Settings(rate=0.5, burst=3))
    yield running
    running.stop()


def test_a_caller_over_its_rate_gets_429_with_retry_after(
    strict: Running, tokens: dict[str, str]
) -> None:
    with strict.client(tokens["reader"]) as bob, strict.client(tokens["other"]) as carol:
        codes = [bob.get("/v1/me").status_code for _ in range(4)]
        limited = bob.get("/v1/me")
        served = carol.get("/v1/me")  # another token has its own bucket
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    assert "Too many requests" in assert_problem(limited, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert served.status_code == 200


def test_an_unexpected_failure_is_a_generic_500_logged_on_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("Catalog Error: table harvest.tokens has no column secret")

    running = serve_app(app)
    try:
        response = httpx.get(f"{running.url}/boom")
    finally:
        running.stop()
    detail = assert_problem(response, 500)
    assert "harvest.tokens" not in response.text and "logged" in detail
    assert "harvest.tokens" in caplog.text


def test_harvest_serve_refuses_a_public_host_without_users_and_serves_loopback(
    workspace: Workspace,
) -> None:
    argv = [sys.executable, "-m", "harvest", "--home", str(workspace.home), "serve"]
    refused = subprocess.run(
        [*argv, "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "This workspace has no users" in refused.stderr + refused.stdout
    port = free_port()
    server = subprocess.Popen(
        [*argv, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline, me = time.monotonic() + 60, None
        while me is None and time.monotonic() < deadline:
            try:
                me = httpx.get(f"http://127.0.0.1:{port}/v1/me", timeout=5).json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert me == {"user": None, "admin": True, "scopes": ["read", "train", "write"],
                      "organisations": {}}  # fmt: skip
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
        assert "/v1/datasets/{name}/versions/{version}/rows" in docs["paths"]
    finally:
        server.terminate()
        server.wait(timeout=30)
