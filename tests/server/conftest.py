"""A real API server for the server tests: uvicorn on a free loopback port, in a thread, over a
workspace with public, private and gated datasets, two small trained models, and people in
every role the access rules know.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI

from catalog import Catalog, Listing
from catalog.access import Accounts
from core.services import free_port
from core.workspace import Workspace
from server.app import create_app
from server.deps import Services, Settings
from tests.training.conftest import bundled
from training.spec import spec_from_mapping
from training.train import train

SPECIES = {0: "setosa", 1: "versicolor", 2: "virginica"}
PUBLIC, PRIVATE, GATED = "imports.open", "imports.secret", "imports.gate"
DERIVED = "clean.mixed"  # made from a public and a private version
MISSING = "imports.nothing"
GATED_LICENCE = "CC-BY-NC-4.0"


@dataclass
class Running:
    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def services(self) -> Services:
        found: Services = self.app.state.services
        return found

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(workspace: Workspace, settings: Settings | None = None) -> Running:
    """Start the API over ``workspace`` with uvicorn on a free 127.0.0.1 port."""
    return serve_app(create_app(workspace, settings))


def serve_app(app: FastAPI) -> Running:
    """Start ``app`` with uvicorn on a free 127.0.0.1 port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    return Running(f"http://127.0.0.1:{port}", app, server, thread)


def iris() -> pd.DataFrame:
    return bundled("iris").assign(species=lambda f: f["target"].map(SPECIES)).drop(columns="target")


def _fill(workspace: Workspace) -> dict[str, str]:
    """Datasets, models and accounts; returns a token per role."""
    frame = iris()
    with Catalog.open(workspace) as catalog:
        first = catalog.commit(
            PUBLIC,
            frame,
            producer="user:test",
            key=("row_id",),
            listing=Listing(title="Open iris", tags=("flowers",), license="CC0-1.0"),
        )
        changed = frame.assign(sepal_length=frame["sepal_length"] + (frame["row_id"] == 0))
        catalog.commit(PUBLIC, changed.iloc[:-1], producer="user:test", message="one row less")
        catalog.commit(
            PRIVATE,
            frame,
            producer="user:test",
            key=("row_id",),
            listing=Listing(title="Secret iris", tags=("flowers",)),
        )
        catalog.commit(
            GATED,
            pd.DataFrame({"id": [1, 2, 3], "word": ["a", "b", "c"]}),
            producer="user:test",
            key=("id",),
            listing=Listing(title="Gated words", license=GATED_LICENCE),
        )
        catalog.commit(
            DERIVED,
            pd.DataFrame({"id": [1]}),
            producer="user:test",
            parents=(first.version.ref, f"{PRIVATE}@1"),
        )
        for name, dataset in (("iris_open", PUBLIC), ("iris_secret", PRIVATE)):
            spec = {"dataset": f"{dataset}@1", "target": "species", "name": name}
            train(spec_from_mapping({**spec, "families": ["linear"], "trials": 0}), catalog)
        accounts = Accounts(catalog)
        for user in ("alice", "bob", "mia", "carol", "rex", "eve"):
            accounts.add_user(user, password=f"{user}-password")
        accounts.add_org("acme", owner="alice")
        accounts.add_org("other", owner="carol")
        accounts.set_member("acme", "bob", "reader")
        accounts.set_member("acme", "mia", "maintainer")
        accounts.set_member("acme", "rex", "reader")
        accounts.set_member("acme", "eve", "reader")
        accounts.set_access(PUBLIC, owner="acme", visibility="public")
        accounts.set_access(PRIVATE, owner="acme", visibility="private")
        accounts.set_access(GATED, owner="acme", visibility="gated")
        tokens = {
            "owner": accounts.create_token("alice", ("read", "write", "train"))[0],
            "reader": accounts.create_token("bob")[0],
            "maintainer": accounts.create_token("mia")[0],
            "other": accounts.create_token("carol")[0],
        }
        revoked, record = accounts.create_token("rex")
        accounts.revoke_token(record.id)
        tokens["revoked"] = revoked
        tokens["expired"] = accounts.create_token("eve", lifetime=timedelta(seconds=1))[0]
    time.sleep(1.0)  # the expired token's second passes
    return tokens


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.at(tmp_path_factory.mktemp("api")).ensure()


@pytest.fixture(scope="session")
def tokens(home: Workspace) -> dict[str, str]:
    return _fill(home)


@pytest.fixture(scope="session")
def api(home: Workspace, tokens: dict[str, str]) -> Iterator[Running]:
    running = serve(home, Settings(rate=1000.0, burst=100_000))
    yield running
    running.stop()
