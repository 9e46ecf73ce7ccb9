"""Training: one model asset per training spec, its gates as asset checks.

The asset trains on exactly the dataset version its upstream asset recorded, through
``training.train.train`` (search, refit, evaluation, gates, registry, promotion). The
baseline and champion gates are checks: a model that does not beat the baseline is an
error; a challenger that does not beat the champion is a warning that says the champion
stays. New clean versions start retraining through ``AutomationCondition.eager()``, held
back while an upstream blocking check fails.
"""

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    Config,
    MaterializeResult,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    asset,
    asset_check,
    job,
    op,
)

from catalog import Catalog
from core.workspace import Workspace
from dagster_project.common import as_failure, asset_name, dataset_asset_key, recorded_ref, tag_run
from dagster_project.metadata import Metadata, numbers
from dagster_project.resources import CatalogResource, ModelRegistryResource
from training.data import lineage
from training.drift import model_drift
from training.gates import GateResult
from training.search import TrialRecord
from training.spec import TrainingSpec, spec_from_mapping, workspace_specs
from training.train import TrainResult

GROUP = "training"
TRAINING_JOB = "training_job"
TRAIN_OP = "train_model"
GATES = ("baseline", "champion")
LEADERBOARD_ROWS = 15
INLINE_PLOT_BYTES = 200_000


@dataclass(frozen=True)
class Model:
    """A training spec as the definitions see it."""

    spec: TrainingSpec

    @property
    def key(self) -> AssetKey:
        return AssetKey(f"{asset_name(self.spec.name)}_model")

    @property
    def dataset_key(self) -> AssetKey:
        return dataset_asset_key(self.spec.dataset)

    @property
    def pinned(self) -> bool:
        return "@" in self.spec.dataset


def models_of(workspace: Workspace) -> list[Model]:
    """One model per training spec of ``workspace`` (discovered by :mod:`training.spec`)."""
    return [Model(spec) for spec in workspace_specs(workspace)]


def gate_checks(model: Model) -> list[AssetCheckSpec]:
    heuristic = (
        [
            AssetCheckSpec(
                "beats_heuristic",
                asset=model.key,
                description="The repricing policy beats keeping the price on the test products.",
            )
        ]
        if model.spec.environment == "repricing"
        else []
    )
    return [
        *heuristic,
        AssetCheckSpec(
            "beats_baseline",
            asset=model.key,
            description="The model beats the dummy baseline by the spec's margin on the test split.",
        ),
        AssetCheckSpec(
            "beats_champion",
            asset=model.key,
            description="A challenger beats the current champion on the same test split; else the champion stays.",
        ),
    ]


def gate_results(model: Model, gates: Sequence[GateResult]) -> list[AssetCheckResult]:
    """Each gate's verdict as a check result (a gate that never ran is reported as not passed)."""
    by_gate = {gate.gate: gate for gate in gates}
    checks = []
    heuristic = [("heuristic", "beats_heuristic", AssetCheckSeverity.ERROR)]
    for gate, name, severity in (
        *(heuristic if model.spec.environment == "repricing" else []),
        ("baseline", "beats_baseline", AssetCheckSeverity.ERROR),
        ("champion", "beats_champion", AssetCheckSeverity.WARN),
    ):
        verdict = by_gate.get(gate)
        description = verdict.detail if verdict else f"not checked: the {GATES[0]} gate failed"
        if gate == "champion" and verdict is not None and not verdict.passed:
            description += " The champion stays in place."
        checks.append(
            AssetCheckResult(
                check_name=name,
                asset_key=model.key,
                passed=bool(verdict and verdict.passed),
                severity=severity,
                description=description,
                metadata=gate_metadata(verdict) if verdict else {},
            )
        )
    return checks


def gate_metadata(gate: GateResult) -> Metadata:
    values: dict[str, object] = {"value": gate.value, "margin": gate.margin}
    if gate.reference is not None:
        values["reference"] = gate.reference
    if gate.required is not None:
        values["required"] = gate.required
    return numbers(values)


def leaderboard_markdown(trials: Sequence[TrialRecord], metric: str) -> str:
    ranked = sorted(
        (t for t in trials if t.score is not None), key=lambda t: t.score or 0.0, reverse=True
    )
    lines = [
        f"| # | phase | family | {metric} (CV) | ± | seconds | params |",
        "|---|---|---|---|---|---|---|",
    ]
    for trial in ranked[:LEADERBOARD_ROWS]:
        params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        lines.append(
            f"| {trial.number} | {trial.phase} | {trial.family} | {trial.score:.4f} | "
            f"{(trial.std or 0.0):.4f} | {trial.seconds:.1f} | {params.replace('|', '/')} |"
        )
    others = len(trials) - min(len(ranked), LEADERBOARD_ROWS)
    if others:
        lines.append(f"\n_{len(trials)} trials in all (pruned, failed or lower ones not shown)._")
    return "\n".join(lines)


def gates_markdown(result: TrainResult) -> str:
    lines = [
        f"- **{g.gate}**: {'passed' if g.passed else 'refused'}. {g.detail}" for g in result.gates
    ]
    outcome = {
        "champion": f"{result.version.ref} is now the champion.",
        "challenger": f"{result.version.ref} is a challenger; the champion stays.",
    }.get(result.promoted or "", f"{result.version.ref} was not promoted.")
    return "\n".join([*lines, "", f"**{outcome}**"])


def plot_metadata(folder: Path) -> Metadata:
    """Each plot as a path, and all of them inline in one Markdown entry."""
    plots = sorted(folder.rglob("*.png"))
    metadata: Metadata = {f"plot_{p.stem}": MetadataValue.path(str(p)) for p in plots}
    inline = [
        f"**{p.stem.replace('_', ' ')}**\n\n![{p.stem}](data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()})"
        for p in plots
        if p.stat().st_size <= INLINE_PLOT_BYTES
    ]
    if inline:
        metadata["plots"] = MetadataValue.md("\n\n".join(inline))
    return metadata


def scrape_runs(catalog: Catalog, dataset_ref: str) -> list[str]:
    """The scrape runs the dataset version descends from (``scrape:<run_id>`` producers)."""
    return [
        step.producer.removeprefix("scrape:")
        for step in lineage(catalog, dataset_ref)
        if step.producer.startswith("scrape:")
    ]


def model_metadata(result: TrainResult, runs: Sequence[str]) -> Metadata:
    version = result.version
    return {
        "model": version.ref,
        "dataset": version.dataset,
        "family": version.family,
        "task": result.task.value,
        "metric": result.metric,
        "score": MetadataValue.float(float(result.score)),
        "baseline_score": MetadataValue.float(float(version.baseline)),
        **{f"test_{name}": value for name, value in numbers(result.test).items()},
        "promoted": result.promoted or "no",
        "gates": MetadataValue.md(gates_markdown(result)),
        "leaderboard": MetadataValue.md(leaderboard_markdown(result.leaderboard, result.metric)),
        "scrape_runs": ", ".join(runs) or "(none)",
        "training_run": result.run_id,
        "model_card": MetadataValue.path(str(version.path / "MODEL_CARD.md")),
        **plot_metadata(version.path),
    }


def model_asset(model: Model) -> AssetsDefinition:
    """The model asset of one training spec, with its gate checks."""
    spec = model.spec
    condition = (
        AutomationCondition.on_missing()
        if model.pinned
        else (
            AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
        ).with_label("eager, once upstream blocking checks pass")
    )

    what = (
        f"a policy for {spec.environment}" + (f" made from {spec.dataset}" if spec.dataset else "")
        if spec.environment
        else f"predicts {spec.target!r} from {spec.dataset}"
    )

    @asset(
        key=model.key,
        deps=[model.dataset_key] if spec.dataset else [],  # a Gymnasium env reads no dataset
        group_name=GROUP,
        description=(
            f"Model {spec.name}: {what}; searched, evaluated, gated against the baseline and "
            "the champion, registered."
        ),
        kinds={"scikitlearn", "pytorch"},
        tags={"harvest/stage": "model"},
        check_specs=gate_checks(model),
        automation_condition=condition,
    )
    def _model(
        context: AssetExecutionContext, registry: ModelRegistryResource, catalog: CatalogResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        dataset = (
            spec.dataset
            if model.pinned or not spec.dataset
            else recorded_ref(context, model.dataset_key)
        )
        with as_failure():
            result = registry.train(spec, catalog.catalog, dataset=dataset, echo=context.log.info)
        runs = scrape_runs(catalog.catalog, result.version.dataset) if spec.dataset else []
        tag_run(
            context,
            {
                f"model_{spec.name}": result.version.ref,
                f"data_{spec.name}": result.version.dataset,
                f"scrape_runs_{spec.name}": ",".join(runs),
            },
        )
        yield MaterializeResult(
            metadata=model_metadata(result, runs), check_results=gate_results(model, result.gates)
        )

    return _model


def build_training(models: Sequence[Model]) -> list[AssetsDefinition]:
    return [model_asset(model) for model in models]


def drift_check(model: Model) -> AssetChecksDefinition:
    """A check on the model's dataset: its newest version's drift from the data the model
    was trained on, over the model's features, against the spec's ``drift`` threshold.
    Blocking when the spec says ``action: block``: retraining (and so promotion) waits."""
    spec = model.spec
    blocks = spec.drift.action == "block"

    @asset_check(
        asset=model.dataset_key,
        name=f"drift_for_{asset_name(spec.name)}",
        blocking=blocks,
        description=(
            f"The newest version's features drift from {spec.name}'s training data by at most "
            f"{spec.drift.threshold:g} (PSI); {'blocks' if blocks else 'warns'} otherwise."
        ),
    )
    def _drift(catalog: CatalogResource) -> AssetCheckResult:
        with as_failure():
            verdict = model_drift(catalog.catalog, spec, spec.dataset.split("@", 1)[0])
        if verdict is None:
            return AssetCheckResult(
                passed=True,
                description=f"No {spec.name} model, or no column of it, to compare yet.",
            )
        scores = {f"score_{c.column}": c.score for c in verdict.report.columns}
        return AssetCheckResult(
            passed=verdict.passed,
            severity=AssetCheckSeverity.ERROR if blocks else AssetCheckSeverity.WARN,
            description=verdict.sentence,
            metadata={"model": verdict.model, "threshold": verdict.threshold, **numbers(scores)},
        )

    return _drift


def build_drift_checks(
    models: Sequence[Model], datasets: Sequence[AssetKey]
) -> list[AssetChecksDefinition]:
    """One drift check per model whose dataset is an asset of these definitions."""
    return [drift_check(model) for model in models if model.dataset_key in datasets]


class TrainingRunConfig(Config):
    """What ``training_job`` trains: a spec as JSON, the training run id, the workspace."""

    spec: str  # TrainingSpec.to_json(), as a JSON string
    run_id: str  # the progress file's key (``HARVEST_HOME/models/_runs/<run_id>/``)
    home: str  # the workspace that asked; the run refuses to train in another one


@op(
    name=TRAIN_OP,
    out=Out(Nothing),
    description="Train one spec given as run config; progress goes to its training run's file.",
    tags={"harvest/stage": "model"},
)
def train_model(
    context: OpExecutionContext,
    config: TrainingRunConfig,
    registry: ModelRegistryResource,
    catalog: CatalogResource,
) -> None:
    with as_failure():
        spec = spec_from_mapping(json.loads(config.spec), origin=f"training run {config.run_id}")
        registry.ensure_workspace(config.home)
        result = registry.train(spec, catalog.catalog, run_id=config.run_id, echo=context.log.info)
    runs = scrape_runs(catalog.catalog, result.version.dataset) if spec.dataset else []
    tag_run(context, {f"model_{spec.name}": result.version.ref})
    context.add_output_metadata(model_metadata(result, runs))


@job(
    name=TRAINING_JOB,
    description="Train a model from a spec in the run config (launched from the dashboard).",
    tags={"harvest/stage": "model"},
)
def training_job() -> None:
    train_model()


def training_run_config(spec: TrainingSpec, run_id: str, workspace: Workspace) -> dict[str, object]:
    """The run config of ``training_job`` for ``spec``."""
    config = {"spec": json.dumps(spec.to_json()), "run_id": run_id, "home": str(workspace.home)}
    return {"ops": {TRAIN_OP: {"config": config}}}
