"""Scraping benchmarks: Harvest crawls against bare Scrapy and bare Playwright, in one run.

1. HTTP throughput: 2,000 demo-site pages through a Harvest source (spider, field and
   JSON-LD extraction, pipelines, provenance, HTTP cache, landing file,
   catalog commit, child process) ÷ a bare Scrapy spider that only fetches and yields
   the same pages, both at the same concurrency (``CONCURRENT_REQUESTS`` and
   ``..._PER_DOMAIN``) and, like the bare spider, without AutoThrottle. Goal ≥ 0.85.
   The start URLs fill the page budget, and a spider stops extracting links once its
   budget is spent, so this figure does not include link discovery (about 0.3 ms a page
   for the three follow rules here, measured apart).
   The same crawl with AutoThrottle on (Harvest's default) is reported beside it.
2. Browser throughput: pages/s of a ``render: browser`` Harvest source ÷ a bare
   Playwright script loading the same pages with the same chromium, concurrency, wait
   and blocked resources. Goal ≥ 0.8.
3. Browser memory: peak resident memory of the crawl (crawler plus chromium processes)
   over 2,000 browser pages ÷ over 200. Goal ≤ 1.5.

The demo site runs in its own process (aiohttp, pages rendered ahead with ``warm``), so
serving is not what is measured.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import yaml

from bench.common import Figure
from core.workspace import Workspace
from demo_site import DemoSiteProcess
from scrapers.settings import CHROMIUM, CHROMIUM_ARGS

PAGES = 2_000
CONCURRENCY = 16
BROWSER_PAGES = int(os.environ.get("HARVEST_BENCH_BROWSER_PAGES", "2000"))
BROWSER_SMALL = BROWSER_PAGES // 10
BROWSER_CONCURRENCY = 4
WAIT_FOR = "#reviews[data-state=loaded], #reviews[data-state=error]"

BARE_SPIDER = textwrap.dedent(
    """
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = json.load(open(sys.argv[1]))

    class Bare(scrapy.Spider):
        name = "bare"
        start_urls = urls

        def parse(self, response):
            yield {"url": response.url}

    process = CrawlerProcess({
        "CONCURRENT_REQUESTS": int(sys.argv[2]),
        "CONCURRENT_REQUESTS_PER_DOMAIN": int(sys.argv[2]),
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    })
    process.crawl(Bare)
    process.start()
    """
)

BARE_PLAYWRIGHT = textwrap.dedent(
    """
    import asyncio, json, sys
    from playwright.async_api import async_playwright

    urls = json.load(open(sys.argv[1]))
    concurrency, wait_for = int(sys.argv[2]), sys.argv[3]
    blocked = {"image", "media", "font"}

    async def main():
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=sys.argv[4], headless=True, args=json.loads(sys.argv[5])
            )
            context = await browser.new_context()
            await context.route(
                "**", lambda route: route.abort() if route.request.resource_type in blocked else route.continue_()
            )
            queue = asyncio.Queue()
            for url in urls:
                queue.put_nowait(url)

            async def worker():
                while not queue.empty():
                    url = queue.get_nowait()
                    page = await context.new_page()
                    try:
                        await page.goto(url)
                        await page.wait_for_selector(wait_for, state="attached")
                        await page.content()
                    finally:
                        await page.close()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            await browser.close()

    asyncio.run(main())
    """
)


def run() -> list[Figure]:
    """Every scraping figure, measured side by side against its baseline."""
    return [*http_figures(), *browser_figures()]


# -- HTTP ------------------------------------------------------------------------------


def http_figures() -> list[Figure]:
    with DemoSiteProcess(scale=5) as site, tempfile.TemporaryDirectory() as tmp:
        site.warm()
        urls = _sitemap_urls(site.url)[:PAGES]
        folder = Path(tmp)
        like_for_like = folder / "bench_pages.yaml"
        like_for_like.write_text(yaml.safe_dump(_http_spec(urls, autothrottle=False)))
        defaults = folder / "bench_pages_throttled.yaml"
        defaults.write_text(yaml.safe_dump(_http_spec(urls, autothrottle=True)))
        url_file = folder / "urls.json"
        url_file.write_text(_json(urls))
        bare: list[float] = []
        harvest: list[float] = []
        throttled: list[float] = []
        for attempt in range(2):
            bare.append(_timed(lambda: _bare_scrapy(url_file)))
            home, throttled_home = folder / f"home{attempt}", folder / f"throttled{attempt}"
            harvest.append(_timed(partial(_harvest_scrape, like_for_like, home, PAGES)))
            throttled.append(_timed(partial(_harvest_scrape, defaults, throttled_home, PAGES)))
    bare_s = min(bare)
    return [
        _throughput(
            f"HTTP crawl of {PAGES} pages: Harvest source ÷ bare Scrapy (throughput)",
            min(harvest),
            bare_s,
            0.85,
        ),
        _throughput(
            "  the same with AutoThrottle on (Harvest's default)", min(throttled), bare_s, None
        ),
    ]


def _throughput(name: str, harvest_s: float, bare_s: float, goal: float | None) -> Figure:
    return Figure(
        name=name,
        value=bare_s / harvest_s,
        goal=goal,
        op=">=" if goal is not None else "",
        detail=f"harvest {PAGES / harvest_s:.0f} pages/s ({harvest_s:.2f}s), bare {PAGES / bare_s:.0f} pages/s ({bare_s:.2f}s), concurrency {CONCURRENCY}",
    )


def _http_spec(urls: list[str], autothrottle: bool) -> dict[str, object]:
    return {
        "name": "bench_pages",
        "start_urls": urls,
        "follow": [
            {"css": ".product-grid a.product-link"},
            {"css": "nav.pagination"},
            {"css": ".teasers a.teaser-link"},
        ],
        "limits": {"max_pages": len(urls), "depth": 2},
        "item": {
            "fields": {
                "title": "h1",
                "price": {"css": ".offer .price::text", "type": "price"},
                "sku": "dd.sku",
                "published": {"css": "time.published::attr(datetime)", "type": "date"},
            }
        },
        "extract": ["jsonld"],
        "key": ["_url"],
        "politeness": {
            "delay": 0,
            "concurrency": CONCURRENCY,
            "robots": True,
            "autothrottle": autothrottle,
        },
    }


def _bare_scrapy(url_file: Path) -> None:
    subprocess.run([sys.executable, "-c", BARE_SPIDER, str(url_file), str(CONCURRENCY)], check=True)


def _harvest_scrape(spec: Path, home: Path, pages: int) -> None:
    from scrapers.crawl import scrape

    result = scrape(spec, Workspace.at(home))
    if result.run.status != "committed" or result.run.pages < pages * 0.99:
        raise RuntimeError(f"the benchmark crawl did not commit all pages: {result.run}")


# -- browser ---------------------------------------------------------------------------


def browser_figures() -> list[Figure]:
    with (
        DemoSiteProcess(scale=BROWSER_PAGES // 450 + 1) as site,
        tempfile.TemporaryDirectory() as tmp,
    ):
        site.warm()
        big_urls = [u for u in _sitemap_urls(site.url) if "/shop/product/" in u][:BROWSER_PAGES]
        small_urls = big_urls[:BROWSER_SMALL]
        folder = Path(tmp)
        (folder / "urls.json").write_text(_json(big_urls))
        bare_s = _timed(lambda: _bare_playwright(folder / "urls.json"))
        _, small_peak = _browser_crawl(folder, "small", small_urls, site.pid)
        big, big_peak = _browser_crawl(folder, "big", big_urls, site.pid)
    return [
        Figure(
            name=f"Browser crawl of {len(big_urls)} pages: Harvest ÷ bare Playwright (pages/s)",
            value=bare_s / big,
            goal=0.8,
            op=">=",
            detail=f"harvest {len(big_urls) / big:.1f} pages/s ({big:.1f}s), bare {len(big_urls) / bare_s:.1f} pages/s ({bare_s:.1f}s), {BROWSER_CONCURRENCY} pages at once",
        ),
        Figure(
            name=f"Browser crawl peak memory: {len(big_urls)} pages ÷ {len(small_urls)} pages",
            value=big_peak / small_peak,
            goal=1.5,
            op="<=",
            detail=f"{big_peak / 2**20:.0f} MiB after {len(big_urls)}, {small_peak / 2**20:.0f} MiB after {len(small_urls)} (crawler + chromium)",
        ),
    ]


def _browser_spec(urls: list[str]) -> dict[str, object]:
    return {
        "name": "bench_browser",
        "start_urls": urls,
        "render": "browser",
        "wait_for": WAIT_FOR,
        "limits": {"max_pages": len(urls), "depth": 0},
        "item": {
            "fields": {"title": "h1", "reviews": {"css": "#reviews article.review", "many": True}}
        },
        "key": ["_url"],
        "politeness": {
            "delay": 0,
            "concurrency": BROWSER_CONCURRENCY,
            "robots": True,
            "autothrottle": False,  # like the bare script
        },
        "cache": False,
    }


def _browser_crawl(folder: Path, label: str, urls: list[str], site_pid: int) -> tuple[float, int]:
    spec = folder / f"bench_browser_{label}.yaml"
    spec.write_text(yaml.safe_dump(_browser_spec(urls)))
    with _peak_memory(exclude=site_pid) as peak:
        seconds = _timed(lambda: _harvest_scrape(spec, folder / f"home_{label}", len(urls)))
    return seconds, peak()


def _bare_playwright(url_file: Path) -> None:
    args = [
        sys.executable,
        "-c",
        BARE_PLAYWRIGHT,
        str(url_file),
        str(BROWSER_CONCURRENCY),
        WAIT_FOR,
        CHROMIUM,
        _json(list(CHROMIUM_ARGS)),
    ]
    subprocess.run(args, check=True)


# -- helpers ---------------------------------------------------------------------------


def _sitemap_urls(base: str) -> list[str]:
    with urllib.request.urlopen(f"{base}/sitemap.xml", timeout=60) as response:
        text = response.read().decode()
    return [
        re.sub(r"^https?://[^/]+", base, loc) for loc in re.findall(r"<loc>([^<]+)</loc>", text)
    ]


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def _peak_memory(exclude: int) -> Iterator[Callable[[], int]]:
    """Sample the resident memory of this process's descendants (but ``exclude``'s tree)."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], _descendants_rss(os.getpid(), exclude))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        sampler.join()


def _descendants_rss(root: int, exclude: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack = 0, [pid for pid in children.get(root, []) if pid != exclude]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) * 1024 if found else 0
    return total
