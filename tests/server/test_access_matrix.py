"""The access matrix: every kind of caller against public, private and gated datasets on every
dataset endpoint (SQL included) and on models, before and after a grant and after a revoke.

A dataset the caller may not read must not exist for them: the same 404 body as a name that
never existed, absent from listings, counts, lineage, SQL and model cards.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.conftest import DERIVED, GATED, MISSING, PRIVATE, PUBLIC, Running

ROLES = ("anonymous", "owner", "reader", "maintainer", "other", "revoked", "expired")
MEMBERS = ("owner", "reader", "maintainer")  # of acme, which owns every dataset
# each dataset endpoint, and whether it needs read access (else seeing the listing is enough)
ENDPOINTS = {
    "card": ("/v1/datasets/{name}", False),
    "versions": ("/v1/datasets/{name}/versions", False),
    "lineage": ("/v1/datasets/{name}/versions/1/lineage", False),
    "requests": ("/v1/datasets/{name}/access-requests", False),
    "version": ("/v1/datasets/{name}/versions/1", True),
    "quality": ("/v1/datasets/{name}/versions/1/quality", True),
    "rows": ("/v1/datasets/{name}/versions/1/rows?limit=2", True),
    "download": ("/v1/datasets/{name}/versions/latest/download?format=csv", True),
    "diff": ("/v1/datasets/{name}/diff?before=1&after=1", True),
}


def client(api: Running, tokens: dict[str, str], role: str) -> httpx.Client:
    return api.client(None if role == "anonymous" else tokens[role])


def expected(role: str, dataset: str, needs_read: bool) -> int:
    if role in ("revoked", "expired"):
        return 401
    if dataset == PUBLIC or role in MEMBERS:
        return 200
    if dataset == GATED:
        return 403 if needs_read else 200
    return 404


def calls(c: httpx.Client, name: str) -> dict[str, httpx.Response]:
    found = {what: c.get(path.format(name=name)) for what, (path, _) in ENDPOINTS.items()}
    found["sql"] = c.post("/v1/sql", json={"sql": f"SELECT count(*) AS n FROM {name}@1"})
    return found


def renamed(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``body`` with the name ``old`` (and its unqualified part) written as ``new``."""

    def swap(text: str) -> str:
        text = text.replace(old, new)
        return text.replace(old.split(".")[-1], new.split(".")[-1])

    return {k: swap(v) if isinstance(v, str) else v for k, v in body.items()}


@pytest.mark.parametrize("dataset", [PUBLIC, PRIVATE, GATED])
@pytest.mark.parametrize("role", ROLES)
def test_every_dataset_endpoint_answers_as_the_rules_say(
    api: Running, tokens: dict[str, str], role: str, dataset: str
) -> None:
    with client(api, tokens, role) as c:
        got = calls(c, dataset)
        never = calls(c, MISSING)
    want = {what: expected(role, dataset, read) for what, (_, read) in ENDPOINTS.items()}
    may_read = expected(role, dataset, True) == 200
    want["sql"] = 401 if role in ("revoked", "expired") else 200 if may_read else 400
    assert {what: r.status_code for what, r in got.items()} == want
    for what, response in got.items():
        if response.status_code in (400, 404):  # exactly what a name that never existed gets
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json() == renamed(never[what].json(), MISSING, dataset), what
            assert never[what].status_code == response.status_code
        if response.status_code == 401:
            assert response.headers["www-authenticate"] == "Bearer"
    if want["rows"] == 200:
        assert got["sql"].json()["rows"][0]["n"] == got["rows"].json()["total"]


@pytest.mark.parametrize("role", ROLES)
def test_listings_counts_lineage_and_models_hold_only_what_the_caller_may_see(
    api: Running, tokens: dict[str, str], role: str
) -> None:
    with client(api, tokens, role) as c:
        listing = c.get("/v1/datasets", params={"limit": 100})
        searched = c.get("/v1/datasets", params={"q": "iris"})
        lineage = c.get(f"/v1/datasets/{DERIVED}/versions/1/lineage")
        card = c.get(f"/v1/datasets/{DERIVED}")
        models = c.get("/v1/models")
        secret_model = c.get("/v1/models/iris_secret/card")
        never_model = c.get("/v1/models/iris_nothing/card")
        predict = c.post(
            "/v1/models/iris_secret/predict", json={"records": [{"sepal_length": 5.0}]}
        )
    if role in ("revoked", "expired"):
        assert {listing.status_code, lineage.status_code, models.status_code} == {401}
        return
    names = [d["name"] for d in listing.json()["items"]]
    member = role in MEMBERS
    assert set(names) == {PUBLIC, GATED, DERIVED} | ({PRIVATE} if member else set())
    assert listing.json()["total"] == len(names)
    found = sorted(d["name"] for d in searched.json()["items"])
    assert found == ([PUBLIC, PRIVATE] if member else [PUBLIC])
    assert searched.json()["total"] == len(found)
    ancestors = [v["ref"] for v in lineage.json()["ancestors"]]
    assert sorted(ancestors) == sorted([f"{PUBLIC}@1"] + ([f"{PRIVATE}@1"] if member else []))
    assert sorted(card.json()["latest"]["parents"]) == sorted(ancestors)
    assert [m["name"] for m in models.json()] == ["iris_open"] + (["iris_secret"] if member else [])
    if member:
        assert secret_model.status_code == 200 and predict.status_code == 200
        assert secret_model.json()["data"]["dataset"] == PRIVATE
    else:
        assert secret_model.status_code == predict.status_code == 404
        assert secret_model.json() == renamed(never_model.json(), "iris_nothing", "iris_secret")
        for response in (listing, searched, lineage, card, models):
            assert PRIVATE not in response.text and "iris_secret" not in response.text


def test_a_grant_opens_a_gated_dataset_and_a_revoke_closes_it(
    api: Running, tokens: dict[str, str]
) -> None:
    reads = [path for path, read in ENDPOINTS.values() if read]
    carol, mia, bob = (api.client(tokens[r]) for r in ("other", "maintainer", "reader"))
    anonymous = api.client()

    def carol_reads() -> set[int]:
        codes = {carol.get(path.format(name=GATED)).status_code for path in reads}
        sql = carol.post("/v1/sql", json={"sql": f"SELECT * FROM {GATED}"}).status_code
        return codes | {sql}

    assert carol_reads() == {403, 400}
    path = f"/v1/datasets/{GATED}/access-requests"
    unlicensed = carol.post(path, json={"reason": "research"})
    assert unlicensed.status_code == 422 and "licence" in unlicensed.json()["detail"]
    assert anonymous.post(path, json={"reason": "x", "license_accepted": True}).status_code == 401
    asked = carol.post(path, json={"reason": "research", "license_accepted": True})
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    request_id = asked.json()["id"]
    assert [r["id"] for r in mia.get(path).json()] == [request_id]
    assert [r["id"] for r in carol.get(path).json()] == [request_id]
    assert bob.get(path).json() == []  # a reader does not see others' requests
    by_reader = bob.post(f"/v1/access-requests/{request_id}/grant")  # not his to see
    assert by_reader.status_code == 404 and by_reader.json()["detail"] == (
        f"There is no access request '{request_id}'."
    )
    assert carol.post(f"/v1/access-requests/{request_id}/grant").status_code == 403
    assert carol_reads() == {403, 400}
    granted = mia.post(f"/v1/access-requests/{request_id}/grant")
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    assert carol_reads() == {200}
    rows = carol.get(f"/v1/datasets/{GATED}/versions/1/rows").json()["rows"]
    assert [r["word"] for r in rows] == ["a", "b", "c"]
    again = mia.post(f"/v1/access-requests/{request_id}/refuse")
    assert again.status_code == 422 and "already granted" in again.json()["detail"]
    assert bob.delete(f"/v1/datasets/{GATED}/grants/carol").status_code == 403
    revoked = mia.delete(f"/v1/datasets/{GATED}/grants/carol")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}
    assert carol_reads() == {403, 400}
    second = carol.post(path, json={"reason": "again", "license_accepted": True}).json()
    refused = mia.post(f"/v1/access-requests/{second['id']}/refuse")
    assert refused.json()["status"] == "refused" and carol_reads() == {403, 400}
    for c in (carol, mia, bob, anonymous):
        c.close()


def test_a_private_dataset_cannot_be_asked_for_or_granted_by_an_outsider(
    api: Running, tokens: dict[str, str]
) -> None:
    with api.client(tokens["other"]) as carol:
        asked = carol.post(f"/v1/datasets/{PRIVATE}/access-requests", json={"reason": "let me in"})
        never = carol.post(f"/v1/datasets/{MISSING}/access-requests", json={"reason": "let me in"})
        assert asked.status_code == 404
        assert asked.json() == renamed(never.json(), MISSING, PRIVATE)
        assert carol.delete(f"/v1/datasets/{PRIVATE}/grants/carol").status_code == 404
        assert carol.post("/v1/access-requests/nope/grant").status_code == 404
