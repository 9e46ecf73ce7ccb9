"""Small bundled sample datasets, so a fresh workspace has something to show."""

from __future__ import annotations

from pathlib import Path

from catalog.records import Listing

SAMPLES = Path(__file__).parent

IRIS = SAMPLES / "iris.csv"
IRIS_LISTING = Listing(
    title="Iris flowers",
    description="Sepal and petal measurements of 150 iris flowers of three species (Fisher, 1936).",
    license="CC0-1.0",
    tags=("sample", "botany", "classification"),
    publisher="R. A. Fisher, via scikit-learn",
    source_url="https://archive.ics.uci.edu/dataset/53/iris",
    cadence="static",
)
