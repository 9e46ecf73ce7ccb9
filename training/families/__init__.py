"""The model families a search can try: each module of this package declares its own, and this registry finds them.

A **family** is one kind of model (``linear``, ``forest``, ``gpt``): how to build its
scikit-learn ``Pipeline`` (``features`` then ``model``) for a :class:`FamilyContext` and a
mapping of parameters, what to tune, which tasks it can do and is tried for by default,
and what its saved model may contain. Search, evaluation, the registry and prediction see
only this interface, so scikit-learn and PyTorch models are treated the same way.

Everything else is derived from the declarations that :func:`all_families` collects: the
lookup by name and alias (:func:`family`), the defaults per task (:func:`families_for`),
the PyTorch classes a saved config may name
(:func:`training.families.nets.torch_base.torch_classes`), the skops types a saved model
may contain (:func:`training.artifacts.trusted_nodes`), the check that a loaded model is
the family its card names (:func:`training.registry.check_against_card`) and the family
table of docs/training.md (:func:`family_table`; a test compares the page with it).

Adding a family
---------------
Write one module in this package, say ``training/families/boosting.py``, that declares::

    FAMILIES = (
        Family(
            name="lightgbm",
            description="LightGBM gradient boosting",
            tasks=TABLE_TASKS,
            default_for=frozenset(),     # tried only when a spec names it
            build=build_lightgbm,        # (FamilyContext, Params) -> an unfitted Pipeline
            space=space_lightgbm,        # (optuna.Trial, Task) -> the parameters to try
            estimators=("lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor"),
            saved_nodes=frozenset({("ObjectNode", "lightgbm.sklearn.LGBMClassifier"), ...}),
            rank=35,
        ),
    )

and no other code: no list to extend, no class to allow, no table to write by hand (the
family table of docs/training.md is ``python -m training.families``; a test says when the
page needs it pasted again). The tests hold every module to these rules:

* At the top, import no PyTorch (or other deep-learning library): import it inside the
  builder, so that finding the families (every spec check does) stays fast. Code that
  needs PyTorch when its classes are defined (``nn.Module``s and the estimators around
  them) lives in the :mod:`training.families.nets` subpackage, which is not searched for
  families.
* ``estimators`` names every class (``module.Class``) its pipelines can end in, and
  ``saved_nodes`` every skops (loader, type) pair its fitted model adds to those of the
  feature pipeline; a test saves a model of every family for every task and checks both.
  Only Harvest-defined functions may ever be trusted (see :mod:`training.artifacts`).
* ``rank`` orders the listings and the search's tie-break (a simpler family first).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import InvalidInputError
from training.task import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from training.features import FeatureProfile, ImageLoader

TABLE_TASKS = frozenset({Task.CLASSIFICATION, Task.REGRESSION})
ALL_BUT_LM = frozenset(Task) - {Task.LANGUAGE_MODELLING, Task.REINFORCEMENT_LEARNING}  # rows in


@dataclass(frozen=True)
class FamilyContext:
    """What a family needs to know to build a pipeline for one problem."""

    task: Task
    profile: FeatureProfile
    seed: int = 0
    image_root: str = ""
    image_size: tuple[int, int] = (32, 32)
    image_mode: str = "RGB"
    max_time: float | None = None  # seconds a PyTorch fit may take before it stops early


Space = Callable[["optuna.Trial", Task], dict[str, ParamValue]]
Builder = Callable[[FamilyContext, Params], "Pipeline"]


@dataclass(frozen=True, kw_only=True)
class Family:
    """One kind of model: how to build it, what to tune, where it applies, what it saves."""

    name: str
    description: str  # what the model is, for people (the docs table, the dashboard)
    tasks: frozenset[Task]  # what it can do
    default_for: frozenset[Task]  # where it is tried when a spec names no families
    build: Builder
    space: Space
    estimators: tuple[str, ...]  # every class (module.Class) its pipelines can end in
    rank: int  # its place in listings and in the search's tie-break: simpler first
    saved_nodes: frozenset[tuple[str, str]] = frozenset()  # skops nodes its model adds
    uses_torch: bool = False
    aliases: tuple[str, ...] = ()
    max_default_rows: int | None = None  # above this many training rows, only when asked for

    def estimator_classes(self) -> list[type]:
        """The classes ``estimators`` names (importing their modules)."""
        return [
            getattr(importlib.import_module(module), name)
            for module, _, name in (path.rpartition(".") for path in self.estimators)
        ]


@functools.cache
def all_families() -> tuple[Family, ...]:
    """Every family declared by a module of this package, by rank.

    Modules whose names start with ``_`` and subpackages (``nets``) are not searched.
    """
    found: list[Family] = []
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg or module.name.startswith("_"):
            continue
        declared = importlib.import_module(f"{__name__}.{module.name}").FAMILIES
        found.extend(declared)
    names = [alias for f in found for alias in (f.name, *f.aliases)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise RuntimeError(f"model family name {twice[0]!r} is declared twice")
    return tuple(sorted(found, key=lambda f: (f.rank, f.name)))


def __getattr__(name: str) -> tuple[Family, ...]:
    """``FAMILIES``: every family, found on first use (PEP 562)."""
    if name == "FAMILIES":
        return all_families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def family(name: str) -> Family:
    """The family called ``name`` (or one of its aliases)."""
    wanted = name.strip().lower().replace("-", "_")
    for f in all_families():
        if wanted == f.name or wanted in f.aliases:
            return f
    raise InvalidInputError(
        f"Unknown model family {name!r}; choose from {', '.join(f.name for f in all_families())}."
    )


def check_family_names(names: Sequence[str]) -> None:
    """Raise a clear error for any unknown family name."""
    for name in names:
        family(name)


def families_for(task: Task, names: Sequence[str] | None, rows: int = 0) -> list[Family]:
    """The families to try for ``task``: the named ones (checked) or the task's defaults.

    Defaults leave out families that do not scale to ``rows`` training rows. The dummy
    baseline is always first, so every search measures what there is to beat.
    """
    if names is None:
        chosen = [
            f
            for f in all_families()
            if task in f.default_for and (f.max_default_rows is None or rows <= f.max_default_rows)
        ]
    else:
        chosen = []
        for name in names:
            f = family(name)
            if task not in f.tasks:
                raise InvalidInputError(
                    f"Family {f.name!r} cannot do {task.value}; families for it are "
                    f"{', '.join(g.name for g in all_families() if task in g.tasks)}."
                )
            if f not in chosen:
                chosen.append(f)
    dummy = family("dummy")
    return [dummy, *[f for f in chosen if f is not dummy]]


# -- the documented table ----------------------------------------------------------

_TASK_WORDS = {
    Task.TEXT_CLASSIFICATION: "text",
    Task.IMAGE_CLASSIFICATION: "images",
    Task.LANGUAGE_MODELLING: "language modelling",
    Task.REINFORCEMENT_LEARNING: "reinforcement learning",
}


def _tasks_in_words(tasks: frozenset[Task]) -> str:
    if tasks == frozenset(Task):
        return "all"
    words = ["tables"] if tasks >= TABLE_TASKS else [t.value for t in sorted(tasks & TABLE_TASKS)]
    return ", ".join([*words, *(_TASK_WORDS[t] for t in _TASK_WORDS if t in tasks)]) or "—"


def family_table() -> str:
    """The Markdown table of the families (docs/training.md carries it verbatim)."""
    rows = ["| family | model | can do | default for |", "| --- | --- | --- | --- |"]
    for f in all_families():
        names = f"`{f.name}`" + (
            f" ({', '.join(f'`{a}`' for a in f.aliases)})" if f.aliases else ""
        )
        default = _tasks_in_words(f.default_for)
        if f.max_default_rows is not None:
            default += f", up to {f.max_default_rows:,} training rows"
        rows.append(f"| {names} | {f.description} | {_tasks_in_words(f.tasks)} | {default} |")
    return "\n".join(rows)


# -- what the builders share ---------------------------------------------------------


def merged(
    defaults: Mapping[str, ParamValue], params: Params, accepted: Sequence[str] = ()
) -> dict[str, ParamValue]:
    """``params`` over ``defaults``; a key in neither (nor in ``accepted``) is an error."""
    unknown = sorted(set(params) - set(defaults) - set(accepted))
    if unknown:
        known = ", ".join(sorted({*defaults, *accepted}))
        raise InvalidInputError(
            f"Unknown model parameter {unknown[0]!r}; the parameters are {known}."
        )
    return {**defaults, **params}


def init_names(cls: type) -> list[str]:
    """The parameters of ``cls``'s constructor."""
    return [n for n in inspect.signature(cls).parameters if n != "self"]


def image_loader(ctx: FamilyContext) -> ImageLoader:
    from training.features import ImageLoader

    return ImageLoader(root=ctx.image_root, size=ctx.image_size, mode=ctx.image_mode)


def feature_step(
    ctx: FamilyContext, *, dense: bool, text_features: int, scale: bool = True
) -> ColumnTransformer:
    """The feature pipeline of :func:`training.features.preprocessor` for ``ctx``."""
    from training.features import preprocessor

    return preprocessor(
        ctx.profile,
        dense=dense,
        text_features=text_features,
        image_root=ctx.image_root,
        image_size=ctx.image_size,
        image_mode=ctx.image_mode,
        scale=scale,
    )


def no_space(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    """The tuning space of a family with nothing to tune."""
    return {}
