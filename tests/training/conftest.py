"""Shared data for the training tests: scikit-learn's bundled datasets, synthetic text, digit images."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catalog import Catalog

os.environ.setdefault("HARVEST_TORCH_THREADS", "1")  # small models; many threads only contend


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def bundled(name: str) -> pd.DataFrame:
    """A scikit-learn bundled dataset as a frame with a ``row_id`` key and a ``target`` column."""
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame.copy()
    frame.columns = [
        str(c).replace(" (cm)", "").replace(" ", "_").replace("/", "_") for c in frame.columns
    ]
    frame.insert(0, "row_id", range(len(frame)))
    return frame


def commit(
    catalog: Catalog, name: str, frame: pd.DataFrame, key: tuple[str, ...] = ("row_id",)
) -> str:
    """Commit ``frame`` as ``imports.<name>`` and return its ref."""
    return catalog.commit(f"imports.{name}", frame, producer="user:test", key=key).version.ref


TOPICS = {
    "sport": [
        "match",
        "goal",
        "team",
        "coach",
        "league",
        "season",
        "striker",
        "referee",
        "stadium",
        "win",
    ],
    "tech": [
        "software",
        "chip",
        "startup",
        "cloud",
        "data",
        "robot",
        "network",
        "code",
        "app",
        "device",
    ],
    "food": [
        "recipe",
        "kitchen",
        "flavour",
        "chef",
        "bake",
        "spice",
        "dinner",
        "garden",
        "harvest",
        "taste",
    ],
}
FILLER = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "with",
    "for",
    "on",
    "at",
    "by",
    "from",
    "this",
    "that",
    "week",
]


def articles(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic magazine articles: ``id``, ``title``, ``body`` and a ``section`` label."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        section = list(TOPICS)[i % len(TOPICS)]
        words = [
            rng.choice(TOPICS[section]) if rng.random() < 0.35 else rng.choice(FILLER)
            for _ in range(rng.integers(25, 60))
        ]
        body = " ".join(words).capitalize() + "."
        rows.append({"id": i, "title": f"Article {i}", "body": body, "section": section})
    return pd.DataFrame(rows)


def digit_images(media: Path, limit: int | None = None) -> pd.DataFrame:
    """scikit-learn's 8x8 digits saved as PNGs under ``media``; rows reference them by relative path."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    count = len(digits.images) if limit is None else limit
    folder = media / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        pixels = (digits.images[i] / 16.0 * 255).astype(np.uint8)
        relative = f"digits/{i:04d}.png"
        Image.fromarray(pixels, mode="L").save(media / relative)
        paths.append(relative)
    return pd.DataFrame({"row_id": range(count), "image": paths, "digit": digits.target[:count]})


@pytest.fixture(autouse=True, scope="session")
def _one_openmp_thread() -> Iterator[None]:
    """Small data: OpenMP threads only spin against each other (train() does the same)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


IRIS_SPECIES = {0: "setosa", 1: "versicolor", 2: "virginica"}


def two_iris_versions(catalog: Catalog) -> None:
    """Model ``iris`` with versions 1 (linear, the champion) and 2 (a decision tree), no tuning."""
    from training.registry import Registry
    from training.spec import spec_from_mapping
    from training.train import train

    frame = (
        bundled("iris")
        .assign(species=lambda f: f["target"].map(IRIS_SPECIES))
        .drop(columns="target")
    )
    catalog.commit("clean.iris", frame, producer="user:test", key=("row_id",))
    for family in ("linear", "tree"):
        spec = {"dataset": "clean.iris", "target": "species", "name": "iris", "trials": 0}
        train(spec_from_mapping({**spec, "families": [family]}), catalog, promote=False)
    Registry(catalog).set_alias("iris", "champion", 1, {"by": "test"})
