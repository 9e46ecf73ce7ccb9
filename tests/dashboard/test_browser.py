"""The real thing: ``harvest dashboard`` on a free port, driven by Playwright in Debian's chromium.

Browses the marketplace, opens a dataset, runs an SQL query, launches a small training and
watches it finish, and visits the other pages, saving a screenshot of each under the test's
temporary folder (``screenshots/``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.services import free_port
from scrapers.settings import CHROMIUM, CHROMIUM_ARGS
from tests.dashboard.conftest import add_tables_source, populate

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


APP_PAGES = {"Marketplace", "Dataset", "SQL", "Sources", "Train", "Models", "Predict"}
# Records the text of every sidebar navigation link from the first paint on.
NAVIGATION_WATCH = """
window.harvestNavigation = new Set();
new MutationObserver(() => {
  for (const link of document.querySelectorAll('[data-testid="stSidebarNav"] a')) {
    const icon = link.querySelector('[data-testid="stIconMaterial"]');
    window.harvestNavigation.add(link.textContent.replace(icon ? icon.textContent : "", "").trim());
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture
def server(tmp_path: Path, demo_site: str) -> Iterator[str]:
    """``harvest dashboard`` over a populated workspace; stopped by PID in teardown."""
    home = tmp_path / "home"
    populate(home)
    add_tables_source(home, demo_site)
    port = free_port()
    log = (tmp_path / "dashboard.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "harvest", "--home", str(home), "dashboard", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "HARVEST_HOME": str(home)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert child.poll() is None, (tmp_path / "dashboard.log").read_text()
            assert time.monotonic() < deadline, "the dashboard did not start within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(child.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        log.close()


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the page (its status widget is gone)."""
    for _ in range(2):  # twice: a page can start a second run right after the first
        page.wait_for_timeout(500)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=stStatusWidget]')"
            " && !document.querySelector('[data-testid=stSkeleton]')",
            timeout=120_000,
        )


@pytest.mark.timeout(900)
def test_browse_query_and_train_in_a_real_browser(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        page.add_init_script(NAVIGATION_WATCH)
        try:
            page.goto(server)
            expect(page.get_by_text("3 of 3 datasets")).to_be_visible(timeout=180_000)
            expect(page.get_by_text("Demo shop products")).to_be_visible()
            settle(page)
            # every link the sidebar ever showed, first paint included, is one of the app's pages
            shown = set(page.evaluate("[...window.harvestNavigation]"))
            assert "Marketplace" in shown and shown <= APP_PAGES, shown
            page.screenshot(path=shots / "1-marketplace.png", full_page=True)

            page.get_by_label("Search").fill("flowers")
            page.get_by_label("Search").press("Enter")
            expect(page.get_by_text("1 of 3 datasets")).to_be_visible()
            page.get_by_role("link", name="Open dataset").first.click()
            expect(page.get_by_role("heading", name="Iris flowers")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "2-dataset.png", full_page=True)
            page.get_by_role("tab", name="Preview").click()
            expect(page.get_by_text("150 rows of imports.iris@1")).to_be_visible()
            page.get_by_role("tab", name="Lineage").click()
            settle(page)
            page.screenshot(path=shots / "3-dataset-lineage.png", full_page=True)

            page.goto(f"{server}/sql")
            editor = page.get_by_label("Query")
            editor.fill(
                "SELECT species, count(*) AS flowers, round(avg(petal_length_cm), 2) AS mean_petal "
                "FROM imports.iris GROUP BY species ORDER BY species"
            )
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_text("3 rows · 3 columns")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "4-sql.png", full_page=True)
            editor.fill("DELETE FROM imports.iris")
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_text("not allowed here")).to_be_visible()

            page.goto(f"{server}/train?dataset=imports.iris&target=species")
            expect(page.get_by_text("judged by")).to_be_visible()
            page.get_by_role("slider").focus()
            page.keyboard.press("Home")  # the smallest time budget: 5 seconds
            expect(page.get_by_role("slider")).to_have_value("5")
            settle(page)
            families = page.get_by_test_id("stMultiSelect")
            families.get_by_role("button", name="Clear all").click()  # then only the linear family
            settle(page)
            families.get_by_role("combobox").fill("linear")
            page.keyboard.press("Enter")
            page.keyboard.press("Escape")
            expect(families.get_by_text("linear (logistic regression / ridge)")).to_be_visible()
            expect(families.get_by_text("forest (random forest)")).to_have_count(0)
            settle(page)
            page.get_by_role("button", name="Launch training").click()
            expect(page.get_by_text("Registered iris-species@3")).to_be_visible(timeout=240_000)
            settle(page)
            page.screenshot(path=shots / "5-train.png", full_page=True)

            page.goto(f"{server}/models")
            expect(page.get_by_text("Leaderboard", exact=True)).to_be_visible()
            expect(page.get_by_text("Champion", exact=True).first).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "6-models.png", full_page=True)
            page.get_by_role("tab", name="Plots").click()
            settle(page)
            page.screenshot(path=shots / "7-models-plots.png", full_page=True)

            page.goto(f"{server}/predict")
            expect(page.get_by_text("One record")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "8-predict.png", full_page=True)

            page.goto(f"{server}/sources")
            expect(page.get_by_text("Demo shop store tables")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "9-sources.png", full_page=True)
            assert not page.get_by_text("Traceback").count()
        except Exception:
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    print(f"screenshots in {shots}")
    assert len(list(shots.glob("*.png"))) == 9
