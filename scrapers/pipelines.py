"""Item pipelines: media downloads and the landing file (the crawl's only writes).

- ``MediaImagesPipeline`` / ``MediaFilesPipeline``: Scrapy's Images/Files pipelines,
  driven by the spec's ``type: image`` / ``type: file`` fields. Files are stored under
  ``Workspace.media`` as ``images/<sha1 of content>.jpg`` and ``files/<sha1 of
  content><ext>``, so the same picture behind two URLs is stored once; the field gets
  that relative path (``<field>_url`` keeps where it came from). They are written through
  the workspace's file store (:class:`MediaStore`), so beside an S3 data path they go to S3.
- ``LandingPipeline``: adds the provenance columns and appends each record to
  ``items.jsonl`` in the landing folder.
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy import Request
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FilesPipeline
from scrapy.pipelines.images import ImagesPipeline

from core.objects import MEDIA, FileStore, file_store
from core.workspace import Workspace
from scrapers.items import PageRecord
from scrapers.landing import ItemWriter
from scrapers.settings import MEDIA_SCHEME
from scrapers.spec import SourceSpec

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


def _spec(info: Any) -> SourceSpec:
    spec: SourceSpec = info.spider.spec
    return spec


def _media_requests(item: PageRecord, spec: SourceSpec, kind: str) -> list[Request]:
    requests = []
    for name in spec.media_fields:
        if spec.item is None or spec.item.fields[name].type != kind:
            continue
        urls = item.row.get(f"{name}_url")
        for url in urls if isinstance(urls, list) else [urls]:
            if isinstance(url, str):
                requests.append(Request(url, callback=NO_CALLBACK, meta={"harvest_field": name}))
    return requests


def _with_paths(
    item: PageRecord, spec: SourceSpec, kind: str, results: list[tuple[bool, Any]], stats: Any
) -> PageRecord:
    stored = {r["url"]: r["path"] for ok, r in results if ok}
    stats.inc_value("harvest/media", len(stored))
    stats.inc_value("harvest/media_failed", sum(1 for ok, _ in results if not ok))
    row = dict(item.row)
    for name in spec.media_fields:
        if spec.item is None or spec.item.fields[name].type != kind:
            continue
        urls = row.get(f"{name}_url")
        if isinstance(urls, list):
            row[name] = [stored[u] for u in urls if isinstance(u, str) and u in stored]
        elif isinstance(urls, str):
            row[name] = stored.get(urls)
    return replace(item, row=row)


def _content_name(response: Response | None, request: Request) -> str:
    """The content hash when the body is known, else a URL hash (only used to look up)."""
    data = response.body if response is not None else request.url.encode()
    return hashlib.sha1(data).hexdigest()


class MediaStore:
    """Scrapy's files store over the workspace's file store: ``media/<path>`` in its home
    folder or on S3 (written in a thread, as Scrapy's own S3 store does)."""

    def __init__(self, uri: str) -> None:
        self.store: FileStore = file_store(Workspace.at(uri.removeprefix(f"{MEDIA_SCHEME}:")))

    def persist_file(
        self, path: str, buf: Any, info: Any, meta: Any = None, headers: Any = None
    ) -> Any:
        from twisted.internet.threads import deferToThread

        return deferToThread(self.store.write, f"{MEDIA}/{path}", buf.getvalue())

    def stat_file(self, path: str, info: Any) -> Any:
        from twisted.internet.threads import deferToThread

        def stat() -> dict[str, Any]:
            # looked up by URL hash, never stored: only a file named by content exists
            return {"last_modified": time.time()} if self.store.exists(f"{MEDIA}/{path}") else {}

        return deferToThread(stat)


class _SpecMedia:
    """What the two media pipelines share: the spec's fields of one ``kind`` give the
    requests, the stored paths go back into the record, and files are named by content."""

    STORE_SCHEMES: ClassVar[dict[str, Any]] = {
        **FilesPipeline.STORE_SCHEMES,
        MEDIA_SCHEME: MediaStore,
    }

    kind: str  # the field type this pipeline downloads
    folder: str  # where its files go, under the media folder
    crawler: Crawler

    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        return _media_requests(item, _spec(info), self.kind)

    def item_completed(self, results: Any, item: Any, info: Any) -> Any:
        return _with_paths(item, _spec(info), self.kind, results, self.crawler.stats)

    def file_path(
        self,
        request: Request,
        response: Response | None = None,
        info: Any = None,
        *,
        item: Any = None,
    ) -> str:
        return f"{self.folder}/{_content_name(response, request)}{self.suffix(request)}"

    def suffix(self, request: Request) -> str:
        raise NotImplementedError


class MediaImagesPipeline(_SpecMedia, ImagesPipeline):
    """Images of ``type: image`` fields, stored once per distinct content as JPEG."""

    kind, folder = "image", "images"

    def suffix(self, request: Request) -> str:
        return ".jpg"  # the images pipeline converts every image to JPEG


class MediaFilesPipeline(_SpecMedia, FilesPipeline):
    """Files of ``type: file`` fields, stored once per distinct content."""

    kind, folder = "file", "files"

    def suffix(self, request: Request) -> str:
        suffix = PurePosixPath(request.url.split("?", 1)[0]).suffix
        return suffix if suffix in mimetypes.types_map else ""


class LandingPipeline:
    """Writes each record, with its provenance columns, to the landing folder."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.folder = Path(settings["HARVEST_LANDING"])
        self.source: str = settings["HARVEST_SOURCE"]
        self.run_id: str = settings["HARVEST_RUN_ID"]
        self.writer: ItemWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        self.writer = ItemWriter(
            self.folder, line_buffered=bool(self.crawler.settings["HARVEST_FRONTIER"])
        )

    def close_spider(self, spider: Any = None) -> None:
        if self.writer is not None:
            self.writer.close()

    def process_item(self, item: PageRecord, spider: Any = None) -> PageRecord:
        assert self.writer is not None
        self.writer.write(
            {
                **item.row,
                "_url": item.url,
                "_fetched_at": _utc_text(item.fetched_at),
                "_status": item.status,
                "_source": self.source,
                "_run_id": self.run_id,
                "_content_hash": item.content_hash,
            }
        )
        return item


def _utc_text(moment: datetime) -> str:
    return moment.isoformat()
