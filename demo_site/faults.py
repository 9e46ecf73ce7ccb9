"""Fault routes under ``/faults/``: the ways real servers misbehave, for crawler tests.

- ``status/<code>``: that status (200-599), a short body.
- ``flaky/<token>/<n>``: 503 for the first ``n`` requests with that token, then 200.
- ``slow?seconds=S``: answers after ``S`` seconds (at most 120; default 5).
- ``drop``: closes the connection without sending anything.
- ``truncated``: promises 100,000 bytes in Content-Length, sends 2,048 and hangs up.
- ``redirect-loop``: 302 to ``redirect-loop/back``, which redirects back: forever.
  (Scrapy's duplicate filter drops the second visit to the first URL silently.)
- ``redirect-endless``: 302 to ``redirect-endless?hop=N+1``: never the same URL twice,
  so only a redirect limit (Scrapy's ``REDIRECT_MAX_TIMES``) stops it.
- ``redirect/<n>``: ``n`` redirects, then a page.
- ``huge?mb=M``: ``M`` MiB of HTML (default 40), streamed without a Content-Length;
  ``&declare=1`` sends a Content-Length up front.
- ``gzip-bomb?mb=M``: a few KiB of gzip (``Content-Encoding: gzip``) that inflate to ``M``
  MiB of HTML (default 64): small on the wire, huge once decompressed.

The endless calendar (``calendar/<yyyy>/<mm>``) is an ordinary page and lives in the app.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from functools import cache

from aiohttp import web
from aiohttp.typedefs import Handler

MAX_SLOW_SECONDS = 120.0
TRUNCATED_PROMISED = 100_000
TRUNCATED_SENT = 2_048
HUGE_DEFAULT_MB = 40
BOMB_DEFAULT_MB = 64
CHUNK = b"<p>" + b"filler " * 9357 + b"</p>\n"  # 65,511 bytes


def _number(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(name)
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a number, not {raw!r}.") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name} must be between {low:g} and {high:g}.")
    return value


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    if not 200 <= code <= 599:
        raise web.HTTPBadRequest(text="Use a status code between 200 and 599.")
    headers = {}
    if 300 <= code < 400 and code != 304:
        headers["Location"] = "/"
    if code in (429, 503):
        headers["Retry-After"] = "1"
    if code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="demo"'
    body = None if code in (204, 304) else f"Status {code}, as requested.\n"
    return web.Response(status=code, text=body, headers=headers)


def flaky_handler(counts: Counter[str]) -> Handler:
    """``flaky/<token>/<n>``, counting requests per token in ``counts``."""

    async def flaky(request: web.Request) -> web.Response:
        token, failures = request.match_info["token"], int(request.match_info["n"])
        counts[token] += 1
        if counts[token] <= failures:
            return web.Response(status=503, text=f"Failure {counts[token]} of {failures}.\n")
        return web.Response(text=f"Worked on attempt {counts[token]}.\n")

    return flaky


async def slow(request: web.Request) -> web.Response:
    seconds = _number(request, "seconds", 5.0, 0.0, MAX_SLOW_SECONDS)
    await asyncio.sleep(seconds)
    return web.Response(text=f"Answered after {seconds:g} seconds.\n")


async def drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.abort()
    return web.Response()


async def truncated(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
    response.content_length = TRUNCATED_PROMISED
    await response.prepare(request)
    await response.write(b"<html><body>" + b"x" * (TRUNCATED_SENT - 12))
    assert request.transport is not None
    request.transport.close()
    return response


async def redirect_loop(request: web.Request) -> web.Response:
    target = (
        "/faults/redirect-loop" if request.path.endswith("/back") else "/faults/redirect-loop/back"
    )
    raise web.HTTPFound(target)


async def redirect_endless(request: web.Request) -> web.Response:
    hop = request.query.get("hop", "0")
    following = int(hop) + 1 if hop.isdigit() else 1
    raise web.HTTPFound(f"/faults/redirect-endless?hop={following}")


async def redirect_chain(request: web.Request) -> web.Response:
    remaining = int(request.match_info["n"])
    if remaining > 0:
        raise web.HTTPFound(f"/faults/redirect/{remaining - 1}")
    return web.Response(text="<html><body><h1>Arrived</h1></body></html>", content_type="text/html")


async def huge(request: web.Request) -> web.StreamResponse:
    megabytes = _number(request, "mb", HUGE_DEFAULT_MB, 0.0, 1024.0)
    size = int(megabytes * 1024 * 1024)
    response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
    if request.query.get("declare") == "1":
        response.content_length = size
    await response.prepare(request)
    sent = 0
    try:
        while sent < size:
            chunk = CHUNK[: size - sent]
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client gave up, as it should
    return response


@cache
def _bomb(size: int) -> bytes:
    return gzip.compress(b"<html><body>" + b" " * size, compresslevel=9, mtime=0)


async def gzip_bomb(request: web.Request) -> web.Response:
    megabytes = _number(request, "mb", BOMB_DEFAULT_MB, 0.0, 1024.0)
    body = _bomb(int(megabytes * 1024 * 1024))
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"}
    return web.Response(body=body, headers=headers)
