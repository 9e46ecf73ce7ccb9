"""``python -m scrapers.child <landing>/job.json``: the crawl process.

Runs one Scrapy crawl of the job's spec (Twisted's reactor cannot restart in a process,
so every crawl gets a fresh one) with ``scrapers.settings.crawl_settings``, landing items
and statistics in the job's folder. It imports only what crawling needs: the parent
(``scrapers.crawl``) does the committing.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from scrapy.crawler import CrawlerProcess

from core.workspace import Workspace
from scrapers.landing import STATS, Job, read_json
from scrapers.settings import SharedFrontier, crawl_settings
from scrapers.spec import load_spec
from scrapers.spider import spider_class


def crawl_child(job_path: Path) -> int:
    """Run the crawl described by ``job.json``; 0 when the spider closed and wrote its stats."""
    job = Job(**read_json(job_path))
    spec = load_spec(job.spec_path, job.base_url)
    workspace = Workspace.at(job.home)
    settings = crawl_settings(
        spec,
        landing=job_path.parent,
        cache_dir=workspace.cache / spec.name,
        home=workspace.home,
        run_id=job.run_id,
        replay=job.replay,
        frontier=_shared(job),
    )
    process = CrawlerProcess(settings)
    process.crawl(spider_class(spec), spec=spec, max_pages=job.max_pages)
    # The ~95,000 objects made so far (modules, settings, the crawler) live as long as the
    # process: freezing them keeps every full collection from walking them again, which
    # took 0.3-0.4 s of a 2,000-page crawl (0.07-0.1 s frozen).
    gc.freeze()
    process.start()
    return 0 if (job_path.parent / STATS).exists() else 1


def _shared(job: Job) -> SharedFrontier | None:
    if job.frontier is None:
        return None
    assert job.worker is not None and job.budget is not None
    return SharedFrontier(
        url=job.frontier,
        worker=job.worker,
        budget=job.budget,
        done_status="crawled" if job.publishes_part else "finished",
    )


def main() -> None:
    code = crawl_child(Path(sys.argv[1]))
    # Everything is on disk now (pipelines and the cache closed with the spider); skip
    # the interpreter's slow teardown of Twisted, asyncio and thousands of modules.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
