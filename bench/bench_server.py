"""Server benchmarks: the HTTP API against the same work done without it, side by side.

A real ``harvest serve`` runs in its own process on a loopback port over a workspace with a
1M-row dataset and a small iris model; the clients are httpx, kept alive as a real client
would be.

(a) downloading the 1M-row version as Parquet through the API (the whole stream received)
    ÷ reading the version's own Parquet file from disk with pyarrow: a throughput ratio;
(b) a single-record predict through the API, median and p99 latency added over the same
    predict in this process (the loaded model's ``predict_rows``);
(c) 50 concurrent clients listing datasets and reading rows for 20 s: errors (goal 0),
    requests a second and p99 latency;
(d) an aggregate over the 1M rows through ``POST /v1/sql`` ÷ plain DuckDB over the same file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq

from bench.bench_catalog import QUERY, sample_table
from bench.common import Figure, best_of_each, ratio
from catalog import Catalog
from catalog.importer import import_file
from catalog.samples import IRIS
from core.services import free_port
from core.workspace import Workspace

CLIENTS = 50
SECONDS = 20.0
PREDICTS = 400


def _prepare(home: Path) -> list[str]:
    """The dataset, the model, and a token per client (each client its own rate limit)."""
    from catalog.access import Accounts
    from training.spec import spec_from_mapping
    from training.train import train

    with Catalog.open(home) as catalog:
        catalog.commit("raw.sales", sample_table(), producer="bench")
        import_file(catalog, IRIS, "iris", key=("id",), producer="bench")
        spec = spec_from_mapping(
            {
                "name": "iris",
                "dataset": "imports.iris",
                "target": "species",
                "families": ["linear"],
                "time_budget": 5,
                "trials": 1,
            }
        )
        train(spec, catalog)
        accounts = Accounts(catalog)
        accounts.add_user("bench")
        return [accounts.create_token("bench")[0] for _ in range(CLIENTS + 1)]


def _serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harvest",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--rate",
            "1000",
            "--burst",
            "1000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/me", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("harvest serve did not start")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _download(url: str, home: Path, token: str) -> Figure:
    with Catalog.open(home) as catalog:
        files = [f.path for f in catalog.data_files("raw.sales@1")]

    def through_api() -> None:
        with httpx.stream(
            "GET",
            f"{url}/v1/datasets/raw.sales/versions/1/download?format=parquet",
            headers=_bearer(token),
            timeout=300,
        ) as answer:
            answer.raise_for_status()
            for _ in answer.iter_bytes(1 << 20):
                pass

    def from_disk() -> None:
        for file in files:
            pq.read_table(file)

    api_s, disk_s = best_of_each(through_api, from_disk, repeat=3)
    return Figure(
        "server: 1M-row Parquet download throughput ÷ reading the file",
        disk_s / api_s,
        goal=0.8,
        op=">=",
        detail=f"API {api_s:.3f}s, pyarrow from disk {disk_s:.3f}s",
    )


def _predict(url: str, home: Path, token: str) -> list[Figure]:
    from training.predict import load_model, predict_loaded

    with Catalog.open(home) as catalog:
        model = load_model(catalog, "iris")
        row = catalog.read("imports.iris", limit=1).to_pylist()[0]
        record = {name: row[name] for name in model.features}
        local, remote = [], []
        with httpx.Client(base_url=url, timeout=30, headers=_bearer(token)) as client:
            for _ in range(PREDICTS):
                start = time.perf_counter()
                predict_loaded(model, record)
                local.append(time.perf_counter() - start)
                start = time.perf_counter()
                answer = client.post("/v1/models/iris/predict", json={"records": [record]})
                remote.append(time.perf_counter() - start)
                answer.raise_for_status()
    added = (statistics.median(remote) - statistics.median(local)) * 1000
    return [
        Figure(
            "server: single-record predict, median latency added by the API",
            added,
            "ms",
            2.0,
            "<=",
            f"API median {statistics.median(remote) * 1000:.2f} ms, in-process "
            f"{statistics.median(local) * 1000:.2f} ms",
        ),
        Figure(
            "server: single-record predict, p99 latency through the API",
            _p(remote, 0.99) * 1000,
            "ms",
            detail=f"in-process p99 {_p(local, 0.99) * 1000:.2f} ms",
        ),
    ]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _crowd(url: str, tokens: list[str]) -> tuple[int, int, list[float]]:
    """``CLIENTS`` clients for ``SECONDS``, each listing datasets and reading rows in turn."""
    paths = ["/v1/datasets", "/v1/datasets/raw.sales/versions/1/rows?limit=50", "/v1/models"]
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + SECONDS

    async def client(number: int) -> None:
        nonlocal errors
        headers = _bearer(tokens[number])
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
            turn = number
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    answer = await http.get(paths[turn % len(paths)])
                    errors += answer.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - start)
                turn += 1

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return len(latencies), errors, latencies


def _concurrency(url: str, tokens: list[str]) -> list[Figure]:
    requests, errors, latencies = asyncio.run(_crowd(url, tokens))
    return [
        Figure(
            f"server: {CLIENTS} clients for {SECONDS:.0f} s, failed requests",
            errors,
            "",
            0,
            "<=",
            f"{requests} requests",
        ),
        Figure(f"server: {CLIENTS} clients, requests per second", requests / SECONDS, "/s"),
        Figure(f"server: {CLIENTS} clients, p99 latency", _p(latencies, 0.99) * 1000, "ms"),
    ]


def _sql(url: str, home: Path, token: str) -> Figure:
    with Catalog.open(home) as catalog:
        files = [f.path for f in catalog.data_files("raw.sales@1")]
    plain = duckdb.connect()
    source = f"read_parquet([{', '.join(repr(f) for f in files)}])"
    body = {"sql": QUERY.format("raw.sales"), "format": "arrow"}
    with httpx.Client(base_url=url, timeout=120, headers=_bearer(token)) as client:

        def through_api() -> None:
            client.post("/v1/sql", json=body).raise_for_status()

        def bare() -> None:
            plain.execute(QUERY.format(source)).fetch_arrow_table()

        through_api()  # the sandbox's worker starts and lists its views once
        api_s, bare_s = best_of_each(through_api, bare, repeat=5)
    return ratio(
        "server: SQL aggregate over 1M rows through the API ÷ plain DuckDB", api_s, bare_s, 1.3
    )


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        home = Workspace.at(Path(scratch) / "home").ensure().home
        tokens = _prepare(home)
        process, url = _serve(home)
        try:
            figures = [_download(url, home, tokens[-1]), *_predict(url, home, tokens[-1])]
            figures += [_sql(url, home, tokens[-1]), *_concurrency(url, tokens)]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    return figures
