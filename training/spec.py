"""Training specs: what to train, on which data, how hard to search and how to judge it.

A spec arrives as YAML (``training/specs/*.yaml`` or a user's file) or as CLI flags and is
checked once at this edge by pydantic (:class:`SpecFile`); everything after works on the
frozen :class:`TrainingSpec`.

Keys (all but ``dataset`` and ``target`` optional)::

    name: products-price        # model name in the registry (default <dataset>-<target>,
                                # or the parent's name when fine-tuning)
    dataset: clean.products@3   # name or name@N (latest when no @N)
    target: price               # column to predict; for language modelling, the text column
    task: regression            # classification | regression | text_classification |
                                # image_classification | language_modelling (inferred if absent)
    features: [brand, category] # default: every usable column
    exclude: [sku]              # columns never used as features
    metric: r2                  # default per task: accuracy, r2, perplexity
    families: [linear, forest]  # default per task, see training.families
    time_budget: 60             # seconds for selection + tuning
    trials: 20                  # cap on tuning trials (set it for exactly reproducible runs)
    cv_folds: 5                 # default 5 up to 5,000 training rows, else 3
    seed: 0
    split: {validation: 0.15, test: 0.15, key: [sku]}   # key default: the dataset's key
    gates: {baseline_margin: 0.05, champion_margin: 0.0}
    params: {forest: {n_estimators: 300}}               # fixed parameters per family
    drift: {threshold: 0.2, action: warn}   # drift of the features from the training data
                                            # (PSI) that warns, or with block stops promotion
    image_root: media           # folder image paths are relative to (default: workspace media)
    from: products-price@2      # fine-tune this registered version (see training.finetune)
    freeze: [blocks.0]          # when fine-tuning: layers left as the parent had them
    processes: 2                # a PyTorch table or image model's final fit: this many
                                # processes under torchrun (DistributedDataParallel, gloo)
    nodes: 2                    # ... on this many machines: the others run
    rendezvous: 10.0.0.5:29400  # `harvest train-node --rendezvous 10.0.0.5:29400 --nodes 2`

Reinforcement learning (``task: reinforcement_learning``, see :mod:`training.reinforcement`)
needs no ``target``; ``dataset`` only for an environment built from data::

    environment: CartPole-v1    # a Gymnasium id, or repricing (a market made from dataset:)
    columns: {price: price, list_price: was_price, stock: in_stock, category: category,
              product: sku}     # the repricing market's columns (these are the defaults)
    episodes: 20                # evaluation episodes, one fixed seed each
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace
from training.distributed import ENDPOINT_WANTED, Layout, is_endpoint
from training.families import check_family_names
from training.task import Params, ParamValue, Task

SPECS_DIR = Path(__file__).parent / "specs"
USER_SPECS = "training"  # the folder of the user's own specs in HARVEST_HOME
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


@dataclass(frozen=True)
class SplitSpec:
    """Fractions of rows held out by key hash, and the key (None: the dataset's own key)."""

    validation: float = 0.15
    test: float = 0.15
    key: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GateSpec:
    """How much better than the baseline and the champion a model must be to be promoted.

    Margins are relative reductions of the error (1 - score for scores in [0, 1] such as
    accuracy and R², the value itself for RMSE, log loss or perplexity): 0.05 means the
    model's error must be at most 95% of the baseline's.
    """

    baseline_margin: float = 0.05
    champion_margin: float = 0.0


@dataclass(frozen=True)
class DriftSpec:
    """How much drift of the features from the training data (a column's PSI, see
    ``catalog/drift.py``) is tolerated, and whether more warns or blocks a promotion."""

    threshold: float = 0.2
    action: Literal["warn", "block"] = "warn"


@dataclass(frozen=True)
class TrainingSpec:
    """One training request, validated."""

    dataset: str
    target: str
    name: str
    task: Task | None = None
    features: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    metric: str | None = None
    families: tuple[str, ...] | None = None
    time_budget: float = 60.0
    trials: int | None = None
    cv_folds: int | None = None  # None: 5 folds up to 5,000 training rows, else 3
    seed: int = 0
    split: SplitSpec = field(default_factory=SplitSpec)
    gates: GateSpec = field(default_factory=GateSpec)
    params: Mapping[str, Params] = field(default_factory=lambda: MappingProxyType({}))
    image_root: Path | None = None
    missing_target: str = "error"  # or "drop": train on the rows whose target is known
    environment: str | None = None  # reinforcement learning: a Gymnasium id or "repricing"
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    episodes: int = 20  # reinforcement learning: evaluation episodes (fixed seeds)
    drift: DriftSpec = field(default_factory=DriftSpec)
    from_model: str | None = None  # ``from:``: fine-tune this registered version (model@N)
    freeze: tuple[str, ...] = ()  # when fine-tuning: layers (parameter prefixes) not trained
    processes: int = 1  # the final fit of a PyTorch MLP or CNN: processes under torchrun
    nodes: int = 1  # ... on each of this many machines, meeting at ``rendezvous`` (host:port)
    rendezvous: str | None = None

    @property
    def layout(self) -> Layout:
        """Where the final fit of a PyTorch model runs."""
        return Layout(self.processes, self.nodes, self.rendezvous)

    def with_overrides(self, **changes: object) -> TrainingSpec:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        """The spec as plain JSON values (for cards and progress files)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "target": self.target,
            "task": self.task.value if self.task else None,
            "features": list(self.features) if self.features is not None else None,
            "exclude": list(self.exclude),
            "metric": self.metric,
            "families": list(self.families) if self.families is not None else None,
            "time_budget": self.time_budget,
            "trials": self.trials,
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "split": {
                "validation": self.split.validation,
                "test": self.split.test,
                "key": list(self.split.key) if self.split.key else None,
            },
            "gates": {
                "baseline_margin": self.gates.baseline_margin,
                "champion_margin": self.gates.champion_margin,
            },
            "params": {family: dict(values) for family, values in self.params.items()},
            "image_root": str(self.image_root) if self.image_root else None,
            "missing_target": self.missing_target,
            "environment": self.environment,
            "columns": dict(self.columns),
            "episodes": self.episodes,
            "drift": {"threshold": self.drift.threshold, "action": self.drift.action},
            **({"from": self.from_model, "freeze": list(self.freeze)} if self.from_model else {}),
            **({"processes": self.processes} if self.processes > 1 else {}),
            **({"nodes": self.nodes, "rendezvous": self.rendezvous} if self.nodes > 1 else {}),
        }


class _SplitFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    validation: float = Field(0.15, ge=0.0, lt=0.5)
    test: float = Field(0.15, gt=0.0, lt=0.5)
    key: list[str] | str | None = None


class _GateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseline_margin: float = Field(0.05, ge=0.0, lt=1.0)
    champion_margin: float = Field(0.0, ge=0.0, lt=1.0)


class _DriftFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.2, gt=0.0)
    action: Literal["warn", "block"] = "warn"


class SpecFile(BaseModel):
    """The spec as written in YAML or given on the command line (the checked edge)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str | None = None
    dataset: str | None = None  # required but for reinforcement learning in a Gymnasium env
    target: str | None = None  # required but for reinforcement learning
    task: Task | None = None
    features: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    metric: str | None = None
    families: list[str] | None = None
    time_budget: float = Field(60.0, gt=0.0, le=7 * 24 * 3600)
    trials: int | None = Field(None, ge=0)
    cv_folds: int | None = Field(None, ge=2, le=20)
    seed: int = Field(0, ge=0)
    split: _SplitFile = Field(default_factory=lambda: _SplitFile.model_validate({}))
    gates: _GateFile = Field(default_factory=lambda: _GateFile.model_validate({}))
    params: dict[str, dict[str, ParamValue]] = Field(default_factory=dict)
    image_root: str | None = None
    missing_target: Literal["error", "drop"] = "error"
    environment: str | None = Field(None, min_length=1)
    columns: dict[str, str] = Field(default_factory=dict)
    episodes: int = Field(20, ge=2, le=1000)
    drift: _DriftFile = Field(default_factory=lambda: _DriftFile.model_validate({}))
    from_model: str | None = Field(None, alias="from", min_length=1)
    freeze: list[str] = Field(default_factory=list)
    processes: int = Field(1, ge=1, le=64)
    nodes: int = Field(1, ge=1, le=1024)
    rendezvous: str | None = None

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                "must be lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _machines_have_a_rendezvous(self) -> Self:
        if self.nodes > 1 and not is_endpoint(self.rendezvous):
            raise ValueError(ENDPOINT_WANTED.format(self.rendezvous))
        return self

    @model_validator(mode="after")
    def _freeze_needs_a_parent(self) -> Self:
        if self.freeze and not self.from_model:
            raise ValueError("freeze applies only when fine-tuning: give 'from: MODEL@N' too")
        return self

    @model_validator(mode="after")
    def _split_leaves_training_rows(self) -> Self:
        if self.split.validation + self.split.test >= 0.8:
            raise ValueError(
                "split: validation + test must leave at least 20% of rows for training"
            )
        return self

    @model_validator(mode="after")
    def _says_what_to_learn_from(self) -> Self:
        if self.task is Task.REINFORCEMENT_LEARNING or self.environment:
            if self.task is not Task.REINFORCEMENT_LEARNING:
                raise ValueError("environment is for task: reinforcement_learning only")
            if not self.environment:
                raise ValueError(
                    "reinforcement learning needs 'environment': a Gymnasium id or repricing"
                )
            if self.environment == "repricing" and not self.dataset:
                raise ValueError("the repricing environment needs 'dataset': a product dataset")
            return self
        for key in ("dataset", "target"):
            if not getattr(self, key):
                raise ValueError(f"'{key}' is required (Field required)")
        return self

    def build(self) -> TrainingSpec:
        """The frozen spec, with the model name defaulted from dataset and target."""
        dataset, target = self.dataset or "", self.target or ""
        if self.task is Task.REINFORCEMENT_LEARNING:
            assert self.environment is not None
            target = target or "return"
            default_name = default_model_name(
                dataset or self.environment,
                "repricing" if self.environment == "repricing" else "policy",
            )
        else:
            default_name = default_model_name(dataset, target)
        families = tuple(self.families) if self.families is not None else None
        if families is not None:
            check_family_names(families)
        key = self.split.key
        return TrainingSpec(
            name=self.name
            or (self.from_model.partition("@")[0] if self.from_model else None)  # its next version
            or default_name,
            dataset=dataset,
            target=target,
            task=self.task,
            features=tuple(self.features) if self.features is not None else None,
            exclude=tuple(self.exclude),
            metric=self.metric,
            families=families,
            time_budget=self.time_budget,
            trials=self.trials,
            cv_folds=self.cv_folds,
            seed=self.seed,
            split=SplitSpec(
                validation=self.split.validation,
                test=self.split.test,
                key=(key,) if isinstance(key, str) else tuple(key) if key else None,
            ),
            gates=GateSpec(self.gates.baseline_margin, self.gates.champion_margin),
            params=MappingProxyType(
                {family: MappingProxyType(dict(values)) for family, values in self.params.items()}
            ),
            image_root=Path(self.image_root).expanduser() if self.image_root else None,
            missing_target=self.missing_target,
            environment=self.environment,
            columns=MappingProxyType(dict(self.columns)),
            episodes=self.episodes,
            drift=DriftSpec(self.drift.threshold, self.drift.action),
            from_model=self.from_model,
            freeze=tuple(self.freeze),
            processes=self.processes,
            nodes=self.nodes,
            rendezvous=self.rendezvous,
        )


def default_model_name(dataset: str, target: str) -> str:
    """``clean.products@3`` + ``price`` -> ``products-price``."""
    base = dataset.split("@", 1)[0].split(".")[-1]
    name = re.sub(r"[^a-z0-9_-]+", "-", f"{base}-{target}".lower()).strip("-_")
    return name[:80] or "model"


def _explain(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "spec"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "is not a spec key (see docs/training.md for the keys)"
    return f"{origin}: '{where}' {message}."


def spec_from_mapping(values: Mapping[str, object], origin: str = "training spec") -> TrainingSpec:
    """Check a mapping of spec keys (from YAML, JSON or CLI flags) and build the spec."""
    try:
        return SpecFile.model_validate(dict(values)).build()
    except ValidationError as error:
        raise InvalidInputError(_explain(error, origin)) from error


def load_spec(path: str | Path) -> TrainingSpec:
    """Read a YAML spec file; a bare name is looked up in the bundled ``training/specs``."""
    file = Path(path).expanduser()
    if not file.exists() and not file.suffix:
        file = SPECS_DIR / f"{path}.yaml"
    if not file.is_file():
        raise NotFoundError(f"Training spec {path} does not exist; give a YAML file path.")
    try:
        values = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InvalidInputError(f"Training spec {file} is not valid YAML: {error}.") from error
    if not isinstance(values, dict):
        raise InvalidInputError(f"Training spec {file} must be a YAML mapping of spec keys.")
    return spec_from_mapping(values, origin=f"Training spec {file.name}")


def spec_files(workspace: Workspace) -> list[Path]:
    """Training specs: ``HARVEST_HOME/training/*.yaml``, then the bundled ones not shadowed."""
    found: dict[str, Path] = {}
    for folder in (workspace.home / USER_SPECS, SPECS_DIR):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            found.setdefault(path.stem, path)
    return [found[name] for name in sorted(found)]


def workspace_specs(workspace: Workspace) -> list[TrainingSpec]:
    """Every training spec of ``workspace`` (see :func:`spec_files`), loaded and checked."""
    return [load_spec(path) for path in spec_files(workspace)]
