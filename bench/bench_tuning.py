"""Shared tuning: trials per second with 2 worker processes ÷ 1, on one Optuna study.

Each worker is a process running :func:`training.search.work_on_study` (what ``harvest
train --workers N`` and ``harvest tune-worker`` run) on the same study in a journal file
(the storage used without PostgreSQL), with one compute thread as Harvest uses on small
data. Workers are forked after the data is prepared and start together; the figure counts
the trials finished within the same window of ``WINDOW_S`` seconds, so process start-up is
left out. Goal: ratio ≥ 1.6; it needs two free cores.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.bench_training import wide_table
from bench.common import Figure
from core.workspace import Workspace

ROWS = 3_000
WINDOW_S = 30.0
FAMILY = "random_forest"


def run() -> list[Figure]:
    from catalog import Catalog
    from training.data import prepare
    from training.spec import spec_from_mapping
    from training.train import search_problem

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        workspace = Workspace(home, f"ducklake:sqlite:{home / 'catalog.sqlite'}", f"{home}/data/")
        spec = spec_from_mapping({"dataset": "imports.wide", "target": "y", "families": [FAMILY]})
        with Catalog.open(workspace.ensure()) as catalog:
            catalog.commit("imports.wide", wide_table(ROWS), producer="bench", key=("id",))
            problem = search_problem(prepare(spec, catalog), spec)
        rates = [_trials_per_second(problem, Path(tmp), workers) for workers in (1, 2)]
    value = rates[1] / rates[0]
    return [
        Figure(
            "tuning trials/s, 2 workers ÷ 1, one shared study",
            value,
            goal=1.6,
            op=">=",
            detail=f"{rates[0]:.2f} vs {rates[1]:.2f} trials/s, {FAMILY} on {ROWS:,} rows",
        )
    ]


def _trials_per_second(problem: Any, folder: Path, workers: int) -> float:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from training.search import median_pruner, tpe_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    journal = str(folder / f"study-{workers}.journal")
    storage = optuna.storages.JournalStorage(JournalFileBackend(journal))
    optuna.create_study(
        storage=storage,
        study_name="bench",
        direction="maximize",
        sampler=tpe_sampler(0, shared=True),
        pruner=median_pruner(),
    )
    start = time.time() + 3.0  # every worker forked and waiting
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_work, args=(journal, problem, start, seed))
        for seed in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    end = datetime.fromtimestamp(start + WINDOW_S)
    study = optuna.load_study(study_name="bench", storage=storage)
    finished = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.datetime_complete and t.datetime_complete <= end
    ]
    return len(finished) / WINDOW_S


def _work(journal: str, problem: Any, start: float, seed: int) -> None:
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from threadpoolctl import threadpool_limits

    from training.families import family
    from training.search import median_pruner, tpe_sampler, work_on_study

    storage = optuna.storages.JournalStorage(JournalFileBackend(journal))
    study = optuna.load_study(
        study_name="bench", storage=storage, sampler=tpe_sampler(seed, True), pruner=median_pruner()
    )
    plan = {
        "families": [FAMILY],
        "fixed": {},
        "per_fold": {},
        "deadline": start + WINDOW_S,
        "max_trials": None,
        "first_number": 0,
    }
    time.sleep(max(start - time.time(), 0.0))
    with threadpool_limits(limits=1):
        work_on_study(study, problem, [family(FAMILY)], plan)
