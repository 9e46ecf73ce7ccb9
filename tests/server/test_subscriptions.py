"""``/v1/subscriptions``: a caller subscribes a webhook to what they may read, sees and changes
only their own, may not write folders or buckets, and a webhook event's signed download link
works without a token until it expires or is altered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from catalog import Catalog
from catalog.access import Accounts
from catalog.links import signature as link_signature
from delivery.run import deliver_pending
from server.app import create_app
from tests.delivery.conftest import Receiver, products, settings
from tests.delivery.conftest import receiver as receiver  # the fixture


@pytest.fixture
def api(catalog: Catalog) -> Iterator[tuple[TestClient, dict[str, str]]]:
    catalog.commit("raw.shop", products(1), producer="test", key=["id"])
    catalog.commit("raw.hidden", products(1), producer="test", key=["id"])
    accounts = Accounts(catalog)
    tokens = {}
    for user in ("ann", "bob"):
        accounts.add_user(user)
        tokens[user] = accounts.create_token(user)[0]
    accounts.set_access("raw.hidden", owner="bob", visibility="private")
    with TestClient(create_app(catalog.workspace)) as client:
        yield client, {u: f"Bearer {t}" for u, t in tokens.items()}


def test_a_reader_subscribes_a_webhook_and_sees_only_their_own(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    made = client.post("/v1/subscriptions", headers={"Authorization": auth["ann"]},
                       json={"dataset": "raw.shop", "target": "https://example.test/hook"})  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["subscriber"], body["status"]) == ("ann-raw-shop", "ann", "active")
    assert body["signing_key"].startswith("whsec_")
    mine = client.get("/v1/subscriptions", headers={"Authorization": auth["ann"]}).json()
    assert [s["name"] for s in mine] == ["ann-raw-shop"]
    assert client.get("/v1/subscriptions", headers={"Authorization": auth["bob"]}).json() == []
    assert client.get("/v1/subscriptions/ann-raw-shop",
                      headers={"Authorization": auth["bob"]}).status_code == 404  # fmt: skip
    paused = client.post(
        "/v1/subscriptions/ann-raw-shop/pause", headers={"Authorization": auth["ann"]}
    )
    assert paused.json()["status"] == "paused"
    deliveries = client.get("/v1/subscriptions/ann-raw-shop/deliveries",
                            headers={"Authorization": auth["ann"]})  # fmt: skip
    assert deliveries.json() == []
    gone = client.delete("/v1/subscriptions/ann-raw-shop", headers={"Authorization": auth["ann"]})
    assert gone.status_code == 204


def test_what_a_caller_may_not_subscribe(api: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = api
    ann = {"Authorization": auth["ann"]}
    hidden = client.post("/v1/subscriptions", headers=ann,
                         json={"dataset": "raw.hidden", "target": "https://example.test/h"})  # fmt: skip
    assert hidden.status_code == 404 and "There is no dataset 'raw.hidden'" in hidden.text
    folder = client.post("/v1/subscriptions", headers=ann,
                         json={"dataset": "raw.shop", "target": "/tmp/anything"})  # fmt: skip
    assert folder.status_code == 403 and "only the workspace's administrator" in folder.text
    anonymous = client.post("/v1/subscriptions",
                            json={"dataset": "raw.shop", "target": "https://example.test/h"})  # fmt: skip
    assert anonymous.status_code == 403


def test_the_events_download_link_works_until_altered_or_expired(
    api: tuple[TestClient, dict[str, str]], catalog: Catalog, receiver: Callable[..., Receiver]
) -> None:
    client, auth = api
    got = receiver()
    client.post("/v1/subscriptions", headers={"Authorization": auth["bob"]},
                json={"dataset": "raw.hidden", "target": got.url})  # fmt: skip
    [done] = deliver_pending(catalog, settings=settings())
    assert done.status == "delivered"
    link = urlsplit(got.events()[0]["download"]["url"])  # type: ignore[index]
    path = f"{link.path}?{link.query}&format=csv"
    given = dict(p.split("=") for p in link.query.split("&"))
    fetched = client.get(path)  # no token: the link is the permission
    assert fetched.status_code == 200 and fetched.text.startswith('"id","price"\n1,10')
    assert client.get(path.replace(given["signature"], "0" * 64)).status_code == 401
    assert client.get(path.replace(given["signature"], "é" * 3)).status_code == 401  # not 500
    assert client.get(path.replace("/versions/1/", "/versions/latest/")).status_code == 401
    expires = int(dict(p.split("=") for p in link.query.split("&"))["expires"])
    signature = link_signature(catalog.workspace, link.path, 1000)
    assert (
        client.get(
            path.replace(str(expires), "1000").replace(
                f"signature={dict(p.split('=') for p in link.query.split('&'))['signature']}",
                f"signature={signature}",
            )
        ).status_code
        == 401
    )  # signed, but long expired
