"""The shared crawl frontier: 2,000 demo pages with 2 workers ÷ 1 worker, on the same frontier.

Both crawls run the same Harvest source (the HTTP benchmark's spec from
``bench_scrapers``: fields, JSON-LD, landing parts, one catalog commit) through
``scrapers.shared.scrape_shared`` on a redis-server started for the run on a loopback
port, so the only difference is the number of worker processes. The demo site runs in its
own process. Goal: throughput ratio ≥ 1.6. The figure depends on free cores: each worker is
a crawl process and a page-parser process, and the site takes one more.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import yaml

from bench.bench_scrapers import PAGES, _http_spec, _sitemap_urls, _timed
from bench.common import Figure
from core.workspace import Workspace
from demo_site import DemoSiteProcess


def run() -> list[Figure]:
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: the frontier figure is skipped")
        return []
    with (
        DemoSiteProcess(scale=5) as site,
        tempfile.TemporaryDirectory() as tmp,
        _redis(Path(tmp)) as url,
    ):
        site.warm()
        urls = _sitemap_urls(site.url)[:PAGES]
        spec = Path(tmp) / "bench_pages.yaml"
        spec.write_text(yaml.safe_dump(_http_spec(urls, autothrottle=False)))
        one: list[float] = []
        two: list[float] = []
        for attempt in range(2):
            one.append(_timed(partial(_crawl, spec, Path(tmp) / f"one{attempt}", 1, url)))
            two.append(_timed(partial(_crawl, spec, Path(tmp) / f"two{attempt}", 2, url)))
    one_s, two_s = min(one), min(two)
    return [
        Figure(
            name=f"Shared frontier, {PAGES} pages: 2 workers ÷ 1 worker (throughput)",
            value=one_s / two_s,
            goal=1.6,
            op=">=",
            detail=f"2 workers {PAGES / two_s:.0f} pages/s ({two_s:.2f}s), 1 worker "
            f"{PAGES / one_s:.0f} pages/s ({one_s:.2f}s), {os.cpu_count()} cores",
        )
    ]


def _crawl(spec: Path, home: Path, workers: int, url: str) -> None:
    from scrapers.shared import scrape_shared

    result = scrape_shared(spec, Workspace.at(home), workers=workers, redis_url=url)
    if result.run.status != "committed" or result.run.items < PAGES * 0.99:
        raise RuntimeError(f"the benchmark crawl did not commit all pages: {result.run}")


@contextmanager
def _redis(folder: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), *options], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.3)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
