"""The Sources page: specs with their schedules, a real background crawl started from the page, its run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

import jobs
from catalog import Catalog
from core.workspace import Workspace
from dashboard import data
from tests.dashboard.conftest import add_tables_source
from tests.dashboard.test_pages import ran, texts
from tests.scrapers.test_landing import land

MakeApp = Callable[[Path, str], AppTest]


def test_next_run_follows_the_cron() -> None:
    monday_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
    assert data.next_run("0 8 * * 1", monday_9) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert data.next_run("", monday_9) is None


def test_empty_workspace_shows_no_crawls(app: MakeApp, empty_home: Path) -> None:
    at = ran(app(empty_home, "sources"))
    assert not at.error
    assert "No source specs yet" in texts(at) or "Never crawled" in texts(at)


def test_a_broken_spec_is_one_sentence(app: MakeApp, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "broken.yaml").write_text("name: broken\nstart_urls: []\n")
    at = ran(app(home, "sources"))
    assert any("broken.yaml" in e.value for e in at.error)


def test_scrape_now_runs_a_crawl_in_the_background(
    app: MakeApp, tmp_path: Path, demo_site: str
) -> None:
    home = tmp_path / "home"
    add_tables_source(home, demo_site)
    at = ran(app(home, "sources"))
    assert "Demo shop store tables" in texts(at)
    assert "schedule `0 8 \\* \\* 1`" in texts(at) or "schedule `0 8 * * 1`" in texts(at)
    assert "Never crawled" in texts(at)
    at.button(key="scrape_tables").click()
    ran(at)
    assert "Crawling in the background" in texts(at)
    deadline = time.monotonic() + 120
    while "The crawl finished" not in texts(at) and time.monotonic() < deadline:
        assert not at.error, [e.value for e in at.error]
        time.sleep(1)
        ran(at)
    assert "The crawl finished" in texts(at)
    data.st.cache_data.clear()
    ran(at)
    assert [m.value for m in at.metric][1:3] == ["committed", "1"]
    with Catalog.open(home) as cat:
        version = cat.version("raw.tables")
    assert version.rows > 0 and version.producer.startswith("scrape:")


def test_a_crawl_started_elsewhere_shows_while_it_runs(
    app: MakeApp, tmp_path: Path, demo_site: str
) -> None:
    """The page reads the workspace's jobs, not its own memory: a crawl started by another
    session, the command line or the API (or before a restart) shows while it runs."""
    home = tmp_path / "home"
    add_tables_source(home, demo_site)
    workspace = Workspace.at(home)
    # A job recorded as a crawl of `tables` that runs until it is stopped.
    job = jobs.start(workspace, "scrape", "tables", ["site", "serve", "--port", "0"])
    try:
        at = ran(app(home, "sources"))
        assert f"Crawling in the background (process {job.pid}); refresh" in texts(at)
        land(workspace.landing, "run-1", "tables", {"pages": 3, "items": 7, "errors": 0})
        at = ran(app(home, "sources"))
        assert f"(process {job.pid}): 3 pages, 7 records so far" in texts(at)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        os.waitpid(job.pid, 0)
    assert job.status().state == "failed"
    at = ran(app(home, "sources"))
    assert "Crawling in the background" not in texts(at) and "The crawl" not in texts(at)
