"""Running a crawl: a child process crawls, the parent commits what it landed.

``scrape(spec_path, workspace)`` validates the spec, writes ``job.json`` into a fresh
landing folder and starts ``python -m scrapers.child <job.json>`` (Twisted's reactor
cannot restart in one process, and a crash there cannot hurt the caller). While it runs
the parent reports ``progress.json``. When it ends the parent commits the landed items
as one new ``raw.<source>`` version (nothing when the content equals the latest version),
records the run in ``harvest.crawls`` and removes the landing folder. A crawl that was
killed, interrupted or crashed commits nothing, and the run row says why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from catalog import Catalog, Listing, Version
from core.errors import HarvestError
from core.workspace import Workspace
from scrapers.landing import (
    JOB,
    PROGRESS,
    STATS,
    CrawlStats,
    Job,
    read_json,
    write_json,
)
from scrapers.runs import CrawlRun, record_run
from scrapers.spec import VOLATILE, SourceSpec, load_spec
from scrapers.spider import spider_class
from scrapers.table import landed_table

LOG = "crawl.log"
_UNFINISHED = ("shutdown",)


@dataclass(frozen=True)
class Progress:
    """Counts of a running crawl."""

    pages: int
    items: int
    errors: int
    elapsed_s: float


@dataclass(frozen=True)
class CrawlResult:
    """How a crawl ended: its run row and the version current afterwards (None if it failed)."""

    run: CrawlRun
    version: Version | None

    @property
    def created(self) -> bool:
        return self.run.status == "committed"


class CrawlFailed(HarvestError):
    """The crawl did not finish, so nothing was committed."""


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def listing(spec: SourceSpec) -> Listing:
    """The catalog card of ``raw.<spec.name>``."""
    return Listing(
        title=spec.title or spec.name,
        description=spec.description,
        license=spec.license,
        tags=spec.tags,
        publisher=spec.publisher,
        source_url=spec.start_urls[0],
        cadence=spec.schedule or "",
    )


def scrape(
    spec_path: str | os.PathLike[str],
    workspace: Workspace,
    *,
    base_url: str | None = None,
    max_pages: int | None = None,
    replay: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    timeout_s: float | None = None,
) -> CrawlResult:
    """Crawl the source at ``spec_path`` in a child process and commit what it landed."""
    spec = load_spec(spec_path, base_url)
    spider_class(spec)
    workspace = workspace.ensure()
    run_id = new_run_id()
    landing = workspace.landing / run_id
    landing.mkdir(parents=True)
    job = Job(
        run_id=run_id,
        source=spec.name,
        spec_path=str(Path(spec_path).resolve()),
        home=str(workspace.home),
        base_url=base_url,
        max_pages=max_pages,
        replay=replay,
    )
    write_json(landing / JOB, asdict(job))
    started_at = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = pool.submit(Catalog.open, workspace)  # while the child crawls
        try:
            failure = _crawl_failure(landing, _run_child(landing, on_progress, timeout_s))
            stats = _final_stats(landing)
            with opening.result() as catalog:
                if failure is not None:
                    run = failed_run(spec, run_id, started_at, stats or CrawlStats(), failure)
                    record_run(catalog, run)
                    return CrawlResult(run=run, version=None)
                assert stats is not None
                return commit_landed(catalog, spec, run_id, started_at, stats, landing)
        except BaseException as error:
            with contextlib.suppress(Exception), opening.result() as catalog:
                reason = f"the crawl was stopped ({type(error).__name__})"
                record_run(catalog, failed_run(spec, run_id, started_at, CrawlStats(), reason))
            raise
        finally:
            shutil.rmtree(landing, ignore_errors=True)


def _crawl_failure(landing: Path, failure: str | None) -> str | None:
    """Why the crawl did not finish (None when it did)."""
    stats = _final_stats(landing)
    if failure is None and stats is None:
        return "the crawl process ended without writing its statistics"
    if failure is None and stats is not None and stats.finish_reason in _UNFINISHED:
        return f"the crawl was interrupted ({stats.finish_reason})"
    return failure


def _run_child(
    landing: Path, on_progress: Callable[[Progress], None] | None, timeout_s: float | None
) -> str | None:
    """Run the crawl child to its end; the reason it failed, or None."""
    start = time.monotonic()
    with (landing / LOG).open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "scrapers.child", str(landing / JOB)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while not _ended(child, within=0.2):  # wakes the moment the child exits
                if on_progress is not None:
                    on_progress(_progress(landing, time.monotonic() - start))
                if timeout_s is not None and time.monotonic() - start > timeout_s:
                    stop_child(child)
                    return f"the crawl ran past its {timeout_s:g}s time limit and was stopped"
        except BaseException:
            stop_child(child)
            raise
    if on_progress is not None:
        on_progress(_progress(landing, time.monotonic() - start))
    code = child.returncode
    if code < 0:
        return f"the crawl process was killed (signal {-code})"
    if code != 0:
        return f"the crawl process failed (exit code {code}): {last_error(landing / LOG)}"
    return None


def _ended(child: subprocess.Popen[bytes], within: float) -> bool:
    try:
        child.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return False
    return True


def stop_child(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _progress(landing: Path, elapsed: float) -> Progress:
    try:
        counts = read_json(landing / PROGRESS)
    except (OSError, ValueError):
        counts = {}
    return Progress(
        pages=counts.get("pages", 0),
        items=counts.get("items", 0),
        errors=counts.get("errors", 0),
        elapsed_s=elapsed,
    )


def _final_stats(landing: Path) -> CrawlStats | None:
    try:
        return CrawlStats.from_json(read_json(landing / STATS))
    except (OSError, ValueError):
        return None


def last_error(log: Path) -> str:
    try:
        lines = [
            line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()
        ]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def commit_landed(
    catalog: Catalog,
    spec: SourceSpec,
    run_id: str,
    started_at: datetime,
    stats: CrawlStats,
    landing: Path,
    note: str = "",
) -> CrawlResult:
    """Commit ``landing/items.jsonl`` as one new ``raw.<source>`` version and record the run."""
    table = landed_table(landing, spec)
    if table.num_rows == 0:
        run = _run_row(
            spec,
            run_id,
            started_at,
            stats,
            "empty",
            None,
            "the crawl found no records, so nothing was committed",
        )
        record_run(catalog, run)
        return CrawlResult(run=run, version=None)
    result = catalog.commit(
        f"raw.{spec.name}",
        table,
        producer=f"scrape:{run_id}",
        message=f"scrape {run_id}: {stats.pages} pages, {table.num_rows} records, {stats.errors} errors",
        key=spec.key,
        volatile=VOLATILE,
        listing=listing(spec),
    )
    status = "committed" if result.created else "unchanged"
    message = (
        note if result.created else f"content equals {result.version.ref}, so no version was made"
    )
    run = _run_row(spec, run_id, started_at, stats, status, result.version.number, message)
    record_run(catalog, run)
    return CrawlResult(run=run, version=result.version)


def failed_run(
    spec: SourceSpec, run_id: str, started_at: datetime, stats: CrawlStats, reason: str
) -> CrawlRun:
    return _run_row(spec, run_id, started_at, stats, "failed", None, reason)


def _run_row(
    spec: SourceSpec,
    run_id: str,
    started_at: datetime,
    stats: CrawlStats,
    status: str,
    version: int | None,
    message: str,
) -> CrawlRun:
    return CrawlRun(
        run_id=run_id,
        source=spec.name,
        dataset=f"raw.{spec.name}",
        status=status,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        duration_s=stats.duration_s,
        pages=stats.pages,
        items=stats.items,
        errors=stats.errors,
        retries=stats.retries,
        finish_reason=stats.finish_reason,
        version=version,
        message=message,
        errors_by_reason=stats.errors_by_reason,
        error_samples=stats.error_samples,
        counters={
            "media": stats.media,
            "robots_forbidden": stats.robots_forbidden,
            "browser_pages": stats.browser_pages,
            "browser_pages_closed": stats.browser_pages_closed,
            "browser_contexts_closed": stats.browser_contexts_closed,
        },
        dropped=stats.dropped,
    )
