"""A crawl shared by several workers through a Redis frontier (``scrapers.frontier``).

``scrape_shared`` is the coordinator: it publishes the job in Redis, starts ``workers``
crawl children (``python -m scrapers.child``, each with its own landing part under
``landing/<run_id>/workers/<worker>/``), and waits until every local worker has ended,
the frontier is drained and no worker that joined from elsewhere (``join_crawl``, the
``harvest scrape-worker`` command) is still crawling. Then it commits one version from
all the parts, keeping each page's records from the worker that acknowledged it first:
a worker killed mid-crawl loses nothing (its leases expire and other workers crawl those
pages) and doubles nothing (what it landed but never acknowledged is left out).
A worker that joins from another machine crawls into its own landing folder and, once its
crawl ends, puts its part into the workspace's file store (object storage in a team setup,
``crawl-parts/<run_id>/<worker>/``) before it says it is finished; the coordinator fetches
the parts it lacks from there. Without object storage the worker writes straight into the
landing folder the job names, which must then be storage both machines reach.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from catalog import Catalog
from core.errors import HarvestError, InvalidInputError
from core.objects import FileStore, file_store
from core.workspace import Workspace
from scrapers.crawl import (
    LOG,
    CrawlResult,
    Progress,
    commit_landed,
    failed_run,
    last_error,
    new_run_id,
    stop_child,
)
from scrapers.frontier import Frontier, lease_seconds, worker_name
from scrapers.landing import ITEMS, JOB, PROGRESS, STATS, CrawlStats, Job, read_json, write_json
from scrapers.runs import record_run
from scrapers.spec import load_spec
from scrapers.spider import spider_class

WORKERS = "workers"
PARTS = "crawl-parts"  # the file store's folder for parts of workers elsewhere
_PART_FILES = (ITEMS, PROGRESS, LOG, STATS)  # statistics last: a part with them is whole
_BUSY = ("joined", "crawling", "crawled", "landing")  # a worker that may still add a part
_POLL_S = 0.2


def scrape_shared(
    spec_path: str | Path,
    workspace: Workspace,
    *,
    workers: int,
    redis_url: str,
    base_url: str | None = None,
    max_pages: int | None = None,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    timeout_s: float | None = None,
) -> CrawlResult:
    """Crawl with ``workers`` local processes sharing one frontier; commit one version."""
    spec = load_spec(spec_path, base_url)
    spider_class(spec)
    workspace = workspace.ensure()
    run_id = new_run_id()
    landing = workspace.landing / run_id
    (landing / WORKERS).mkdir(parents=True)
    store = file_store(workspace)
    frontier = Frontier(redis_url, run_id)
    job = Job(
        run_id=run_id,
        source=spec.name,
        spec_path=str(Path(spec_path).resolve()),
        home=str(workspace.home),
        base_url=base_url,
        max_pages=max_pages,
        frontier=redis_url,
        budget=max_pages or spec.limits.max_pages,
    )
    write_json(landing / JOB, asdict(job))
    frontier.publish_job({**asdict(job), "landing": str(landing)})
    if on_start is not None:
        on_start(run_id)
    started_at = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = pool.submit(Catalog.open, workspace)  # while the workers crawl
        try:
            failure, note = _run_workers(landing, job, workers, frontier, on_progress, timeout_s)
            owners = frontier.page_owners()
            failure = failure or fetch_parts(store, run_id, landing, owners)
            stats = merged_stats(landing)
            with opening.result() as catalog:
                if failure is not None:
                    run = failed_run(spec, run_id, started_at, stats, failure)
                    record_run(catalog, run)
                    return CrawlResult(run=run, version=None)
                kept = merge_parts(landing, owners)
                stats = replace(stats, items=kept)
                return commit_landed(catalog, spec, run_id, started_at, stats, landing, note)
        except BaseException as error:
            with contextlib.suppress(Exception), opening.result() as catalog:
                reason = f"the crawl was stopped ({type(error).__name__})"
                record_run(catalog, failed_run(spec, run_id, started_at, CrawlStats(), reason))
            raise
        finally:
            shutil.rmtree(landing, ignore_errors=True)
            with contextlib.suppress(Exception):
                frontier.clear()
            with contextlib.suppress(Exception):
                for key in store.keys(f"{PARTS}/{run_id}/"):
                    store.delete(key)


@dataclass(frozen=True)
class Joined:
    """What a worker that joined a crawl did: why it stopped early (or None), its counts."""

    failure: str | None
    pages: int
    items: int


def join_crawl(
    source: str, run_id: str, spec_path: Path, redis_url: str, workspace: Workspace
) -> Joined:
    """Crawl as one more worker of the shared crawl ``run_id``.

    With the workspace's files in object storage the worker crawls into its own landing
    folder and puts its part there when the crawl ends (even a failed crawl's part: the
    pages it acknowledged are only in it); otherwise it writes into the job's own folder.
    """
    name = worker_name()
    frontier = Frontier(redis_url, run_id, name)
    published = frontier.job()
    if published is None:
        raise InvalidInputError(
            f"No crawl {run_id} is running on the frontier at {redis_url}; "
            "start one with harvest scrape SOURCE --workers N and join the run id it prints."
        )
    if published["source"] != source:
        raise InvalidInputError(
            f"Crawl {run_id} is a crawl of {published['source']}, not of {source}."
        )
    known = {f.name for f in fields(Job)}
    job = Job(**{k: v for k, v in published.items() if k in known})
    job = replace(job, spec_path=str(spec_path.resolve()), worker=name)
    store = file_store(workspace)
    remote = store.local_path(PARTS) is None
    if remote:
        folder = workspace.ensure().landing / run_id / WORKERS / name
        job = replace(job, home=str(workspace.home), publishes_part=True)
    else:
        folder = Path(published["landing"]) / WORKERS / name
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / JOB, asdict(job))
    lease = lease_seconds()
    frontier.report("joined", lease)
    try:
        child = _start_child(folder)
        child.wait()
        failure = _child_failure(folder, child.returncode)
        pages, items = _landed(folder)
        if remote:
            publish_part(store, run_id, name, folder, lambda: frontier.report("landing", lease))
    finally:
        if remote:
            shutil.rmtree(workspace.landing / run_id, ignore_errors=True)
    frontier.report("finished" if failure is None else "stopped", lease)
    return Joined(failure=failure, pages=pages, items=items)


def _landed(folder: Path) -> tuple[int, int]:
    """Pages and records one worker's part holds, by its last progress report."""
    counts = _reported(folder)
    return counts["pages"], counts["items"]


def _reported(folder: Path) -> dict[str, int]:
    """A worker's last progress report (pages, items, errors; zeros before its first)."""
    totals = {"pages": 0, "items": 0, "errors": 0}
    with contextlib.suppress(OSError, ValueError):
        counts = read_json(folder / PROGRESS)
        totals = {key: int(counts.get(key, 0)) for key in totals}
    return totals


def publish_part(
    store: FileStore, run_id: str, worker: str, folder: Path, alive: Callable[[], None]
) -> None:
    """Put a worker's landing part into the file store, for the coordinator to fetch;
    ``alive()`` before each file keeps the worker's lease while a large part uploads."""
    for name in _PART_FILES:
        if (folder / name).is_file():
            alive()
            store.upload(f"{PARTS}/{run_id}/{worker}/{name}", folder / name)


def fetch_parts(store: FileStore, run_id: str, landing: Path, owners: dict[str, str]) -> str | None:
    """Fetch the parts workers elsewhere put into the file store; why the crawl cannot be
    committed (a worker acknowledged pages whose part never arrived), or None."""
    prefix = f"{PARTS}/{run_id}/"
    for key in store.keys(prefix):
        worker, _, name = key[len(prefix) :].partition("/")
        target = landing / WORKERS / worker / name
        if not target.exists():
            store.download(key, target)
    missing = sorted({w for w in owners.values() if not (landing / WORKERS / w).is_dir()})
    if not missing:
        return None
    pages = sum(1 for worker in owners.values() if worker in missing)
    return (
        f"the landing part of worker {', '.join(missing)} never reached the file store, "
        f"and the {pages} pages it acknowledged are only there"
    )


def _run_workers(
    landing: Path,
    job: Job,
    count: int,
    frontier: Frontier,
    on_progress: Callable[[Progress], None] | None,
    timeout_s: float | None,
) -> tuple[str | None, str]:
    """Run the local workers until the crawl is done: (why it failed or None, a note)."""
    start = time.monotonic()
    children: dict[str, subprocess.Popen[bytes]] = {}
    for index in range(count):
        name = f"{worker_name()}-{index}"
        folder = landing / WORKERS / name
        folder.mkdir()
        write_json(folder / JOB, asdict(replace(job, worker=name)))
        children[name] = _start_child(folder)
    try:
        while not _finished(children, frontier):
            if on_progress is not None:
                on_progress(_progress(landing, time.monotonic() - start))
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                for child in children.values():
                    stop_child(child)
                return f"the crawl ran past its {timeout_s:g}s time limit and was stopped", ""
            time.sleep(_POLL_S)
    except BaseException:
        for child in children.values():
            stop_child(child)
        raise
    if on_progress is not None:
        on_progress(_progress(landing, time.monotonic() - start))
    failures = {
        name: reason
        for name, child in children.items()
        if (reason := _child_failure(landing / WORKERS / name, child.returncode)) is not None
    }
    if not frontier.counts().drained:
        return "every worker stopped before the frontier was drained: " + "; ".join(
            f"{name}: {reason}" for name, reason in failures.items()
        ), ""
    note = "; ".join(f"worker {name} stopped ({reason})" for name, reason in failures.items())
    if note:
        expired = frontier.counts().expired
        note += f"; {expired} leased pages went back to the queue and were crawled by the others"
    return None, note


def _finished(children: dict[str, subprocess.Popen[bytes]], frontier: Frontier) -> bool:
    """Every local worker ended and no worker elsewhere still crawls."""
    if any(child.poll() is None for child in children.values()):
        return False
    return not any(
        state["alive"] and state["status"] in _BUSY
        for name, state in frontier.workers().items()
        if name not in children
    )


def _start_child(folder: Path) -> subprocess.Popen[bytes]:
    with (folder / LOG).open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "scrapers.child", str(folder / JOB)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _child_failure(folder: Path, code: int) -> str | None:
    if code < 0:
        return f"killed by signal {-code}"
    if code != 0:
        return f"exit code {code}: {last_error(folder / LOG)}"
    return None


def _progress(landing: Path, elapsed: float) -> Progress:
    totals = {"pages": 0, "items": 0, "errors": 0}
    for path in (landing / WORKERS).glob(f"*/{PROGRESS}"):
        for key, count in _reported(path.parent).items():
            totals[key] += count
    return Progress(elapsed_s=elapsed, **totals)


def merged_stats(landing: Path) -> CrawlStats:
    """The workers' statistics added up (a killed worker's last progress counts its pages)."""
    total = CrawlStats(finish_reason="finished")
    for folder in sorted((landing / WORKERS).iterdir()):
        try:
            stats = CrawlStats.from_json(read_json(folder / STATS))
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                progress = read_json(folder / PROGRESS)
                total = replace(total, pages=total.pages + int(progress.get("pages", 0)))
            continue
        total = _added(total, stats)
    return total


def _added(a: CrawlStats, b: CrawlStats) -> CrawlStats:
    def summed(x: dict[str, int], y: dict[str, int]) -> dict[str, int]:
        return {k: x.get(k, 0) + y.get(k, 0) for k in {*x, *y}}

    counters = (
        *("pages", "items", "errors", "retries", "media", "robots_forbidden"),
        *("browser_pages", "browser_pages_closed", "browser_contexts_closed"),
    )
    return replace(
        a,
        **{name: getattr(a, name) + getattr(b, name) for name in counters},
        duration_s=max(a.duration_s, b.duration_s),
        finish_reason=a.finish_reason if b.finish_reason == "finished" else b.finish_reason,
        errors_by_reason=summed(a.errors_by_reason, b.errors_by_reason),
        error_samples=(a.error_samples + b.error_samples)[:50],
        dropped=summed(a.dropped, b.dropped),
    )


def merge_parts(landing: Path, owners: dict[str, str]) -> int:
    """Write ``landing/items.jsonl`` from the workers' parts, each page's records from the
    worker that acknowledged it; the number of records kept."""
    kept = 0
    with (landing / ITEMS).open("w", encoding="utf-8") as merged:
        for part in sorted((landing / WORKERS).glob(f"*/{ITEMS}")):
            worker = part.parent.name
            with part.open(encoding="utf-8") as lines:
                for line in lines:
                    if not line.endswith("\n"):
                        break  # the last line of a worker killed while writing it
                    if owners.get(json.loads(line)["_url"]) == worker:
                        merged.write(line)
                        kept += 1
    return kept


class NoFrontier(HarvestError):
    """More than one worker was asked for without a Redis frontier to share."""
