"""Fine-tuning: a training run that starts from a registered model version instead of from nothing.

A spec with ``from: model@N`` (``harvest train --from``) trains the parent's family again,
on the new data, starting from the parent's fitted model:

* the PyTorch families (GPT-style LM, GRU and transformer text classifiers, MLP, CNN) load
  the parent's ``state_dict`` (``weights_only``, through the registry) and continue with
  ``FINE_TUNE_LR`` times its learning rate, early stopping on the validation split (the
  parent's own weights are the first to beat) and the layers in ``freeze:`` left alone;
* the scikit-learn families with ``warm_start`` continue: a forest grows more trees,
  gradient boosting more iterations, logistic regression starts from its coefficients;
  the others cannot be fine-tuned and say so in one sentence.

The feature steps the parent fitted are kept, so the model reads the new rows as it read
the old. Before anything is fit the new data is checked against the parent
(:meth:`FineTuning.check`): it must hold every feature column the parent used (else one
sentence), new classes widen a PyTorch classifier's head (a scikit-learn one refuses
them), and a text classifier's vocabulary stays the parent's (the share of unknown words
is reported). The byte-level LM reads any text, so it always fits.

The same family with the parent's parameters is also trained from scratch on the same
split in the same time budget (:meth:`FineTuning.scratch_gate`): the verdict is a third
gate, recorded in the card and metrics either way; a fine-tuned version that loses to
it is not made champion. The version's card and its registry events name the parent,
and the card carries the parent's own data lineage (down to its crawl) and parent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from catalog import Catalog
from core.errors import InvalidInputError
from training.data import Prepared
from training.families import Family, FamilyContext, family
from training.gates import GateResult
from training.metrics import Metric, model_scores, pick, signed
from training.registry import ModelVersion, Registry
from training.search import SearchResult, TrialRecord, build_pipeline, fit_pipeline
from training.spec import TrainingSpec
from training.task import ParamValue, Task

FINE_TUNE_LR = 0.3  # a fine-tuning run's learning rate: the parent's times this
SCRATCH_GATE = "scratch"
_GROWS = {"n_estimators": 2, "max_iter": 2}  # what a warm-started scikit-learn model adds more of


def parent_target(catalog: Catalog, ref: str) -> str:
    """The column the registered version ``ref`` predicts (a fine-tune's default target)."""
    return Registry(catalog).get(ref).target


@dataclass(frozen=True)
class Parent:
    """The registered version a run fine-tunes, as its card and folder describe it."""

    version: ModelVersion
    family: Family
    params: Mapping[str, ParamValue]  # the parameters its search chose
    features: tuple[str, ...]  # the columns its feature steps read
    classes: tuple[str, ...]
    card: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return self.version.ref

    def lineage(self) -> dict[str, object]:
        """The parent as the new card shows it: its data down to the crawl, and its own parent."""
        data = self.card.get("data", {})
        return {
            "ref": self.ref,
            "family": self.family.name,
            "metric": self.version.metric,
            "score": self.version.score,
            "data": {
                "ref": data.get("ref", self.version.dataset),
                "content_hash": data.get("content_hash", self.version.content_hash),
                "scrape_run": data.get("scrape_run"),
                "lineage": data.get("lineage", []),
            },
            "parent": self.card.get("parent"),
        }


def load_parent(registry: Registry, ref: str) -> Parent:
    """The version ``ref`` (``model@N`` or ``model@champion``) and what its card says."""
    version = registry.get(ref)
    card = registry.card(version)
    columns = card.get("features", {}).get("columns", [])
    return Parent(
        version=version,
        family=family(str(card["family"])),
        params=dict(card.get("params") or {}),
        features=tuple(str(c["name"]) for c in columns),
        classes=tuple(str(c) for c in card.get("classes") or ()),
        card=card,
    )


def _missing_columns(parent: Parent, spec: TrainingSpec, catalog: Catalog) -> None:
    present = {name for name, _ in catalog.version(spec.dataset).columns}
    missing = [c for c in (*parent.features, spec.target) if c not in present]
    if missing:
        names = ", ".join(repr(c) for c in dict.fromkeys(missing))
        raise InvalidInputError(
            f"{spec.dataset} lacks the column(s) {names} that {parent.ref} was trained on, so "
            "it cannot be fine-tuned there; give a dataset with those columns, or train from "
            "scratch (without --from)."
        )


def _continue_sklearn(model: Any, parent: Parent) -> dict[str, ParamValue]:
    """The ``warm_start`` parameters that make a fitted scikit-learn model continue (or refuse)."""
    if "warm_start" not in model.get_params():
        raise InvalidInputError(
            f"{parent.ref} is a {parent.family.name} model ({parent.family.description}), which "
            "cannot be fine-tuned; train from scratch (without --from) or fine-tune a forest, "
            "gradient boosting, logistic regression or PyTorch model."
        )
    grows = {
        k: int(model.get_params()[k]) * f for k, f in _GROWS.items() if k in model.get_params()
    }
    return {"warm_start": True, **grows}


@dataclass
class FineTuning:
    """One fine-tuning run's parent, its checks, the continued fit and the from-scratch rival."""

    parent: Parent
    pipeline: Pipeline  # the parent's fitted pipeline, continued in place by ``fit``
    spec: TrainingSpec
    notes: tuple[str, ...] = ()
    fit_seconds: float = 0.0
    scratch_value: float | None = None
    scratch_seconds: float = 0.0
    learning_rate: float | None = None

    @classmethod
    def start(cls, spec: TrainingSpec, catalog: Catalog) -> FineTuning:
        """Load the parent of ``spec`` and fit ``spec`` to it (its task, target, features and family)."""
        assert spec.from_model is not None
        registry = Registry(catalog)
        parent = load_parent(registry, spec.from_model)
        if spec.target != parent.version.target:
            raise InvalidInputError(
                f"{parent.ref} predicts {parent.version.target!r}, not {spec.target!r}; "
                "fine-tune it on the same target (or leave --target out)."
            )
        if spec.families and list(spec.families) != [parent.family.name]:
            raise InvalidInputError(
                f"{parent.ref} is a {parent.family.name} model; a fine-tuning run trains that "
                "family only, so leave the families out."
            )
        task = Task(parent.version.task)
        if task is not Task.LANGUAGE_MODELLING:  # the byte-level LM reads any text
            _missing_columns(parent, spec, catalog)
        pipeline = registry.load(parent.version)
        if not parent.family.uses_torch:
            _continue_sklearn(pipeline[-1], parent)
            if spec.freeze:
                raise InvalidInputError(
                    f"{parent.ref} is a scikit-learn model, which has no layers to freeze; "
                    "leave freeze out."
                )
        elif spec.freeze:
            from training.families.nets.torch_base import freeze_parameters, layer_names

            module = pipeline[-1].module_
            try:
                freeze_parameters(module, spec.freeze)
            except ValueError:
                raise InvalidInputError(
                    f"freeze names a layer {parent.ref} lacks; its layers are {layer_names(module)}."
                ) from None
        fitted = replace(
            spec,
            task=task,
            features=parent.features if task is not Task.LANGUAGE_MODELLING else None,
            families=(parent.family.name,),
        )
        return cls(parent, pipeline, fitted)

    def check(self, prepared: Prepared) -> tuple[str, ...]:
        """Check the prepared data's classes and vocabulary against the parent; return the notes."""
        notes: list[str] = []
        new = sorted(set(prepared.classes) - set(self.parent.classes))
        if new and self.parent.classes:
            if not self.parent.family.uses_torch:
                raise InvalidInputError(
                    f"{prepared.version.ref} has class(es) {', '.join(map(repr, new))} that "
                    f"{self.parent.ref} never saw, and a scikit-learn model cannot grow new "
                    "classes; train from scratch (without --from)."
                )
            notes.append(f"new class(es) {', '.join(map(repr, new))} extend the output layer")
        vocabulary = getattr(self.pipeline[-1], "vocabulary_", None)
        if vocabulary is not None:
            from training.families.nets.text import as_texts, tokenize

            known = set(vocabulary)
            texts = as_texts(self.pipeline[:-1].transform(prepared.splits.X_train))
            words = [w for text in texts for w in tokenize(text)]
            unknown = sum(w not in known for w in words) / max(len(words), 1)
            notes.append(
                f"{unknown:.0%} of the training words are outside {self.parent.ref}'s "
                f"vocabulary of {len(known)} and read as unknown"
            )
        self.notes = tuple(notes)
        return self.notes

    def fit(self, X: Any, y: Any, validation: Any = None) -> Pipeline:
        """Continue the parent's model on ``X`` (its feature steps kept); the refit of a run."""
        model = self.pipeline[-1]
        started = time.perf_counter()
        if self.parent.family.uses_torch:
            fixed = dict(self.spec.params.get(self.parent.family.name, {}))
            self.learning_rate = float(fixed.get("lr", model.lr * FINE_TUNE_LR))  # type: ignore[arg-type]
            model.set_params(
                warm_start=True,
                freeze=self.spec.freeze,
                lr=self.learning_rate,
                max_time=self.spec.time_budget,
                random_state=self.spec.seed,
            )
        else:
            model.set_params(**_continue_sklearn(model, self.parent))
        fit_pipeline(self.pipeline, X, y, validation, keep_features=True)
        self.fit_seconds = time.perf_counter() - started
        return self.pipeline

    def trial(self) -> SearchResult:
        """The run's one "trial" for the leaderboard and the card: the parent's recipe, continued."""
        record = TrialRecord(
            number=0,
            phase="fine-tune",
            family=self.parent.family.name,
            params=dict(self.parent.params),
            state="complete",
            message=f"fine-tuned from {self.parent.ref}",
        )
        return SearchResult(trials=(record,), best=record)

    def train_from_scratch(self, prepared: Prepared, context: FamilyContext) -> float:
        """The parent's family and parameters trained anew on the same split and budget; its score."""
        splits = prepared.splits
        started = time.perf_counter()
        model = fit_pipeline(
            build_pipeline(self.parent.family, replace(context, max_time=self.spec.time_budget),
                           self.parent.params),
            splits.X_train, splits.y_train, (splits.X_val, splits.y_val),
        )  # fmt: skip
        self.scratch_seconds = time.perf_counter() - started
        self.scratch_value = pick(
            model_scores(prepared.task, model, splits.X_test, splits.y_test), prepared.metric
        )
        return self.scratch_value

    def scratch_gate(self, metric: Metric, value: float) -> GateResult:
        """The fine-tuned score against training from scratch in the same budget."""
        scratch = self.scratch_value
        assert scratch is not None
        passed = bool(np.isfinite(value)) and signed(metric, value) >= signed(metric, scratch)
        verdict = (
            "fine-tuning did at least as well"
            if passed
            else "training from scratch did better, so this version is not made champion"
        )
        detail = (
            f"fine-tuned from {self.parent.ref}: {metric.name} {value:.4f}; from scratch in the "
            f"same {self.spec.time_budget:g} s budget: {scratch:.4f}; {verdict}."
        )
        return GateResult(SCRATCH_GATE, passed, metric.name, value, scratch, scratch, 0.0, detail)

    def record(self, metric: Metric, value: float) -> dict[str, object]:
        """What the card and metrics.json say about the fine-tuning."""
        return {
            "from": self.parent.ref,
            "learning_rate": self.learning_rate,
            "freeze": list(self.spec.freeze),
            "notes": list(self.notes),
            "budget_seconds": self.spec.time_budget,
            "seconds": round(self.fit_seconds, 2),
            "metric": metric.name,
            "fine_tuned": value,
            "from_scratch": self.scratch_value,
            "from_scratch_seconds": round(self.scratch_seconds, 2),
        }
