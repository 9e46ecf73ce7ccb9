"""Train, validate, register and promote: the functions the shells call.

``train(spec, catalog) -> TrainResult`` runs one training run end to end:

1. read and check the dataset version, pick task, metric and features, split by key hash
   and report leakage (:func:`training.data.prepare`);
2. search the families within the time budget (:func:`training.search.search`), writing
   every trial to the run's ``progress.json`` (:mod:`training.runs`);
3. refit the winner on the training split (PyTorch models stop early on the validation
   split) and evaluate it once on the test split, with plots;
4. gate it against the dummy baseline and the current champion on the same test split;
5. register it (folder, card, catalog entry) and set ``champion`` if every gate passed,
   ``challenger`` if only the baseline gate did. Gate verdicts are recorded either way.

A spec with ``from: model@N`` fine-tunes that version instead of searching
(:mod:`training.finetune`): step 2 is the parent's model continued on the new data, and
a third gate compares it with the same family trained from scratch in the same budget.

Bad input raises :class:`~core.errors.HarvestError` before anything is registered;
a run stopped by SIGTERM/SIGINT registers nothing and says so in its progress file (a
SIGKILLed run reads as ``killed``).

``promote(catalog, "model@N") -> Promotion`` re-checks the gates for a registered
version and moves ``champion`` to it only if they pass.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from catalog import Catalog
from core.errors import HarvestError, InvalidInputError
from training import plots
from training.card import CardInputs, build_card, render_markdown
from training.data import Prepared, lineage, prepare
from training.distributed import Layout
from training.evaluation import Evaluation, evaluate
from training.families import Family, FamilyContext, families_for, family
from training.finetune import FineTuning
from training.gates import (
    GateResult,
    baseline_gate,
    champion_gate,
    champion_unscored,
    compare_on_folds,
    compare_on_rows,
    compare_on_texts,
)
from training.intervals import Comparison, Predictions, text_scores
from training.metrics import Metric, document_losses, metric_for, model_scores, pick, signed
from training.plots import Drawing, start_plotter
from training.protocol import (
    CV_FOLDS,
    CV_REPEATS,
    REPEATED_CV,
    TEST_SPLIT,
    Fold,
    FoldScores,
    all_rows,
    choose_protocol,
    cross_validate,
    repeated_folds,
)
from training.registry import ModelVersion, Registration, Registry, remove_staging, save_pipeline
from training.runs import ProgressFile, new_run_id
from training.search import (
    Problem,
    SearchResult,
    TrialRecord,
    build_pipeline,
    fit_pipeline,
    search,
    work_on_study,
)
from training.spec import TrainingSpec, spec_from_mapping
from training.splits import Leakage, Split
from training.task import Task
from training.tuning import PLAN, SPEC, check_workers, load_study, shared_tuning

Echo = Callable[[str], None]
SMALL_DATA_ROWS = 20_000


class TrainingStopped(HarvestError):
    """The run was stopped by a signal before it finished."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    version: ModelVersion
    task: Task
    metric: str
    test: dict[str, float]
    baseline: dict[str, float]
    gates: tuple[GateResult, ...]
    promoted: str | None  # champion | challenger | None
    leaderboard: tuple[TrialRecord, ...]
    leakage: Leakage
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # 95%, per metric
    protocol: str = "test_split"  # test_split | repeated_cv (training.protocol)

    @property
    def score(self) -> float:
        return self.test[self.metric]

    def where(self) -> str:
        """Where the scores come from, in a few words."""
        if self.protocol == REPEATED_CV:
            return f"by {CV_REPEATS} x {CV_FOLDS}-fold cross-validation on all rows"
        if self.protocol == "evaluation_seeds":  # reinforcement learning
            return "over the fixed evaluation seeds"
        return "on the test split"


@dataclass(frozen=True)
class Promotion:
    """The verdict of :func:`promote`."""

    version: ModelVersion
    promoted: bool
    gates: tuple[GateResult, ...]
    message: str


@contextmanager
def _stop_on_signals(run_id: str) -> Iterator[None]:
    """Turn SIGTERM into a clear error (main thread only; elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise TrainingStopped(
            f"Training run {run_id} was stopped ({signal.Signals(signum).name}) before it "
            "finished; no model was registered."
        )

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Freeze what is alive as the run starts, for the run's length.

    The ~360,000 objects of pandas, scikit-learn and their kin outlive the run: frozen, no
    full collection walks them again during training (each walk cost about 0.2 s, several
    times a run). Every way of running training gets this (the CLI, a Dagster run, the
    demo); afterwards they are collectable again, as a long-lived process needs. A heap
    someone else froze is left as it is.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _threads(rows: int, uses_torch: bool) -> Iterator[None]:
    """One compute thread for small data: OpenMP and torch threads only contend there.

    Above ``SMALL_DATA_ROWS`` rows the libraries' own defaults apply.
    ``HARVEST_TORCH_THREADS`` sets torch's thread count either way.
    """
    import os

    from threadpoolctl import threadpool_limits

    small = rows < SMALL_DATA_ROWS
    wanted = os.environ.get("HARVEST_TORCH_THREADS")
    previous = None
    if uses_torch and (small or wanted):
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(int(wanted) if wanted else 1)
    try:
        if small:
            with threadpool_limits(limits=1):
                yield
        else:
            yield
    finally:
        if previous is not None:
            import torch

            torch.set_num_threads(previous)


def _seed_everything(seed: int, uses_torch: bool) -> str:
    """Seed Python and NumPy (and PyTorch when used); return the device PyTorch would use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if not uses_torch:
        return "cpu"
    import torch

    from training.families.nets.torch_base import make_deterministic, pick_device

    make_deterministic()
    torch.manual_seed(seed)
    return str(pick_device("auto"))


def _context(prepared: Prepared, seed: int, max_time: float | None = None) -> FamilyContext:
    return FamilyContext(
        task=prepared.task,
        profile=prepared.profile,
        seed=seed,
        image_root=prepared.image_root,
        image_size=prepared.image_size,
        image_mode=prepared.image_mode,
        max_time=max_time,
    )


def search_problem(prepared: Prepared, spec: TrainingSpec) -> Problem:
    """What the search works on: the training and validation splits and the spec's settings."""
    splits = prepared.splits
    return Problem(
        task=prepared.task,
        metric=prepared.metric,
        X=splits.X_train,
        y=splits.y_train,
        X_val=splits.X_val,
        y_val=splits.y_val,
        context=_context(prepared, spec.seed),
        cv_folds=spec.cv_folds or (5 if len(splits.X_train) <= 5000 else 3),
        seed=spec.seed,
    )


def _champion_test_rows(
    registry: Registry, champion: ModelVersion, prepared: Prepared, target: str
) -> tuple[Pipeline, pd.DataFrame]:
    """The champion's pipeline and ``prepared``'s test rows as it reads them (all columns)."""
    if champion.target != target or champion.task != prepared.task.value:
        raise InvalidInputError(
            f"it predicts {champion.target!r} ({champion.task}), not {target!r} ({prepared.task.value})"
        )
    rows = prepared.rows(Split.TEST)
    X = (
        rows.drop(columns=[target])
        if prepared.task is not Task.LANGUAGE_MODELLING
        else rows[[target]]
    )
    return registry.load(champion), X


def _score_champion(
    registry: Registry, champion: ModelVersion, prepared: Prepared, target: str
) -> float:
    """The champion's metric on ``prepared``'s test split (all columns given; it picks its own)."""
    pipeline, X = _champion_test_rows(registry, champion, prepared, target)
    scores = model_scores(prepared.task, pipeline, X, prepared.splits.y_test)
    return pick(scores, prepared.metric)


def _predictions(task: Task, model: Pipeline, X: pd.DataFrame) -> Predictions:
    has_proba = task.is_classification and hasattr(model, "predict_proba")
    proba = model.predict_proba(X) if has_proba else None
    return Predictions(np.asarray(model.predict(X)), proba, getattr(model, "classes_", None))


@dataclass(frozen=True)
class _CrossValidation:
    """The folds of the repeated-CV protocol, the rows they index, and the scores on them."""

    X: pd.DataFrame
    y: Any
    folds: list[Fold]
    model: FoldScores
    baseline: FoldScores


def _champion_on_folds(
    registry: Registry,
    champion: ModelVersion,
    prepared: Prepared,
    cv: _CrossValidation,
    seed: int,
) -> FoldScores:
    """The champion's recipe (family and parameters from its card) fit on the same folds."""
    card = registry.card(champion)
    if champion.target != card["target"] or card["task"] != prepared.task.value:
        raise InvalidInputError(f"it predicts {card['target']!r} ({card['task']})")
    recipe, params = family(card["family"]), dict(card["params"])
    context = _context(prepared, seed)
    return cross_validate(
        prepared.task, lambda: build_pipeline(recipe, context, params), cv.X, cv.y, cv.folds
    )


def _champion_gate(
    registry: Registry,
    spec: TrainingSpec,
    prepared: Prepared,
    value: float,
    exclude: int | None = None,
    fitted: _Fitted | None = None,
) -> GateResult:
    """The champion gate; with ``fitted``, paired on its folds or test rows (beyond noise)."""
    metric, margin = prepared.metric, spec.gates.champion_margin
    number = registry.alias(spec.name, "champion")
    if number is None or number == exclude:
        return champion_gate(metric, value, None, margin, None)
    champion = registry.get(f"{spec.name}@{number}")
    comparison: Comparison | None = None
    how, where = "", "the same test split"
    try:
        if fitted is not None and fitted.cv is not None:
            scores = _champion_on_folds(registry, champion, prepared, fitted.cv, spec.seed)
            champion_value = float(np.nanmean(scores.of(metric.name)))
            mine = fitted.cv.model.of(metric.name)
            comparison = compare_on_folds(
                metric, mine, scores.of(metric.name), margin, fitted.cv.model.test_share
            )
            where = f"the same {len(mine)} folds (its recipe refit on each)"
            how = "corrected paired t test over the folds"
        elif fitted is not None and fitted.evaluation.predicted is not None:
            pipeline, X = _champion_test_rows(registry, champion, prepared, spec.target)
            theirs = _predictions(prepared.task, pipeline, X)
            y = prepared.splits.y_test
            assert y is not None
            champion_value = pick(model_scores(prepared.task, pipeline, X, y), metric)
            comparison = compare_on_rows(
                prepared.task, metric, y, fitted.evaluation.predicted, theirs, margin, spec.seed
            )
            how = f"paired bootstrap of the {len(y)} test rows"
        elif fitted is not None and fitted.evaluation.documents is not None:
            pipeline, X = _champion_test_rows(registry, champion, prepared, spec.target)
            their_losses = document_losses(pipeline, X)
            if their_losses is None:
                raise InvalidInputError("its model cannot score texts one by one")
            champion_value = text_scores(their_losses)[metric.name]
            comparison = compare_on_texts(
                metric, fitted.evaluation.documents, their_losses, margin, spec.seed
            )
            how = f"paired bootstrap of the {len(their_losses)} test texts"
        else:
            champion_value = _score_champion(registry, champion, prepared, spec.target)
    except Exception as error:  # an unscorable champion blocks replacement, with the reason
        why = str(error).splitlines()[0] if str(error) else type(error).__name__
        return champion_unscored(metric, value, margin, champion.ref, why)
    return champion_gate(
        metric, value, champion_value, margin, champion.ref, comparison, how, where
    )


@dataclass(frozen=True)
class _Fitted:
    """The refit winner, the refit baseline and what the test split said."""

    model: Pipeline
    evaluation: Evaluation
    baseline: dict[str, float]
    value: float
    baseline_predicted: Predictions | None = None  # the dummy's test-split predictions
    cv: _CrossValidation | None = None  # the repeated-CV protocol's folds and scores
    baseline_documents: NDArray[np.float64] | None = None  # a language baseline's, per test text


class _Run:
    """One training run's steps; ``train`` calls them in order."""

    def __init__(
        self,
        spec: TrainingSpec,
        catalog: Catalog,
        run_id: str,
        echo: Echo | None,
        workers: int = 1,
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.catalog = catalog
        self.run_id = run_id
        self.say: Echo = echo or (lambda _: None)
        self.registry = Registry(catalog)
        self.progress = ProgressFile(catalog.workspace, run_id, spec)
        self.staging: Path | None = None
        self.drawing = Drawing()
        self.best: TrialRecord | None = None

    def prepare(self, stack: ExitStack) -> tuple[Prepared, list[Family], str]:
        self.progress.stage("loading", f"reading {self.spec.dataset}")
        prepared = prepare(self.spec, self.catalog)
        chosen = families_for(prepared.task, self.spec.families, len(prepared.splits.X_train))
        uses_torch = any(f.uses_torch for f in chosen)
        device = _seed_everything(self.spec.seed, uses_torch)
        stack.enter_context(_threads(len(prepared.frame), uses_torch))
        counts = prepared.counts()
        self.say(
            f"{prepared.version.ref}: {prepared.task.value} of {self.spec.target!r} by "
            f"{prepared.metric.name}; {len(prepared.profile.columns)} features; "
            f"split {counts['train']}/{counts['validation']}/{counts['test']}"
        )
        if prepared.leakage.found:
            self.say(prepared.leakage.sentence())
        if prepared.unlabelled:
            self.say(f"{prepared.unlabelled} row(s) without a {self.spec.target!r} left out")
        return prepared, chosen, device

    def on_trial(self, trial: TrialRecord, metric: Metric) -> None:
        if trial.state == "complete" and trial.family != "dummy" and trial.score is not None:
            best = self.best.score if self.best and self.best.score is not None else None
            if best is None or signed(metric, trial.score) > signed(metric, best):
                self.best = trial
        self.progress.trial(trial.to_json(), self.best.to_json() if self.best else None)
        score = f"{trial.score:.4f}" if trial.score is not None else trial.message
        self.say(
            f"  trial {trial.number:>3} {trial.phase:<9} {trial.family:<22} {trial.state:<8} {score}"
        )

    def search(self, prepared: Prepared, chosen: list[Family]) -> SearchResult:
        spec = self.spec
        self.progress.stage("searching", f"{len(chosen)} families, {spec.time_budget:g} s budget")
        shared = None
        if self.workers > 1:  # a joining worker reads this exact version again
            pinned = spec.with_overrides(dataset=prepared.version.ref).to_json()
            workspace = self.catalog.workspace
            shared = shared_tuning(workspace, self.run_id, pinned, self.workers, spec.seed)
            self.say(
                f"tuning in {self.workers} processes; `harvest tune-worker {self.run_id}` "
                "joins from another machine"
            )
        return search(
            search_problem(prepared, spec),
            chosen,
            budget=spec.time_budget,
            max_trials=spec.trials,
            fixed=spec.params,
            on_trial=lambda trial: self.on_trial(trial, prepared.metric),
            shared=shared,
        )

    def refit_and_evaluate(
        self, prepared: Prepared, best: TrialRecord, start: FineTuning | None = None
    ) -> _Fitted:
        """Refit the winner (and the baseline) on the training split; score once on test.

        With ``start`` the model is the parent's continued (scored on the test split only).
        """
        self.progress.stage("refitting", f"{best.family} on the training split")
        self.say(f"refitting {best.family} on the training split")
        splits, winner = prepared.splits, family(best.family)
        context = _context(prepared, self.spec.seed, max_time=max(self.spec.time_budget, 10.0))

        layout = self.spec.layout if winner.uses_torch else Layout()
        if layout.nodes > 1:
            self.say(
                f"fitting {best.family} with DistributedDataParallel on {layout.nodes} machines: "
                f"run `harvest train-node --rendezvous {layout.rendezvous} --nodes {layout.nodes}` "
                f"on the other {layout.nodes - 1}"
            )
        elif layout.distributed:
            self.say(
                f"fitting {best.family} with DistributedDataParallel in {layout.processes} processes"
            )

        def refit(X: pd.DataFrame, y: Any, validation: Any = None) -> Pipeline:
            pipeline = build_pipeline(winner, context, best.params)
            return fit_pipeline(pipeline, X, y, validation, layout=layout)

        started = time.perf_counter()
        model = (start.fit if start else refit)(
            splits.X_train, splits.y_train, (splits.X_val, splits.y_val)
        )
        fit_seconds = time.perf_counter() - started
        dummy = build_pipeline(family("dummy"), context, {})
        baseline_model = fit_pipeline(dummy, splits.X_train, splits.y_train)

        self.progress.stage("evaluating", "scoring on the test split")
        self.staging = self.registry.staging(self.spec.name)
        evaluation = evaluate(
            prepared.task,
            prepared.metric,
            model,
            splits,
            refit=None if winner.uses_torch or start else refit,
            plot_dir=self.staging / "plots",
            seed=self.spec.seed,
            fit_seconds=fit_seconds,
            drawing=self.drawing,  # waited for in register, once the artifact is saved
        )
        baseline = model_scores(prepared.task, baseline_model, splits.X_test, splits.y_test)
        baseline_predicted = (
            _predictions(prepared.task, baseline_model, splits.X_test)
            if evaluation.predicted is not None
            else None
        )
        baseline_documents = (
            document_losses(baseline_model, splits.X_test)
            if evaluation.documents is not None
            else None
        )
        cv: _CrossValidation | None = None
        protocol = (
            TEST_SPLIT
            if start
            else choose_protocol(prepared.task, len(prepared.frame), winner.uses_torch)
        )
        if protocol == REPEATED_CV:
            self.progress.stage(
                "evaluating", f"{CV_REPEATS} x {CV_FOLDS}-fold cross-validation on all rows"
            )
            self.say(f"scoring by {CV_REPEATS} x {CV_FOLDS}-fold cross-validation on all rows")
            X_all, y_all = all_rows(splits)
            folds = repeated_folds(prepared.task, y_all, self.spec.seed)
            cv = _CrossValidation(
                X_all,
                y_all,
                folds,
                cross_validate(
                    prepared.task,
                    lambda: build_pipeline(winner, context, best.params),
                    X_all, y_all, folds,
                ),
                cross_validate(
                    prepared.task,
                    lambda: build_pipeline(family("dummy"), context, {}),
                    X_all, y_all, folds,
                ),
            )  # fmt: skip
            model = refit(X_all, y_all)
            evaluation = replace(
                evaluation, test=cv.model.means(), intervals=cv.model.intervals(), protocol=protocol
            )
            baseline = cv.baseline.means()
        if evaluation.intervals:
            path = self.drawing.draw(
                plots.scores,
                dict(evaluation.test),
                {n: (i.low, i.high) for n, i in evaluation.intervals.items()},
                dict(baseline),
                evaluation.protocol,
                self.staging / "plots" / "scores.png",
            )
            name = str(path.relative_to(self.staging))
            evaluation = replace(evaluation, plots=(name, *evaluation.plots))
        return _Fitted(
            model,
            evaluation,
            baseline,
            pick(evaluation.test, prepared.metric),
            baseline_predicted,
            cv,
            baseline_documents,
        )

    def gate(
        self, prepared: Prepared, fitted: _Fitted, promote: bool
    ) -> tuple[tuple[GateResult, ...], str | None]:
        margin, metric = self.spec.gates.baseline_margin, prepared.metric
        comparison: Comparison | None = None
        how = ""
        if fitted.cv is not None:
            mine, theirs = fitted.cv.model.of(metric.name), fitted.cv.baseline.of(metric.name)
            comparison = compare_on_folds(metric, mine, theirs, margin, fitted.cv.model.test_share)
            how = f"corrected paired t test over the same {len(mine)} folds"
        elif fitted.evaluation.predicted is not None and fitted.baseline_predicted is not None:
            y = prepared.splits.y_test
            assert y is not None
            comparison = compare_on_rows(
                prepared.task, metric, y, fitted.evaluation.predicted,
                fitted.baseline_predicted, margin, self.spec.seed,
            )  # fmt: skip
            how = f"paired bootstrap of the {len(y)} test rows"
        elif fitted.evaluation.documents is not None and fitted.baseline_documents is not None:
            comparison = compare_on_texts(
                metric, fitted.evaluation.documents, fitted.baseline_documents, margin,
                self.spec.seed,
            )  # fmt: skip
            how = f"paired bootstrap of the {len(fitted.baseline_documents)} test texts"
        gates = (
            baseline_gate(
                metric, fitted.value, pick(fitted.baseline, metric), margin, comparison, how
            ),
            _champion_gate(self.registry, self.spec, prepared, fitted.value, fitted=fitted),
        )
        for gate in gates:
            self.say(f"gate {gate.gate}: {'passed' if gate.passed else 'FAILED'} - {gate.detail}")
        if not (promote and gates[0].passed):
            return gates, None
        return gates, "champion" if gates[1].passed else "challenger"

    def register(
        self,
        prepared: Prepared,
        result: SearchResult,
        fitted: _Fitted,
        gates: tuple[GateResult, ...],
        promoted: str | None,
        device: str,
        tuning: FineTuning | None = None,
    ) -> ModelVersion:
        """Write the artifact, card and plots; register the version; set its alias."""
        record = tuning.record(prepared.metric, fitted.value) if tuning else None
        assert self.staging is not None
        spec, registry = self.spec, self.registry
        self.progress.stage("registering", "writing the model version")
        files = save_pipeline(fitted.model, self.staging)
        _write_json(self.staging / "leaderboard.json", [t.to_json() for t in result.trials])
        evaluation = fitted.evaluation
        scores = {
            "protocol": evaluation.protocol,
            "test": evaluation.test,
            "intervals": {k: v.to_json() for k, v in evaluation.intervals.items()},
            "validation": evaluation.validation,
            "baseline": fitted.baseline,
            **({"fine_tuning": record} if record else {}),
        }
        _write_json(self.staging / "metrics.json", scores)
        steps = lineage(self.catalog, prepared.version)

        def write_card(number: int, folder: Path) -> None:
            card = build_card(
                CardInputs(
                    model=spec.name, version=number, run_id=self.run_id, spec=spec,
                    prepared=prepared, lineage=steps, search=result, evaluation=evaluation,
                    baseline=fitted.baseline, gates=gates, promoted=promoted, artifact=files,
                    device=device, parent=tuning.parent.lineage() if tuning else None,
                    fine_tuning=record,
                )
            )  # fmt: skip
            _write_json(folder / "card.json", card)
            (folder / "MODEL_CARD.md").write_text(render_markdown(card), encoding="utf-8")

        self.drawing.wait()
        entry = Registration(
            task=prepared.task.value, target=spec.target, family=result.best.family,
            metric=prepared.metric.name, score=fitted.value,
            baseline=pick(fitted.baseline, prepared.metric), dataset=prepared.version.ref,
            content_hash=prepared.version.content_hash,
            gates_passed=all(g.passed for g in gates), run_id=self.run_id,
        )  # fmt: skip
        version = registry.register(
            spec.name,
            self.staging,
            entry,
            write_card,
            gates=[g.to_json() for g in gates],
            alias=promoted,
            parent=tuning.parent.ref if tuning else None,
        )
        self.staging = None
        interval = evaluation.intervals.get(prepared.metric.name)
        between = f", 95% interval {interval.low:.4f} to {interval.high:.4f}" if interval else ""
        self.say(
            f"registered {version.ref} ({prepared.metric.name} {fitted.value:.4f}{between}); "
            f"promoted to {promoted or 'nothing'}"
        )
        return version

    def fine_tuning(self) -> FineTuning:
        """Load the spec's parent model and make the spec its (task, features, family)."""
        self.progress.stage("loading", f"reading the parent model {self.spec.from_model}")
        tuning = FineTuning.start(self.spec, self.catalog)
        self.spec = tuning.spec
        return tuning

    def fine_tune(
        self, tuning: FineTuning, prepared: Prepared, promote: bool
    ) -> tuple[SearchResult, _Fitted, tuple[GateResult, ...], str | None]:
        """Continue the parent on the data, gate it, and train from scratch for the third gate."""
        for note in tuning.check(prepared):
            self.say(note)
        result = tuning.trial()
        self.on_trial(result.best, prepared.metric)
        fitted = self.refit_and_evaluate(prepared, result.best, start=tuning)
        gates, promoted = self.gate(prepared, fitted, promote)
        self.progress.stage("comparing", f"{tuning.parent.family.name} from scratch, same budget")
        self.say(f"training {tuning.parent.family.name} from scratch in the same budget")
        tuning.train_from_scratch(prepared, _context(prepared, self.spec.seed))
        scratch = tuning.scratch_gate(prepared.metric, fitted.value)
        self.say(
            f"gate {scratch.gate}: {'passed' if scratch.passed else 'FAILED'} - {scratch.detail}"
        )
        if promoted == "champion" and not scratch.passed:
            promoted = "challenger"
        return result, fitted, (*gates, scratch), promoted

    def fail(self, error: BaseException) -> None:
        message = (
            str(error) if isinstance(error, HarvestError) else f"{type(error).__name__}: {error}"
        )
        self.progress.failed(message or type(error).__name__)
        if self.staging is not None:
            with contextlib.suppress(Exception):  # plots still drawing into it: let them end
                self.drawing.wait()
            remove_staging(self.staging)


def train(
    spec: TrainingSpec,
    catalog: Catalog,
    *,
    run_id: str | None = None,
    echo: Echo | None = None,
    promote: bool = True,
    workers: int = 1,
) -> TrainResult:
    """Run one training run for ``spec``; see the module docstring for the steps.

    With ``workers`` above 1 the tuning trials run in that many processes sharing one
    Optuna study (:mod:`training.tuning`).
    """
    check_workers(workers)
    if spec.task is Task.REINFORCEMENT_LEARNING:  # a policy in an environment, not a table
        from training.reinforcement import train_policy

        return train_policy(spec, catalog, run_id=run_id, echo=echo, promote=promote)
    run = _Run(spec, catalog, run_id or new_run_id(spec.name), echo, workers)
    start_plotter()  # it starts while the data is read and the model fit
    try:
        with ExitStack() as stack:
            stack.enter_context(_stop_on_signals(run.run_id))
            stack.enter_context(_frozen_heap())
            tuning = run.fine_tuning() if spec.from_model else None
            prepared, chosen, device = run.prepare(stack)
            if tuning is None:
                result = run.search(prepared, chosen)
                fitted = run.refit_and_evaluate(prepared, result.best)
                gates, promoted = run.gate(prepared, fitted, promote)
            else:
                result, fitted, gates, promoted = run.fine_tune(tuning, prepared, promote)
            version = run.register(prepared, result, fitted, gates, promoted, device, tuning)
    except BaseException as error:
        run.fail(error)
        raise
    run.progress.done(
        {
            "model": version.model,
            "version": version.version,
            "ref": version.ref,
            "metric": prepared.metric.name,
            "score": fitted.value,
            "baseline": pick(fitted.baseline, prepared.metric),
            "promoted": promoted,
            "path": str(version.path),
        }
    )
    return TrainResult(
        run_id=run.run_id,
        version=version,
        task=prepared.task,
        metric=prepared.metric.name,
        test=dict(fitted.evaluation.test),
        baseline=dict(fitted.baseline),
        gates=gates,
        promoted=promoted,
        leaderboard=result.trials,
        leakage=prepared.leakage,
        intervals={name: (i.low, i.high) for name, i in fitted.evaluation.intervals.items()},
        protocol=fitted.evaluation.protocol,
    )


def tune_worker(catalog: Catalog, run_id: str, *, echo: Echo | None = None) -> int:
    """Join run ``run_id``'s shared search and run its trials until it ends; return how many.

    The run's spec (its dataset pinned to the version the run read) and plan are on the
    study, so the worker prepares the same splits from the catalog on any machine.
    """
    study = load_study(catalog.workspace, run_id)
    spec = spec_from_mapping(study.user_attrs[SPEC], origin=f"The spec of run {run_id}")
    plan = study.user_attrs[PLAN]
    with ExitStack() as stack:
        stack.enter_context(_frozen_heap())
        prepared = prepare(spec, catalog)
        families = [family(name) for name in plan["families"]]
        stack.enter_context(_threads(len(prepared.frame), any(f.uses_torch for f in families)))
        say = echo or (lambda _: None)
        say(f"joined the search of run {run_id} on {prepared.version.ref}")
        return work_on_study(
            study,
            search_problem(prepared, spec),
            families,
            plan,
            on_trial=lambda t: say(f"  trial {t.number:>3} {t.family:<22} {t.state:<8} {t.score}"),
        )


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, default=_plain), encoding="utf-8")


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _evidence_again(
    registry: Registry,
    version: ModelVersion,
    prepared: Prepared,
    card: dict[str, Any],
    seed: int,
) -> _Fitted:
    """What training gave the champion gate, made again for a registered version, so that a
    promotion by hand is paired like one at training: its recipe refit on the same folds
    (repeated CV), or its predictions (a language model's per-text losses) on the test rows."""
    pipeline, X = _champion_test_rows(registry, version, prepared, version.target)
    evaluation = Evaluation({}, {}, {}, (), ())
    cv: _CrossValidation | None = None
    if card.get("evaluation", {}).get("protocol") == REPEATED_CV:
        X_all, y_all = all_rows(prepared.splits)
        empty = FoldScores((), 0.0)
        cv = _CrossValidation(
            X_all, y_all, repeated_folds(prepared.task, y_all, seed), empty, empty
        )
        cv = replace(cv, model=_champion_on_folds(registry, version, prepared, cv, seed))
        value = float(np.nanmean(cv.model.of(prepared.metric.name)))
    else:
        value = pick(
            model_scores(prepared.task, pipeline, X, prepared.splits.y_test), prepared.metric
        )
        if prepared.task is Task.LANGUAGE_MODELLING:
            evaluation = replace(evaluation, documents=document_losses(pipeline, X))
        else:
            evaluation = replace(evaluation, predicted=_predictions(prepared.task, pipeline, X))
    return _Fitted(pipeline, evaluation, {}, value, cv=cv)


def promote(catalog: Catalog, ref: str) -> Promotion:
    """Make version ``ref`` (``model@N``) the champion if it passes the gates; record the verdict."""
    registry = Registry(catalog)
    version = registry.get(ref)
    if registry.alias(version.model, "champion") == version.version:
        return Promotion(version, True, (), f"{version.ref} is already the champion.")
    card = registry.card(version)
    if version.task == Task.REINFORCEMENT_LEARNING.value:
        from training.reinforcement import policy_gates

        gates = policy_gates(catalog, version, card)
    else:
        gates = _gates_again(catalog, registry, version, card)
    passed = all(g.passed for g in gates)
    registry.record(
        version.model,
        version.version,
        "promotion" if passed else "promotion refused",
        [g.to_json() for g in gates],
    )
    if not passed:
        failed = next(g for g in gates if not g.passed)
        return Promotion(version, False, gates, f"{version.ref} was not promoted: {failed.detail}")
    registry.set_alias(version.model, "champion", version.version, {"by": "promote"})
    if registry.alias(version.model, "challenger") == version.version:
        registry.clear_alias(version.model, "challenger")
    return Promotion(version, True, gates, f"{version.ref} is now the champion.")


def _gates_again(
    catalog: Catalog, registry: Registry, version: ModelVersion, card: dict[str, Any]
) -> tuple[GateResult, ...]:
    """A registered model's gates judged again: the baseline by its recorded scores, the
    champion paired on the same folds or test rows as at training."""
    spec = spec_from_mapping(
        {**card["spec"], "dataset": version.dataset}, origin=f"card of {version.ref}"
    )
    metric: Metric = metric_for(Task(version.task), version.metric)
    baseline = baseline_gate(metric, version.score, version.baseline, spec.gates.baseline_margin)
    if not baseline.passed:
        return (baseline,)
    prepared = replace(prepare(spec, catalog), metric=metric)
    evidence = _evidence_again(registry, version, prepared, card, spec.seed)
    champion = _champion_gate(
        registry,
        replace(spec, name=version.model),
        prepared,
        evidence.value,
        exclude=version.version,
        fitted=evidence,
    )
    return (baseline, champion)
