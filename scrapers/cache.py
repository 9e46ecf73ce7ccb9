"""The per-source HTTP cache: one SQLite file, one row per request, written in batches.

Scrapy's filesystem storage writes seven files per response, which costs more than the
crawl itself on a busy disk; this storage writes one row and commits every
``BATCH`` responses (and when the spider closes), so caching every page is nearly free.
Rows are keyed by Scrapy's request fingerprint and hold what ``response_from_dict``
needs to rebuild the response. What is served from it, and when, is the cache
*policy*'s business (``scrapers.middlewares.RevalidatePolicy`` or, for ``--replay``,
Scrapy's ``DummyPolicy``).
"""

from __future__ import annotations

import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from w3lib.http import headers_dict_to_raw, headers_raw_to_dict

FILE = "http-cache.sqlite"
BATCH = 200
_SCHEMA = """CREATE TABLE IF NOT EXISTS responses (
    fingerprint BLOB PRIMARY KEY, stored_at REAL, url TEXT, status INTEGER,
    headers BLOB, body BLOB, extra BLOB)"""


class SqliteCacheStorage:
    """A Scrapy ``HTTPCACHE_STORAGE`` keeping responses in ``HTTPCACHE_DIR/http-cache.sqlite``."""

    def __init__(self, settings: Any) -> None:
        self.path = Path(settings["HTTPCACHE_DIR"]) / FILE
        self.expiration_secs = settings.getint("HTTPCACHE_EXPIRATION_SECS")
        self.db: sqlite3.Connection | None = None
        self.pending = 0

    def open_spider(self, spider: Spider) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(
            self.path, timeout=60, isolation_level=None, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(_SCHEMA)
        self._fingerprinter = spider.crawler.request_fingerprinter
        self.db.execute("BEGIN")

    def close_spider(self, spider: Spider) -> None:
        if self.db is not None:
            self.db.execute("COMMIT")
            self.db.close()
            self.db = None

    def retrieve_response(self, spider: Spider, request: Request) -> Response | None:
        assert self.db is not None
        row = self.db.execute(
            "SELECT stored_at, url, status, headers, body, extra FROM responses WHERE fingerprint = ?",
            [self._fingerprinter.fingerprint(request)],
        ).fetchone()
        if row is None:
            return None
        stored_at, url, status, raw_headers, body, extra = row
        if 0 < self.expiration_secs < time.time() - stored_at:
            return None
        headers = Headers(headers_raw_to_dict(raw_headers))
        kind = responsetypes.from_args(headers=headers, url=url, body=body)
        request.meta["cache_timestamp"] = stored_at
        response: Response = kind(
            url=url, status=status, headers=headers, body=body, **pickle.loads(extra)
        )
        return response

    def store_response(self, spider: Spider, request: Request, response: Response) -> None:
        assert self.db is not None
        extra = {
            k: v
            for k, v in response.to_dict().items()
            if k in ("flags", "certificate", "ip_address", "protocol")
        }
        self.db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                self._fingerprinter.fingerprint(request),
                time.time(),
                response.url,
                response.status,
                headers_dict_to_raw(response.headers),
                response.body,
                pickle.dumps(extra),
            ],
        )
        self.pending += 1
        if self.pending >= BATCH:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")
            self.pending = 0
