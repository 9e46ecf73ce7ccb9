"""The bundled demo site: a web shop and a magazine generated from a seed, for ``harvest
demo``, the tests and the benchmarks to crawl (no scraper depends on it).

Served on 127.0.0.1 by aiohttp, the same on every run for the same seed and day. Its
routes, selectors and expected counts are documented in ``docs/demo_site.md``.

>>> with serve_demo_site(day=1) as site:
...     site.url            # http://127.0.0.1:<free port>
...     site.set_day(2)     # prices, stock and reviews move
"""

from __future__ import annotations

from demo_site.app import create_app
from demo_site.model import DemoData
from demo_site.server import DemoSite, DemoSiteProcess, serve_demo_site, serve_forever

__all__ = [
    "DemoData",
    "DemoSite",
    "DemoSiteProcess",
    "create_app",
    "serve_demo_site",
    "serve_forever",
]
