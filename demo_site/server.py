"""Running the demo site: in a background thread, in a child process, or in the foreground.

- :class:`DemoSite` serves it from a thread of this process (tests, ``harvest demo``);
  crawls that run in child processes reach it over loopback.
- :class:`DemoSiteProcess` serves it from a child process, so that it never shares a
  core with the caller (benchmarks).
- :func:`serve_forever` serves it until SIGINT or SIGTERM (``harvest site serve``,
  ``python -m demo_site``).

Both helpers have the same face: ``url``, ``day``, ``set_day(n)``, ``hits()``,
``reset_hits()``, ``stop()``, and they are context managers. The day and the hit counts
go through the site's ``/_admin/`` routes, so they work the same for both.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from demo_site.app import check_day, create_app

HOST = "127.0.0.1"
READY = re.compile(r"(http://127\.0\.0\.1:\d+)")


def banner(url: str, seed: int, day: int, scale: int) -> str:
    """The line printed when the site is up; :class:`DemoSiteProcess` reads the URL from it."""
    return (
        f"Harvest demo site on {url} (seed {seed}, day {day}, scale {scale}). Press Ctrl-C to stop."
    )


async def start_site(app: web.Application, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free port); the runner and the bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, backlog=1024)
    await site.start()
    return runner, int(runner.addresses[0][1])


class _Controls:
    """What both helpers do through the site's admin routes."""

    url: str

    def _call(self, method: str, path: str, timeout: float = 10) -> object:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    @property
    def day(self) -> int:
        answer = self._call("GET", "/_admin/day")
        assert isinstance(answer, dict)
        return int(answer["day"])

    def set_day(self, day: int) -> None:
        """Move the running site to ``day``: prices, stock, reviews and products change."""
        self._call("POST", f"/_admin/day?day={check_day(day)}")

    def hits(self, prefix: str = "/") -> int:
        """How many requests reached paths starting with ``prefix``."""
        counts = self._call("GET", "/_admin/hits")
        assert isinstance(counts, dict)
        return sum(int(n) for path, n in counts.items() if path.startswith(prefix))

    def warm(self) -> int:
        """Render every crawlable page now, so that crawls measure crawling; the page count."""
        answer = self._call("POST", "/_admin/warm", timeout=600)
        assert isinstance(answer, dict)
        return int(answer["pages"])

    def reset_hits(self) -> None:
        self._call("DELETE", "/_admin/hits")

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class DemoSite(_Controls):
    """The demo site served from a daemon thread of this process."""

    def __init__(self, port: int = 0, day: int = 1, seed: int = 7, scale: int = 1) -> None:
        self.seed, self.scale = seed, scale
        self._app = create_app(seed=seed, day=day, scale=scale)
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(port,), name="demo-site", daemon=True
        )
        self._thread.start()
        self._started.wait(timeout=30)
        if self._failure is not None:
            raise self._failure
        if not self._started.is_set():
            raise RuntimeError("the demo site did not start within 30 seconds")

    def _run(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve(port))
        self._loop.close()

    async def _serve(self, port: int) -> None:
        self._stopping = asyncio.Event()
        try:
            runner, self.port = await start_site(self._app, port)
        except BaseException as error:  # reported to the constructor
            self._failure = error
            self._started.set()
            return
        self.url = f"http://{HOST}:{self.port}"
        self._started.set()
        await self._stopping.wait()
        await runner.cleanup()

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._thread.is_alive() and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=30)


class DemoSiteProcess(_Controls):
    """The demo site served by ``python -m demo_site`` in a child process."""

    def __init__(self, port: int = 0, day: int = 1, seed: int = 7, scale: int = 1) -> None:
        command = [sys.executable, "-m", "demo_site", f"--port={port}", f"--day={day}"]
        command += [f"--seed={seed}", f"--scale={scale}"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = READY.search(line)
        if found is None:
            self.stop()
            raise RuntimeError(
                f"the demo site process did not start: {line.strip() or 'no output'}"
            )
        self.url = found.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.pid = self.process.pid

    def stop(self) -> None:
        """SIGTERM the child and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve_demo_site(
    port: int = 0, day: int = 1, seed: int = 7, scale: int = 1, process: bool = False
) -> DemoSite | DemoSiteProcess:
    """The demo site running in the background; use it in a ``with`` block."""
    kind = DemoSiteProcess if process else DemoSite
    return kind(port=port, day=day, seed=seed, scale=scale)


def serve_forever(
    port: int = 0,
    day: int = 1,
    seed: int = 7,
    scale: int = 1,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``announce`` gets the banner."""
    asyncio.run(_serve_until_signal(port, day, seed, scale, announce))


async def _serve_until_signal(
    port: int, day: int, seed: int, scale: int, announce: Callable[[str], None]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner, bound = await start_site(create_app(seed=seed, day=day, scale=scale), port)
    announce(banner(f"http://{HOST}:{bound}", seed, day, scale))
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
