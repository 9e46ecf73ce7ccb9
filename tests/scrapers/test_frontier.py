"""Crawls shared by workers through a Redis frontier (a real redis-server on loopback):
every page once, one version, nothing lost or doubled when a worker is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog
from core.services import free_port
from core.workspace import Workspace
from demo_site import DemoSite
from scrapers.crawl import scrape
from scrapers.frontier import LEASE_ENV, REDIS_ENV, Frontier
from scrapers.frontier_scheduler import from_json, to_json
from scrapers.shared import scrape_shared
from tests.scrapers.conftest import write_spec

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (make installs it)"
)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the module's own, on a free loopback port, in a temporary folder."""
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), *options], stdout=subprocess.DEVNULL
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                Frontier(url, "probe")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def shop_spec(folder: Path, base_url: str, **keys: object) -> Path:
    """Two categories of the demo shop: listings, pagination and products (about 130 pages)."""
    spec: dict[str, object] = {
        "name": "shop",
        "start_urls": ["/shop/garden/", "/shop/kitchen/"],
        "follow": [{"css": "nav.pagination"}, {"css": ".listing .product-grid a.product-link"}],
        "item": {"fields": {"title": "h1"}},
        "key": ["_url"],
        "cache": False,
    }
    return write_spec(folder, base_url, **{**spec, **keys})


def committed_urls(home: Path) -> list[str]:
    with Catalog.open(home) as catalog:
        urls: list[str] = catalog.read("raw.shop").column("_url").to_pylist()
    return urls


@pytest.fixture(scope="module")
def reference(demo_site: DemoSite, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The pages one ordinary crawl (no frontier) of the same spec lands."""
    folder = tmp_path_factory.mktemp("reference")
    result = scrape(shop_spec(folder, demo_site.url), Workspace.at(folder / "home"))
    assert result.created
    urls = committed_urls(folder / "home")
    assert len(urls) > 50
    return set(urls)


def test_two_workers_crawl_every_page_once_into_one_version(
    redis_url: str, demo_site: DemoSite, reference: set[str], tmp_path: Path
) -> None:
    result = scrape_shared(
        shop_spec(tmp_path, demo_site.url),
        Workspace.at(tmp_path / "home"),
        workers=2,
        redis_url=redis_url,
    )
    assert result.run.status == "committed", result.run.message
    urls = committed_urls(tmp_path / "home")
    assert len(urls) == len(set(urls))  # nothing doubled
    assert set(urls) == reference  # nothing missing
    with Catalog.open(tmp_path / "home") as catalog:
        assert [v.number for v in catalog.versions("raw.shop")] == [1]
        assert set(catalog.read("raw.shop").column("_run_id").to_pylist()) == {result.run.run_id}
    assert not Frontier(redis_url, result.run.run_id).counts().seen  # its keys were removed


def test_a_killed_worker_loses_and_doubles_nothing(
    redis_url: str,
    demo_site: DemoSite,
    reference: set[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LEASE_ENV, "1.5")
    # one page every 20 ms across both workers: the crawl lasts long enough to kill one
    spec = shop_spec(tmp_path, demo_site.url, politeness={"delay": 0.02, "concurrency": 4})
    started: list[str] = []
    killed: list[int] = []

    def kill_one_worker() -> None:
        while not started:
            time.sleep(0.02)
        frontier = Frontier(redis_url, started[0])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if frontier.counts().seen >= 20 and len(frontier.workers()) == 2:
                pid = next(iter(frontier.workers().values()))["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    result = scrape_shared(
        spec,
        Workspace.at(tmp_path / "home"),
        workers=2,
        redis_url=redis_url,
        on_start=started.append,
    )
    killer.join()
    assert killed, "no worker was killed mid-crawl"
    assert result.run.status == "committed", result.run.message
    assert "killed by signal 9" in result.run.message
    expired = int(result.run.message.split("; ")[1].split()[0])
    assert expired >= 1  # its leases ran out and went back to the queue
    urls = committed_urls(tmp_path / "home")
    assert len(urls) == len(set(urls))
    assert set(urls) == reference


def harvest(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "harvest", "--home", str(home), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def test_more_than_one_worker_without_redis_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != REDIS_ENV}
    done = harvest(tmp_path / "home", env, "scrape", "products", "--workers", "2")
    assert done.returncode != 0
    assert "--workers 2 needs a Redis frontier to share: set HARVEST_REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "landing").exists() or not any(
        (tmp_path / "home" / "landing").iterdir()
    )


def test_joining_a_crawl_that_is_not_running_is_refused(redis_url: str, tmp_path: Path) -> None:
    env = {**os.environ, REDIS_ENV: redis_url}
    done = harvest(tmp_path / "home", env, "scrape-worker", "products", "--run", "no-such-run")
    assert done.returncode != 0
    assert "No crawl no-such-run is running on the frontier" in done.stderr


def test_requests_travel_as_json_and_come_back_with_their_callbacks() -> None:
    from scrapy import Request

    from scrapers.spider import SourceSpider
    from tests.scrapers.conftest import make_spec

    spider = SourceSpider(spec=make_spec())
    request = Request(
        "https://shop.example/a",
        method="POST",
        body=b"\x00\xffbinary",
        headers={"X-Test": "1"},
        callback=spider.parse_page,
        errback=spider.on_error,
        meta={"depth": 2, "harvest_lease": "7"},
    )
    data = to_json(request, spider)
    assert "harvest_lease" not in data["meta"]  # a lease is local to the worker that holds it
    back = from_json(data, spider)
    assert (back.url, back.method, back.body) == (request.url, "POST", b"\x00\xffbinary")
    assert back.headers.get("X-Test") == b"1"
    assert back.callback == spider.parse_page and back.errback == spider.on_error
    assert back.meta == {"depth": 2}


def test_an_expired_lease_goes_back_to_the_queue_and_politeness_is_shared(
    redis_url: str,
) -> None:
    first = Frontier(redis_url, "lease-test", "a")
    second = Frontier(redis_url, "lease-test", "b")
    try:
        assert first.push({"url": "https://x.example/1"}, "x.example", "f1", budget=10)
        assert not second.push({"url": "https://x.example/1"}, "x.example", "f1", budget=10)
        assert first.push({"url": "https://x.example/2"}, "x.example", "f2", budget=10)
        taken = first.take(lease_s=0.2, concurrency=1, delay_s=0)
        assert taken is not None and taken.request["url"] == "https://x.example/1"
        # concurrency 1 per domain holds across workers: b gets nothing while a holds one
        assert second.take(lease_s=5, concurrency=1, delay_s=0) is None
        time.sleep(0.3)  # a died: its lease expires and the request is b's to crawl
        again = second.take(lease_s=5, concurrency=1, delay_s=0)
        assert again is not None and again.request["url"] == "https://x.example/1"
        assert first.ack([(taken.id, "https://x.example/1")]) == 0  # a's lease is gone
        assert second.ack([(again.id, "https://x.example/1")]) == 1
        assert second.page_owners() == {"https://x.example/1": "b"}
        counts = second.counts()
        assert (counts.queued, counts.leased, counts.expired) == (1, 0, 1)
    finally:
        first.clear()
