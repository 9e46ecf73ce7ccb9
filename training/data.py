"""From a spec and the catalog to checked, split training data.

:func:`prepare` reads the dataset version, refuses data no model should be trained on
(see :mod:`training.tasks`), decides the task, metric and feature columns, measures the
images (if any), assigns every row its split by key hash, and reports leakage. Training,
promotion (which re-scores models on a version's test split) and the benchmarks share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from catalog import Catalog, Version
from catalog.lineage import walk_ancestors
from core.copies import after_fetch
from core.errors import HarvestError, InvalidInputError
from core.objects import MEDIA, file_store, get_files
from training.evaluation import Splits
from training.features import Column, FeatureProfile, Kind, profile_columns
from training.metrics import Metric, metric_for
from training.spec import TrainingSpec
from training.splits import Leakage, Split, assign_splits, class_notes, find_leakage
from training.task import Task
from training.tasks import (
    check_target,
    check_task,
    default_metric,
    infer_task,
    target_known,
)

MIN_TRAIN_ROWS = 10
IMAGE_SAMPLE = 50
MAX_IMAGE_SIDE = 32


@dataclass(frozen=True)
class LineageStep:
    """One dataset version on the way back from the training data to its sources."""

    ref: str
    producer: str
    content_hash: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Prepared:
    """Everything training needs to know about its data."""

    version: Version
    frame: pd.DataFrame
    task: Task
    metric: Metric
    profile: FeatureProfile
    key: tuple[str, ...]  # the split key ((): whole-row hash)
    split: NDArray[np.str_]
    leakage: Leakage
    splits: Splits
    image_root: str
    image_size: tuple[int, int]
    image_mode: str
    classes: tuple[str, ...] = ()
    unlabelled: int = 0  # rows left out because their target was missing (missing_target: drop)
    split_notes: tuple[str, ...] = ()  # classes missing from a split, one sentence each

    def rows(self, which: Split) -> pd.DataFrame:
        """All columns of the rows in split ``which`` (what another model would be scored on)."""
        return self.frame.loc[self.split == which.value].reset_index(drop=True)

    def counts(self) -> dict[str, int]:
        return {s.value: int((self.split == s.value).sum()) for s in Split}

    def balance(self) -> dict[str, dict[str, float]]:
        """Each split's share of every class (classification only; empty otherwise)."""
        if not self.task.is_classification:
            return {}
        s = self.splits
        parts = {Split.TRAIN: s.y_train, Split.VALIDATION: s.y_val, Split.TEST: s.y_test}
        return {
            which.value: {
                str(k): round(float(v), 4)
                for k, v in pd.Series(y)
                .astype(str)
                .value_counts(normalize=True)
                .sort_index()
                .items()
            }
            for which, y in parts.items()
        }


def lineage(catalog: Catalog, start: str | Version, limit: int = 50) -> tuple[LineageStep, ...]:
    """The version ``start`` (a ref, or a version already looked up) and its ancestors
    (parents first seen first), up to ``limit``."""
    ref, known = (start.ref, {start.ref: start}) if isinstance(start, Version) else (start, {})

    def resolve(parent: str) -> Version | None:
        if parent in known:
            return known[parent]
        try:
            return catalog.version(parent)
        except HarvestError:  # a parent that no longer resolves ends that branch
            return None

    return tuple(
        LineageStep(v.ref, v.producer, v.content_hash, v.parents)
        for v in walk_ancestors(ref, resolve, limit)
    )


def _image_geometry(frame: pd.DataFrame, column: str, root: Path) -> tuple[tuple[int, int], str]:
    """Image size (at most 32 per side, keeping the aspect) and mode (grey or RGB) from a sample."""
    from PIL import Image

    sizes: list[tuple[int, int]] = []
    grey = True
    for value in frame[column].dropna().astype(str).head(IMAGE_SAMPLE):
        file = Path(value) if Path(value).is_absolute() else root / value
        try:
            with Image.open(file) as image:
                sizes.append((image.height, image.width))
                grey = grey and image.mode in ("L", "1", "I", "I;16", "F")
        except OSError:
            continue
    if not sizes:
        raise InvalidInputError(
            f"None of the images in column {column!r} could be read under {root}; "
            "check the image folder (image_root in the spec)."
        )
    height, width = np.median(np.asarray(sizes), axis=0)
    scale = min(1.0, MAX_IMAGE_SIDE / max(height, width))
    return (max(round(float(height) * scale), 4), max(round(float(width) * scale), 4)), (
        "L" if grey else "RGB"
    )


def _target_values(values: pd.Series, task: Task) -> NDArray[Any]:
    if task.is_classification:
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
            return values.to_numpy()
        if pd.api.types.is_float_dtype(values):
            return values.astype("int64").to_numpy()
        return values.astype(str).to_numpy(dtype=object)
    return values.to_numpy(dtype="float64")


def prepare(spec: TrainingSpec, catalog: Catalog) -> Prepared:
    """Read, check and split the data of ``spec``."""
    version = catalog.ensure_intact(catalog.version(spec.dataset))
    frame = catalog.read(version).to_pandas()
    dataset = catalog.dataset(version.dataset)
    unlabelled = 0
    if spec.missing_target == "drop" and spec.target in frame.columns:
        known = target_known(frame[spec.target])
        unlabelled = int((~known).sum())
        frame = frame.loc[known].reset_index(drop=True)
    check_target(frame, spec.target, version.ref)
    key = tuple(spec.split.key or dataset.key)
    target = frame[spec.target]
    explicit_lm = spec.task is Task.LANGUAGE_MODELLING
    if explicit_lm or (spec.task is None and infer_task(target, None) is Task.LANGUAGE_MODELLING):
        profile = FeatureProfile((Column(spec.target, Kind.TEXT),))
        task = Task.LANGUAGE_MODELLING
    else:
        profile = profile_columns(
            frame, spec.target, features=spec.features, exclude=spec.exclude, key=key
        )
        task = spec.task or infer_task(target, profile)
    check_task(target, task, spec.target, min_class_rows=2)
    metric = metric_for(task, spec.metric or default_metric(task))

    hash_columns = key or tuple(c for c in frame.columns if c not in dataset.volatile)
    strata = _target_values(target, task) if task.is_classification else None
    split = assign_splits(
        frame, hash_columns, spec.split.validation, spec.split.test, strata=strata, keyless=not key
    )
    counts = {s: int((split == s.value).sum()) for s in Split}
    if counts[Split.TRAIN] < MIN_TRAIN_ROWS or counts[Split.TEST] == 0:
        raise InvalidInputError(
            f"{version.ref} has too few rows to split: {counts[Split.TRAIN]} for training and "
            f"{counts[Split.TEST]} for testing; collect more rows (at least {MIN_TRAIN_ROWS} for training)."
        )
    leakage = find_leakage(frame, split, [*profile.names, spec.target], key)

    image_root = spec.image_root or catalog.workspace.media
    if not image_root.is_absolute():
        image_root = catalog.workspace.home / image_root
    size, mode = (32, 32), "RGB"
    images = profile.of(Kind.IMAGE)
    if images and image_root == catalog.workspace.media:  # crawled media: fetch what is missing
        paths = {p for c in images for p in frame[c].dropna() if isinstance(p, str)}
        keys = sorted(f"{MEDIA}/{p}" for p in paths if not Path(p).is_absolute())
        store = file_store(catalog.workspace)
        if get_files(store, keys, catalog.workspace.home):
            after_fetch(catalog.workspace, store)
    if images:
        size, mode = _image_geometry(frame, images[0], image_root)

    def part(which: Split) -> tuple[pd.DataFrame, NDArray[Any] | None]:
        chosen = frame.loc[split == which.value]
        X = chosen.loc[:, profile.names].reset_index(drop=True)
        y = None if task is Task.LANGUAGE_MODELLING else _target_values(chosen[spec.target], task)
        return X, y

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = (part(s) for s in Split)
    classes: tuple[str, ...] = ()
    if task.is_classification and y_train is not None:
        present = np.unique(y_train)
        if len(present) < 2:
            raise InvalidInputError(
                f"The training split of {version.ref} holds only one class of {spec.target!r}; "
                "collect more rows of the other classes."
            )
        classes = tuple(str(c) for c in present)
    return Prepared(
        version=version,
        frame=frame,
        task=task,
        metric=metric,
        profile=profile,
        key=key,
        split=split,
        leakage=leakage,
        splits=Splits(X_train, y_train, X_val, y_val, X_test, y_test),
        image_root=str(image_root),
        image_size=size,
        image_mode=mode,
        classes=classes,
        unlabelled=unlabelled,
        split_notes=tuple(class_notes(strata, split, spec.split.validation))
        if strata is not None
        else (),
    )
