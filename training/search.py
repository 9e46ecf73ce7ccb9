"""Model search: cross-validated selection across families, then Optuna tuning, inside a time budget.

1. **Selection**: every family, with its default parameters, is scored by k-fold
   cross-validation on the training split (stratified for classifiers). The dummy baseline
   runs first. A family is skipped when the budget is spent, but at least one real family
   always runs.
2. **Tuning**: one Optuna study (TPE sampler seeded by the spec, median pruner) over the
   best two families' spaces; each trial reports its running mean score after every
   fold so poor trials are pruned early, and the study stops at the budget or the trial cap.

With a :class:`SharedTuning` the study is created once in a storage other processes reach
(``training/tuning.py``) and worker processes, here or on other machines, run trials on it
beside this one (:func:`work_on_study`); the leaderboard is read back from the study.

Language models are scored on the validation split instead of folds (one holdout).
The winner is chosen by the one-standard-error rule: the first-listed (simplest) family
whose mean score is within one standard error of the best.
Every selection and tuning trial is a :class:`TrialRecord` on the leaderboard, with its
state (complete, pruned, failed, skipped). Only the number of tuning trials depends on
the clock: cap it with ``trials`` for runs that reproduce exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from core.errors import HarvestError
from training.distributed import Layout
from training.families import Family, FamilyContext
from training.metrics import Metric, metric_score, signed
from training.task import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna

TUNED_FAMILIES = 2
MIN_TORCH_SECONDS = 2.0
RECORD = "record"  # the trial's leaderboard row, a user attribute of each shared trial
WORKER = "worker"  # which process ran it (host:pid)


@dataclass(frozen=True)
class Problem:
    """The data and settings a search works on (training and validation splits only)."""

    task: Task
    metric: Metric
    X: pd.DataFrame
    y: NDArray[Any] | None
    X_val: pd.DataFrame
    y_val: NDArray[Any] | None
    context: FamilyContext
    cv_folds: int = 3
    seed: int = 0


@dataclass(frozen=True)
class TrialRecord:
    """One row of the leaderboard."""

    number: int
    phase: str  # selection | tuning
    family: str
    params: Mapping[str, ParamValue]
    state: str  # complete | pruned | failed | skipped
    score: float | None = None  # mean metric value over folds
    std: float | None = None
    fold_scores: tuple[float, ...] = ()
    seconds: float = 0.0
    message: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "phase": self.phase,
            "family": self.family,
            "params": dict(self.params),
            "state": self.state,
            "score": self.score,
            "std": self.std,
            "fold_scores": list(self.fold_scores),
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialRecord:
        """The record :meth:`to_json` wrote."""
        return cls(
            number=int(data["number"]),
            phase=str(data["phase"]),
            family=str(data["family"]),
            params=dict(data["params"]),
            state=str(data["state"]),
            score=data["score"],
            std=data["std"],
            fold_scores=tuple(data["fold_scores"]),
            seconds=float(data["seconds"]),
            message=str(data["message"]),
        )


@dataclass(frozen=True)
class SearchResult:
    """The leaderboard and the trial whose family and parameters are refit."""

    trials: tuple[TrialRecord, ...]
    best: TrialRecord
    seconds: float = 0.0
    folds: int = 0


@dataclass(frozen=True)
class SharedTuning:
    """Tuning shared with other processes through one Optuna study (``training/tuning.py``).

    ``create`` makes the study once, before any worker starts, with ``plan`` (what a worker
    needs to join: families, fixed parameters, deadline, trial cap) stored on it;
    ``helpers`` runs worker processes on it while its block runs and waits for them after.
    """

    create: Callable[[Mapping[str, object]], optuna.Study]
    helpers: Callable[[], AbstractContextManager[None]]


class _Pruned(Exception):
    """A tuning trial stopped early (by the pruner or the clock)."""


class _Failed(Exception):
    """A tuning trial whose model could not be fit or scored (already on the leaderboard)."""


@dataclass
class _Clock:
    deadline: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.deadline - time.monotonic()


def build_pipeline(family: Family, context: FamilyContext, params: Params) -> Pipeline:
    """The family's pipeline for ``context`` with ``params`` over its defaults."""
    return family.build(context, params)


def fit_pipeline(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: NDArray[Any] | None,
    validation: tuple[pd.DataFrame, NDArray[Any] | None] | None = None,
    *,
    keep_features: bool = False,
    layout: Layout = Layout(),
) -> Pipeline:
    """Fit ``pipeline``; PyTorch models get the (transformed) validation rows for early stopping.

    With ``keep_features`` the fitted feature steps are kept and only the model is fit on
    what they make of ``X`` (fine-tuning: the model's inputs stay the ones it learned).
    With a ``layout`` of more than one process a PyTorch model of numeric inputs is fit by
    DistributedDataParallel in them, on this machine or several (``training.distributed``);
    text and language models in this one.
    """
    from training.distributed import fit_distributed, numeric_rows
    from training.families.nets.language import GPTLanguageModel
    from training.families.nets.torch_base import TorchEstimator

    model = pipeline[-1]
    if validation is None or not isinstance(model, TorchEstimator) or len(validation[0]) == 0:
        if not keep_features:
            pipeline.fit(X, y)
        else:
            model.fit(pipeline[:-1].transform(X), y)
        return pipeline
    features = pipeline[:-1] if keep_features else pipeline[:-1].fit(X, y)
    X_val = features.transform(validation[0])
    X_fit = features.transform(X)
    if isinstance(model, GPTLanguageModel):
        model.fit(X_fit, None, validation_data=X_val)
    elif layout.distributed and not model._continuing() and numeric_rows(X_fit):
        fitted = fit_distributed(model, X_fit, y, (X_val, validation[1]), layout)
        pipeline.steps[-1] = (pipeline.steps[-1][0], fitted)
    else:
        model.fit(X_fit, y, validation_data=(X_val, validation[1]))
    return pipeline


def _folds(problem: Problem) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    n = len(problem.X)
    if problem.task.is_classification and problem.y is not None:
        smallest = int(pd.Series(problem.y).value_counts().min())
        if smallest >= problem.cv_folds:
            splitter = StratifiedKFold(problem.cv_folds, shuffle=True, random_state=problem.seed)
            return list(splitter.split(np.zeros(n), problem.y))
    splitter_plain = KFold(problem.cv_folds, shuffle=True, random_state=problem.seed)
    return list(splitter_plain.split(np.zeros(n)))


def _evaluate(
    problem: Problem,
    family: Family,
    params: Params,
    clock: _Clock,
    fold_seconds: float | None,
    report: Callable[[float, int], None] | None,
) -> list[float]:
    """Scores of ``family`` with ``params`` on each fold (or the validation holdout)."""
    scores: list[float] = []
    context = replace(problem.context, max_time=fold_seconds)
    if problem.task is Task.LANGUAGE_MODELLING:
        splits = [(problem.X, problem.y, problem.X_val, problem.y_val)]
    else:
        assert problem.y is not None
        splits = [
            (problem.X.iloc[a], problem.y[a], problem.X.iloc[b], problem.y[b])
            for a, b in _folds(problem)
        ]
    for step, (X_fit, y_fit, X_score, y_score) in enumerate(splits):
        started = time.monotonic()
        pipeline = fit_pipeline(build_pipeline(family, context, params), X_fit, y_fit)
        scores.append(metric_score(problem.task, problem.metric, pipeline, X_score, y_score))
        if report is not None:
            report(float(np.mean([signed(problem.metric, s) for s in scores])), step)
            # a tuning trial stops when another fold like this one would overrun the budget
            if clock.left() < time.monotonic() - started and step < len(splits) - 1:
                raise _Pruned("out of time")
    return scores


def _record(
    number: int,
    phase: str,
    family: Family,
    params: Mapping[str, ParamValue],
    run: Callable[[], list[float]],
) -> TrialRecord:
    started = time.perf_counter()
    try:
        scores = run()
    except HarvestError:
        raise
    except _Pruned as stop:
        return TrialRecord(
            number,
            phase,
            family.name,
            dict(params),
            "pruned",
            seconds=time.perf_counter() - started,
            message=str(stop),
        )
    except Exception as error:  # a model that fails on this data is a failed trial, not a crash
        message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        return TrialRecord(
            number,
            phase,
            family.name,
            dict(params),
            "failed",
            seconds=time.perf_counter() - started,
            message=message,
        )
    finite = [s for s in scores if np.isfinite(s)]
    if not finite:
        return TrialRecord(
            number,
            phase,
            family.name,
            dict(params),
            "failed",
            seconds=time.perf_counter() - started,
            message="no finite score",
        )
    return TrialRecord(
        number,
        phase,
        family.name,
        dict(params),
        "complete",
        score=float(np.mean(finite)),
        std=float(np.std(finite)),
        fold_scores=tuple(float(s) for s in scores),
        seconds=time.perf_counter() - started,
    )


def search(
    problem: Problem,
    families: Sequence[Family],
    *,
    budget: float,
    max_trials: int | None = None,
    fixed: Mapping[str, Params] | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
    shared: SharedTuning | None = None,
) -> SearchResult:
    """Select among ``families`` and tune the best within ``budget`` seconds (in several
    processes with ``shared``)."""
    fixed = fixed or {}
    clock = _Clock(time.monotonic() + budget)
    trials: list[TrialRecord] = []

    def add(record: TrialRecord) -> None:
        trials.append(record)
        if on_trial is not None:
            on_trial(record)

    folds = 1 if problem.task is Task.LANGUAGE_MODELLING else problem.cv_folds
    real_done = False
    only = [f for f in families if f.name != "dummy"]
    nothing_to_choose = len(only) == 1 and max_trials == 0
    for position, family in enumerate(families):
        params = dict(fixed.get(family.name, {}))
        if nothing_to_choose:  # one family, no tuning: nothing to cross-validate for
            message = (
                "the only family: not cross-validated"
                if family is only[0]
                else "baseline: scored on the test split"
            )
            add(
                TrialRecord(
                    len(trials), "selection", family.name, params, "complete", message=message
                )
            )
            continue
        short = _short_of_time(family, clock, folds) if real_done else None
        if short:
            add(
                TrialRecord(len(trials), "selection", family.name, params, "skipped", message=short)
            )
            continue
        left_families = len(families) - position
        share = max(clock.left(), 0.0) / max(left_families, 1) / folds
        fold_seconds = max(share, MIN_TORCH_SECONDS) if family.uses_torch else None
        record = _record(
            len(trials),
            "selection",
            family,
            params,
            lambda f=family, p=params, s=fold_seconds: _evaluate(problem, f, p, clock, s, None),  # type: ignore[misc]
        )
        add(record)
        real_done = real_done or (record.state == "complete" and family.name != "dummy")

    ranked = sorted(
        (
            t
            for t in trials
            if t.state == "complete" and t.family != "dummy" and t.score is not None
        ),
        key=lambda t: -signed(problem.metric, t.score or 0.0),
    )
    tunable = [f for f in families if f.name in {t.family for t in ranked}]
    order = {t.family: i for i, t in reversed(list(enumerate(ranked)))}
    tunable = sorted(tunable, key=lambda f: order[f.name])[:TUNED_FAMILIES]
    if tunable and clock.left() > 0 and max_trials != 0:
        per_fold = {t.family: t.seconds / folds for t in ranked if t.phase == "selection"}
        if shared is None:
            _tune(problem, tunable, clock, max_trials, fixed, add, len(trials), per_fold)
        else:
            plan = {
                "families": [f.name for f in tunable],
                "fixed": {name: dict(fixed.get(name, {})) for name in (f.name for f in tunable)},
                "per_fold": per_fold,
                "deadline": time.time() + clock.left(),
                "max_trials": max_trials,
                "first_number": len(trials),
            }
            _tune_shared(problem, tunable, shared, plan, add)

    complete = [t for t in trials if t.state == "complete"]
    if not complete:
        failures = "; ".join(f"{t.family}: {t.message}" for t in trials if t.message)
        raise HarvestError(f"No model could be trained on this data ({failures}).")
    real = [t for t in complete if t.family != "dummy"]
    best = _one_standard_error(real, families, problem.metric, folds) or (real or complete)[0]
    return SearchResult(tuple(trials), best, time.monotonic() - clock.started, folds)


def _short_of_time(family: Family, clock: _Clock, folds: int) -> str | None:
    """Why ``family`` cannot be tried in what is left of the budget (None when it can).

    A PyTorch family needs at least ``MIN_TORCH_SECONDS`` per fold; starting one with
    less left would overrun the budget by that much.
    """
    left = clock.left()
    if left <= 0:
        return "time budget spent"
    needed = MIN_TORCH_SECONDS * folds
    if family.uses_torch and left < needed:
        return f"time budget nearly spent ({left:.1f} s left, a PyTorch family needs {needed:g} s)"
    return None


def _one_standard_error(
    trials: Sequence[TrialRecord], families: Sequence[Family], metric: Metric, folds: int
) -> TrialRecord | None:
    """The winner by the one-standard-error rule.

    Among trials whose mean score is within one standard error of the best mean, take the
    family listed first (families are listed simplest first), and its best trial: on small
    data a simpler model that scores the same within noise generalises better.
    """
    scored = [t for t in trials if t.score is not None]
    if not scored:
        return None
    top = max(scored, key=lambda t: signed(metric, t.score or 0.0))
    margin = (top.std or 0.0) / max(folds, 1) ** 0.5
    near = [
        t
        for t in scored
        if signed(metric, t.score or 0.0) >= signed(metric, top.score or 0.0) - margin
    ]
    rank = {f.name: i for i, f in enumerate(families)}
    return min(near, key=lambda t: (rank.get(t.family, len(rank)), -signed(metric, t.score or 0.0)))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)


def _tuning_trial(
    problem: Problem,
    by_name: Mapping[str, Family],
    clock: _Clock,
    fixed: Mapping[str, Params],
    per_fold: Mapping[str, float],
    study: optuna.Study,
    trial: optuna.Trial,
    number: int,
) -> TrialRecord:
    """Run one tuning trial: pick a family and parameters, score them on the folds."""
    import optuna

    name = (
        trial.suggest_categorical("family", list(by_name))
        if len(by_name) > 1
        else next(iter(by_name))
    )
    family = by_name[name]
    if clock.left() < per_fold.get(name, 0.0):
        if clock.left() < min(per_fold.values(), default=0.0):
            study.stop()  # no family's fold fits in what is left
        raise optuna.TrialPruned("not enough time left for one fold")
    params: dict[str, Any] = {**family.space(trial, problem.task), **fixed.get(name, {})}
    folds = 1 if problem.task is Task.LANGUAGE_MODELLING else problem.cv_folds
    fold_seconds = max(clock.left() / folds, MIN_TORCH_SECONDS) if family.uses_torch else None

    def report(value: float, step: int) -> None:
        trial.report(value, step)
        if trial.should_prune():
            raise _Pruned("pruned by the median rule")

    return _record(
        number,
        "tuning",
        family,
        params,
        lambda: _evaluate(problem, family, params, clock, fold_seconds, report),
    )


def _outcome(problem: Problem, record: TrialRecord) -> float:
    """What Optuna is told of a trial: its signed score, or that it was pruned or failed."""
    import optuna

    if record.state == "pruned":
        raise optuna.TrialPruned(record.message)
    if record.state != "complete" or record.score is None:
        raise _Failed(record.message)
    return signed(problem.metric, record.score)


def _tune(
    problem: Problem,
    families: Sequence[Family],
    clock: _Clock,
    max_trials: int | None,
    fixed: Mapping[str, Params],
    add: Callable[[TrialRecord], None],
    first_number: int,
    per_fold: Mapping[str, float],
) -> None:
    """Optuna over ``families``' spaces; ``per_fold`` is each family's selection time per fold."""
    import optuna

    _quiet_optuna()
    study = optuna.create_study(
        direction="maximize", sampler=tpe_sampler(problem.seed), pruner=median_pruner()
    )
    by_name = {f.name: f for f in families}
    counter = [first_number]

    def objective(trial: optuna.Trial) -> float:
        record = _tuning_trial(problem, by_name, clock, fixed, per_fold, study, trial, counter[0])
        counter[0] += 1
        add(record)
        return _outcome(problem, record)

    study.optimize(objective, n_trials=max_trials, timeout=max(clock.left(), 0.0), catch=(_Failed,))


def tpe_sampler(seed: int | None, shared: bool = False) -> optuna.samplers.BaseSampler:
    """The search's sampler; workers sharing a study lie about running trials (``constant_liar``)."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed, constant_liar=shared)


def median_pruner() -> optuna.pruners.BasePruner:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def _tune_shared(
    problem: Problem,
    families: Sequence[Family],
    shared: SharedTuning,
    plan: Mapping[str, Any],
    add: Callable[[TrialRecord], None],
) -> None:
    """Create the shared study, work on it beside the helpers, then read its leaderboard."""
    _quiet_optuna()
    study = shared.create(plan)
    with shared.helpers():
        work_on_study(study, problem, families, plan)
    for record in study_records(study, plan):
        add(record)


def work_on_study(
    study: optuna.Study,
    problem: Problem,
    families: Sequence[Family],
    plan: Mapping[str, Any],
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> int:
    """Run trials on a shared ``study`` until its deadline or trial cap; return how many ran.

    Each trial's leaderboard row and the process that ran it are stored on the trial, so
    whoever created the study reads every worker's trials back (:func:`study_records`).
    """
    import os
    import socket

    import optuna

    _quiet_optuna()
    clock = _Clock(time.monotonic() + float(plan["deadline"]) - time.time())
    by_name = {f.name: f for f in families}
    cap: int | None = plan["max_trials"]
    worker = f"{socket.gethostname()}:{os.getpid()}"
    ran = [0]

    def objective(trial: optuna.Trial) -> float:
        if cap is not None and trial.number >= cap:
            study.stop()
            raise optuna.TrialPruned("the trial cap is reached")
        trial.set_user_attr(WORKER, worker)
        number = int(plan["first_number"]) + trial.number
        record = _tuning_trial(
            problem, by_name, clock, plan["fixed"], plan["per_fold"], study, trial, number
        )
        trial.set_user_attr(RECORD, record.to_json())
        ran[0] += 1
        if on_trial is not None:
            on_trial(record)
        return _outcome(problem, record)

    if clock.left() > 0:
        study.optimize(objective, timeout=clock.left(), catch=(_Failed,))
    return ran[0]


def study_records(study: optuna.Study, plan: Mapping[str, Any]) -> list[TrialRecord]:
    """The leaderboard rows of a shared study's trials, in trial order.

    A trial whose worker died mid-trial (still ``RUNNING``, or failed by Optuna) is a failed
    row; trials stopped before they began (the cap, the clock) are left out.
    """
    from optuna.trial import TrialState

    records = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if RECORD in trial.user_attrs:
            records.append(TrialRecord.from_json(trial.user_attrs[RECORD]))
        elif trial.state in (TrialState.RUNNING, TrialState.FAIL) and WORKER in trial.user_attrs:
            families = list(plan["families"])
            records.append(
                TrialRecord(
                    int(plan["first_number"]) + trial.number,
                    "tuning",
                    str(trial.params.get("family", families[0])),
                    {k: v for k, v in trial.params.items() if k != "family"},
                    "failed",
                    message=f"its worker ({trial.user_attrs[WORKER]}) stopped before finishing",
                )
            )
    return records
