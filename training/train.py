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

Bad input raises :class:`~harvest.errors.HarvestError` before anything is registered;
a run stopped by SIGTERM/SIGINT registers nothing and says so in its progress file (a
SIGKILLed run reads as ``killed``).

``promote(catalog, "model@N") -> Promotion`` re-checks the gates for a registered
version and moves ``champion`` to it only if they pass.
"""

from __future__ import annotations

import json
import math
import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd

from catalog import Catalog
from harvest.errors import HarvestError, InvalidInputError
from training.card import CardInputs, build_card, render_markdown
from training.data import Prepared, lineage, prepare
from training.evaluation import evaluate
from training.families import FamilyContext, families_for, family
from training.gates import GateResult, baseline_gate, champion_gate, champion_unscored
from training.metrics import Metric, metric_for, model_scores, pick
from training.registry import ModelVersion, Registration, Registry, remove_staging, save_pipeline
from training.runs import ProgressFile, new_run_id
from training.search import Problem, TrialRecord, build_pipeline, fit_pipeline, search
from training.spec import Task, TrainingSpec, spec_from_mapping
from training.splits import Leakage, Split

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

    @property
    def score(self) -> float:
        return self.test[self.metric]


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

    from training.families.torch_base import make_deterministic, pick_device

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


def _score_champion(
    registry: Registry, champion: ModelVersion, prepared: Prepared, target: str
) -> float:
    """The champion's metric on ``prepared``'s test split (all columns given; it picks its own)."""
    if champion.target != target or champion.task != prepared.task.value:
        raise InvalidInputError(
            f"it predicts {champion.target!r} ({champion.task}), not {target!r} ({prepared.task.value})"
        )
    pipeline = registry.load(champion)
    rows = prepared.rows(Split.TEST)
    X = (
        rows.drop(columns=[target])
        if prepared.task is not Task.LANGUAGE_MODELLING
        else rows[[target]]
    )
    scores = model_scores(prepared.task, pipeline, X, prepared.splits.y_test)
    return pick(scores, prepared.metric)


def _champion_gate(
    registry: Registry,
    spec: TrainingSpec,
    prepared: Prepared,
    value: float,
    exclude: int | None = None,
) -> GateResult:
    metric = prepared.metric
    number = registry.alias(spec.name, "champion")
    if number is None or number == exclude:
        return champion_gate(metric, value, None, spec.gates.champion_margin, None)
    champion = registry.get(f"{spec.name}@{number}")
    try:
        champion_value = _score_champion(registry, champion, prepared, spec.target)
    except Exception as error:  # an unscorable champion blocks replacement, with the reason
        why = str(error).splitlines()[0] if str(error) else type(error).__name__
        return champion_unscored(metric, value, spec.gates.champion_margin, champion.ref, why)
    return champion_gate(metric, value, champion_value, spec.gates.champion_margin, champion.ref)


def train(
    spec: TrainingSpec,
    catalog: Catalog,
    *,
    run_id: str | None = None,
    echo: Echo | None = None,
    promote: bool = True,
) -> TrainResult:
    """Run one training run for ``spec``; see the module docstring for the steps."""
    run_id = run_id or new_run_id(spec.name)
    progress = ProgressFile(catalog.workspace, run_id, spec)
    say = echo or (lambda _: None)
    registry = Registry(catalog)
    staging: Path | None = None
    try:
        with ExitStack() as stack:
            stack.enter_context(_stop_on_signals(run_id))
            progress.stage("loading", f"reading {spec.dataset}")
            prepared = prepare(spec, catalog)
            chosen = families_for(prepared.task, spec.families, len(prepared.splits.X_train))
            uses_torch = any(f.uses_torch for f in chosen)
            device = _seed_everything(spec.seed, uses_torch)
            stack.enter_context(_threads(len(prepared.frame), uses_torch))
            counts = prepared.counts()
            say(
                f"{prepared.version.ref}: {prepared.task.value} of {spec.target!r} by {prepared.metric.name}; "
                f"{len(prepared.profile.columns)} features; split {counts['train']}/{counts['validation']}/{counts['test']}"
            )
            if prepared.leakage.found:
                say(prepared.leakage.sentence())

            progress.stage("searching", f"{len(chosen)} families, {spec.time_budget:g} s budget")
            best_so_far: list[TrialRecord] = []

            def on_trial(trial: TrialRecord) -> None:
                if (
                    trial.state == "complete"
                    and trial.family != "dummy"
                    and trial.score is not None
                ):
                    current = best_so_far[0] if best_so_far else None
                    sign = 1 if prepared.metric.greater_is_better else -1
                    if (
                        current is None
                        or current.score is None
                        or sign * trial.score > sign * current.score
                    ):
                        best_so_far[:] = [trial]
                progress.trial(trial.to_json(), best_so_far[0].to_json() if best_so_far else None)
                score = f"{trial.score:.4f}" if trial.score is not None else trial.message
                say(
                    f"  trial {trial.number:>3} {trial.phase:<9} {trial.family:<22} {trial.state:<8} {score}"
                )

            problem = Problem(
                task=prepared.task,
                metric=prepared.metric,
                X=prepared.splits.X_train,
                y=prepared.splits.y_train,
                X_val=prepared.splits.X_val,
                y_val=prepared.splits.y_val,
                context=_context(prepared, spec.seed),
                cv_folds=spec.cv_folds or (5 if len(prepared.splits.X_train) <= 5000 else 3),
                seed=spec.seed,
            )
            result = search(
                problem,
                chosen,
                budget=spec.time_budget,
                max_trials=spec.trials,
                fixed=spec.params,
                on_trial=on_trial,
            )

            progress.stage("refitting", f"{result.best.family} on the training split")
            say(f"refitting {result.best.family} on the training split")
            splits = prepared.splits
            winner_family = family(result.best.family)
            refit_context = _context(prepared, spec.seed, max_time=max(spec.time_budget, 10.0))
            model = fit_pipeline(
                build_pipeline(winner_family, refit_context, result.best.params),
                splits.X_train,
                splits.y_train,
                validation=(splits.X_val, splits.y_val),
            )
            baseline_model = fit_pipeline(
                build_pipeline(family("dummy"), refit_context, {}), splits.X_train, splits.y_train
            )

            progress.stage("evaluating", "scoring on the test split")
            staging = registry.staging(spec.name)

            def refit(X: pd.DataFrame, y: Any) -> Any:
                return fit_pipeline(
                    build_pipeline(winner_family, refit_context, result.best.params), X, y
                )

            evaluation = evaluate(
                prepared.task,
                prepared.metric,
                model,
                splits,
                refit=None if winner_family.uses_torch else refit,
                plot_dir=staging / "plots",
                seed=spec.seed,
            )
            baseline = model_scores(prepared.task, baseline_model, splits.X_test, splits.y_test)
            value = pick(evaluation.test, prepared.metric)
            gates = (
                baseline_gate(
                    prepared.metric,
                    value,
                    pick(baseline, prepared.metric),
                    spec.gates.baseline_margin,
                ),
                _champion_gate(registry, spec, prepared, value),
            )
            for gate in gates:
                say(f"gate {gate.gate}: {'passed' if gate.passed else 'FAILED'} - {gate.detail}")
            promoted = None
            if promote and gates[0].passed:
                promoted = "champion" if gates[1].passed else "challenger"

            progress.stage("registering", "writing the model version")
            files = save_pipeline(model, staging)
            _write_json(staging / "leaderboard.json", [t.to_json() for t in result.trials])
            _write_json(
                staging / "metrics.json",
                {
                    "test": evaluation.test,
                    "validation": evaluation.validation,
                    "baseline": baseline,
                },
            )
            steps = lineage(catalog, prepared.version.ref)

            def write_card(number: int, folder: Path) -> None:
                card = build_card(
                    CardInputs(
                        model=spec.name,
                        version=number,
                        run_id=run_id,
                        spec=spec,
                        prepared=prepared,
                        lineage=steps,
                        search=result,
                        evaluation=evaluation,
                        baseline=baseline,
                        gates=gates,
                        promoted=promoted,
                        artifact=files,
                        device=device,
                    )
                )
                _write_json(folder / "card.json", card)
                (folder / "MODEL_CARD.md").write_text(render_markdown(card), encoding="utf-8")

            version = registry.register(
                spec.name,
                staging,
                Registration(
                    task=prepared.task.value,
                    target=spec.target,
                    family=result.best.family,
                    metric=prepared.metric.name,
                    score=value,
                    baseline=pick(baseline, prepared.metric),
                    dataset=prepared.version.ref,
                    content_hash=prepared.version.content_hash,
                    gates_passed=all(g.passed for g in gates),
                    run_id=run_id,
                ),
                write_card,
            )
            staging = None
            registry.record(spec.name, version.version, "gates", [g.to_json() for g in gates])
            if promoted:
                registry.set_alias(
                    spec.name, promoted, version.version, {"run_id": run_id, "by": "train"}
                )
                if promoted == "champion" and registry.alias(spec.name, "challenger") is not None:
                    registry.clear_alias(spec.name, "challenger")
            version = registry.get(version.ref)
            say(
                f"registered {version.ref} ({prepared.metric.name} {value:.4f}); promoted to {promoted or 'nothing'}"
            )
            progress.done(
                {
                    "model": version.model,
                    "version": version.version,
                    "ref": version.ref,
                    "metric": prepared.metric.name,
                    "score": value,
                    "baseline": pick(baseline, prepared.metric),
                    "promoted": promoted,
                    "path": str(version.path),
                }
            )
            return TrainResult(
                run_id=run_id,
                version=version,
                task=prepared.task,
                metric=prepared.metric.name,
                test=dict(evaluation.test),
                baseline=dict(baseline),
                gates=gates,
                promoted=promoted,
                leaderboard=result.trials,
                leakage=prepared.leakage,
            )
    except BaseException as error:
        message = (
            str(error) if isinstance(error, HarvestError) else f"{type(error).__name__}: {error}"
        )
        progress.failed(message or type(error).__name__)
        if staging is not None:
            remove_staging(staging)
        raise


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, default=_plain), encoding="utf-8")


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def promote(catalog: Catalog, ref: str) -> Promotion:
    """Make version ``ref`` (``model@N``) the champion if it passes the gates; record the verdict."""
    registry = Registry(catalog)
    version = registry.get(ref)
    card = registry.card(version)
    spec = spec_from_mapping(
        {**card["spec"], "dataset": version.dataset}, origin=f"card of {version.ref}"
    )
    if registry.alias(version.model, "champion") == version.version:
        return Promotion(version, True, (), f"{version.ref} is already the champion.")
    metric: Metric = metric_for(Task(version.task), version.metric)
    gates: list[GateResult] = [
        baseline_gate(metric, version.score, version.baseline, spec.gates.baseline_margin)
    ]
    if gates[0].passed:
        prepared = prepare(spec, catalog)
        prepared = replace(prepared, metric=metric)
        value = _score_champion(registry, version, prepared, spec.target)
        gates.append(
            _champion_gate(
                registry,
                replace(spec, name=version.model),
                prepared,
                value,
                exclude=version.version,
            )
        )
    passed = all(g.passed for g in gates)
    registry.record(
        version.model,
        version.version,
        "promotion" if passed else "promotion refused",
        [g.to_json() for g in gates],
    )
    if not passed:
        failed = next(g for g in gates if not g.passed)
        return Promotion(
            version, False, tuple(gates), f"{version.ref} was not promoted: {failed.detail}"
        )
    registry.set_alias(version.model, "champion", version.version, {"by": "promote"})
    if registry.alias(version.model, "challenger") == version.version:
        registry.clear_alias(version.model, "challenger")
    return Promotion(version, True, tuple(gates), f"{version.ref} is now the champion.")
