"""Fixtures of the delivery tests: a catalog with a small keyed dataset, and a loopback
webhook receiver whose behaviour each test scripts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest

from catalog import Catalog
from core import services
from core.services import ObjectStore
from delivery.run import Settings
from delivery.webhooks import RetryPolicy

FAST = RetryPolicy(attempts=4, base_seconds=0.05, cap_seconds=0.2, timeout_seconds=1.0)


def products(day: int) -> pa.Table:
    """Day 1: ids 1-5; day 2: id 1 is gone, id 2's price changed, id 6 is new."""
    rows = {i: 10.0 * i for i in range(1, 6)}
    if day >= 2:
        del rows[1]
        rows[2] = 99.0
        rows[6] = 60.0
    return pa.table({"id": list(rows), "price": list(rows.values())})


@pytest.fixture
def shop(catalog: Catalog) -> Catalog:
    """The catalog with ``raw.shop@1``."""
    catalog.commit("raw.shop", products(1), producer="test", key=["id"])
    return catalog


def settings(**changes: object) -> Settings:
    return Settings.from_environment(**{"policy": FAST, **changes})


@dataclass
class Receiver:
    """A loopback webhook receiver: answers with ``script``'s statuses in turn (then 200),
    waiting ``delay`` seconds before each answer, and keeps what it received."""

    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes, float]] = field(default_factory=list)
    url: str = ""

    def events(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body, _ in self.received]


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: list[int] | None = None, delay: float = 0.0) -> Receiver:
        made = Receiver(list(script or []), delay)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(made.delay)
                with lock:
                    status = made.script.pop(0) if made.script else 200
                    if status == 200:
                        made.received.append((dict(self.headers), body, time.time()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        made.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        return made

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A real S3 server on loopback (``rclone serve s3``, as `harvest services up` starts it)
    with its bucket ``harvest``."""
    store = services._start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield store
    finally:
        services._terminate(store.pid)


@pytest.fixture
def s3_secret(s3_server: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings of secret ``drop`` pointing at the S3 server (also set in the environment)."""
    values = {
        "HARVEST_SECRET_DROP_ENDPOINT": s3_server.endpoint,
        "HARVEST_SECRET_DROP_KEY_ID": s3_server.key_id,
        "HARVEST_SECRET_DROP_SECRET": s3_server.secret,
        "HARVEST_SECRET_DROP_USE_SSL": "false",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def bucket_keys(store: ObjectStore, prefix: str) -> dict[str, bytes]:
    """Every object a client sees under ``prefix`` in the bucket, with its bytes."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=f"http://{store.endpoint}", aws_access_key_id=store.key_id,
        aws_secret_access_key=store.secret, region_name=services.REGION,
    )  # fmt: skip
    listed = client.list_objects_v2(Bucket=services.BUCKET, Prefix=prefix).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=services.BUCKET, Key=item["Key"])["Body"].read()
        for item in listed
    }
