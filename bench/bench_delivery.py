"""Delivery: a 1M-row version delivered to the S3 server (``rclone serve s3``, as `harvest
services up` starts it) ÷ boto3 uploading the same Parquet file directly; and 1,000 webhook
events (a thousand subscribers of one new version) to a loopback receiver: events a second and
the p99 delay from the version's commit to the receipt."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.common import Figure, ratio
from catalog import Catalog
from catalog.subscriptions import Subscription, Subscriptions
from core import services
from core.services import ObjectStore
from delivery.run import Settings, deliver_pending
from delivery.webhooks import RetryPolicy

ROWS = 1_000_000
EVENTS = 1_000


def _table(rows: int) -> pa.Table:
    """Rows like a scraped shop's products: a key, prices and stock, a URL, a name and a short
    description (text that does not compress away, as real descriptions do not)."""
    ids = np.arange(rows)
    words = np.array(["red", "oak", "lamp", "steel", "soft", "blue", "desk", "wool", "tall",
                      "mini", "chair", "glass", "linen", "round", "pack", "set"])  # fmt: skip
    picks = np.random.default_rng(7).integers(0, len(words), size=(rows, 12))
    text = [" ".join(row) for row in words[picks]]
    return pa.table({
        "id": ids,
        "name": pa.array([f"product {i}" for i in range(rows)]),
        "url": pa.array([f"https://shop.example/p/{i}" for i in range(rows)]),
        "price": (ids % 9973) * 0.37,
        "stock": ids % 17,
        "description": pa.array(text),
    })  # fmt: skip


@contextmanager
def _s3(folder: Path) -> Iterator[ObjectStore]:
    store = services._start_s3(folder)
    try:
        yield store
    finally:
        services._terminate(store.pid)


def _bucket_figure(catalog: Catalog, store: ObjectStore) -> Figure:
    import boto3

    environ = {
        "HARVEST_SECRET_BENCH_ENDPOINT": f"http://{store.endpoint}",
        "HARVEST_SECRET_BENCH_KEY_ID": store.key_id,
        "HARVEST_SECRET_BENCH_SECRET": store.secret,
    }
    settings = Settings(environ=environ)
    subs = Subscriptions(catalog)
    version = catalog.version("raw.bench")
    [plain] = catalog.plain_files(version)
    client = boto3.client("s3", endpoint_url=f"http://{store.endpoint}", region_name="us-east-1",
                          aws_access_key_id=store.key_id, aws_secret_access_key=store.secret)  # fmt: skip
    harvest, baseline = [], []
    for attempt in range(3):
        name = f"bench-{attempt}"
        subs.add(Subscription(name, "raw.bench", f"s3://{services.BUCKET}/delivered/{attempt}",
                              secret="bench", first_version=version.number))  # fmt: skip
        start = time.perf_counter()
        client.upload_file(plain, services.BUCKET, f"direct/{attempt}/part-00000.parquet")
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        [done] = deliver_pending(catalog, only=name, settings=settings)
        harvest.append(time.perf_counter() - start)
        assert done.status == "delivered", done.last_error
    size = Path(plain).stat().st_size
    figure = ratio(f"Deliver a {ROWS:,}-row version to S3 ÷ boto3 upload_file of its Parquet",
                   min(harvest), min(baseline), goal=1.3)  # fmt: skip
    return Figure(**{**figure.__dict__, "detail": f"{figure.detail}, {size / 2**20:.0f} MiB"})


def _receiver() -> tuple[ThreadingHTTPServer, list[float]]:
    received: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def _webhook_figures(catalog: Catalog) -> list[Figure]:
    server, received = _receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    subs = Subscriptions(catalog)
    catalog.commit(
        "raw.events", pa.table({"id": [1, 2], "v": [1, 2]}), producer="bench", key=["id"]
    )
    for i in range(EVENTS):
        subs.add(Subscription(f"hook-{i:04d}", "raw.events", url, first_version=2))
    committed = catalog.commit(
        "raw.events", pa.table({"id": [1, 3], "v": [5, 3]}), producer="bench"
    )
    landed = committed.version.created_at.timestamp()
    start = time.perf_counter()
    done = deliver_pending(catalog, settings=Settings(policy=RetryPolicy(timeout_seconds=30)))
    took = time.perf_counter() - start
    server.shutdown()
    server.server_close()
    assert len(done) == EVENTS and all(d.status == "delivered" for d in done)
    retried = sum(d.attempts - 1 for d in done)
    delays = sorted(t - landed for t in received)
    p99 = delays[int(len(delays) * 0.99) - 1]
    return [
        Figure(
            f"{EVENTS:,} webhook events to a loopback receiver",
            EVENTS / took,
            "events/s",
            detail=f"{took:.1f}s in all, each recorded in the catalog, {retried} retries",
        ),
        Figure(
            "Webhook p99 delay from the version's commit to receipt",
            p99,
            "s",
            detail=f"median {delays[len(delays) // 2]:.2f}s",
        ),
    ]


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp, Catalog.open(Path(tmp) / "home") as catalog:
        catalog.commit("raw.bench", _table(ROWS), producer="bench", key=["id"])
        with _s3(Path(tmp) / "s3") as store:
            figures = [_bucket_figure(catalog, store)]
        return figures + _webhook_figures(catalog)
