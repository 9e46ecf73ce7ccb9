"""Page parsing on a second process, so extraction runs beside the crawl, not inside it.

Scrapy runs a crawl on one thread: downloading, scheduling and every callback share one
core. Parsing a page and running the spec's selectors and extractors costs about
0.5 ms, as much as everything else Scrapy does for the page, so a crawl of a fast site
waited on its own parsing. ``PageParser`` starts one worker process
(``python -m scrapers.offload``) that holds the spec, sends it each page (URL, body,
encoding) over a socket pair and awaits the rows and links, so the crawl goes on
fetching while the worker parses. The crawl side is plain asyncio on Scrapy's own event
loop: no threads, which would contend with the crawl for the GIL on every page.

The worker is a ``core.helpers`` process and answers in order. When it dies, every
waiting page and every later one gets ``ParserDied``, and the spider parses in its own
process from then on.

``parse_response`` is the one place a page becomes rows, links and a content hash: in the
worker, and in the crawl process through the spider's hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
from collections import deque
from dataclasses import dataclass
from typing import cast

from scrapy.http import TextResponse

from core import helpers
from scrapers.parse import Link, follow_links, page_rows
from scrapers.spec import SourceSpec
from scrapers.values import Row

_Page = tuple[type[TextResponse], str, bytes, str, bool]  # what the worker is sent per page


@dataclass(frozen=True)
class ParsedPage:
    """What one page yields: its records' columns, the links to follow and its content hash."""

    rows: list[Row]
    links: list[Link]
    content_hash: str


def parse_response(response: TextResponse, spec: SourceSpec, follow: bool) -> ParsedPage:
    """The rows of ``response`` under ``spec``, and its links when ``follow``."""
    rows = page_rows(response, spec)
    return ParsedPage(
        rows=rows,
        links=follow_links(response, spec.follow, spec.render) if follow else [],
        content_hash=hashlib.sha256(response.body).hexdigest() if rows else "",
    )


class ParserDied(Exception):
    """The worker process is gone; the page must be parsed elsewhere."""


class PageParser:
    """One worker process that parses pages under one spec; ``close()`` ends it.

    Start it before the crawl's event loop runs (its interpreter starts while the crawl
    does); ``parse`` is awaited on that loop.
    """

    def __init__(self, spec: SourceSpec) -> None:
        self._process, ours = helpers.start("scrapers.offload")
        ours.sendall(helpers.frame(spec))  # waits in the socket until the worker reads it
        ours.setblocking(False)
        self._socket = ours
        self._connected: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[ParsedPage]] = deque()
        self._died = False

    async def parse(self, response: TextResponse, follow: bool) -> ParsedPage:
        """``parse_response`` of ``response`` in the worker; ``ParserDied`` if it is gone."""
        if self._connected is None:
            self._connected = asyncio.ensure_future(self._connect())
        await self._connected
        if self._died or self._writer is None:  # checked after the last await
            raise ParserDied
        page: _Page = (type(response), response.url, response.body, response.encoding, follow)
        answer: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        self._writer.write(helpers.frame(page))
        return await answer

    async def _connect(self) -> None:
        """Streams over the socket on the running loop, and the task that reads answers."""
        reader, self._writer = await asyncio.open_connection(sock=self._socket)
        self._reading = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Hand each answer to the page waiting longest (the worker answers in order)."""
        with contextlib.suppress(ConnectionError):  # the end, like a closed stream
            while (answer := await helpers.read_frame_async(reader)) is not None:
                waiting = self._waiting.popleft()
                if waiting.done():  # its page was cancelled
                    continue
                if isinstance(answer, BaseException):
                    waiting.set_exception(answer)
                else:
                    waiting.set_result(cast(ParsedPage, answer))
        self._give_up()

    def _give_up(self) -> None:
        self._died = True
        while self._waiting:
            if not (waiting := self._waiting.popleft()).done():
                waiting.set_exception(ParserDied())

    def close(self) -> None:
        """End the worker (it exits when its socket closes) and wait for it."""
        self._give_up()
        if self._reading is not None:
            self._reading.cancel()
        helpers.end(self._process, self._socket)
        if self._writer is not None:  # it owns the socket now
            self._writer.close()
        else:
            self._socket.close()

    @property
    def pid(self) -> int:
        return self._process.pid


def main() -> None:
    """The worker: the spec, then pages until the crawl closes the socket."""
    spec: list[SourceSpec] = []

    def hold(first: object) -> None:
        assert isinstance(first, SourceSpec), "the first frame must be the spec"
        spec.append(first)
        gc.freeze()  # what start-up made lives as long as the worker

    def parse(page: object) -> ParsedPage:
        kind, url, body, encoding, follow = cast(_Page, page)
        return parse_response(kind(url=url, body=body, encoding=encoding), spec[0], follow)

    helpers.serve(parse, setup=hold)


if __name__ == "__main__":
    # through the package, so what the worker pickles names scrapers.offload, not __main__
    from scrapers.offload import main as run

    run()
