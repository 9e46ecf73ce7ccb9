"""Drift of new data from the data a model was trained on, judged by its spec's threshold.

The statistics are the catalog's (``catalog/drift.py``); here they are taken over the
model's features, from the data version its card records to a newer version, and compared
with the training spec's ``drift: {threshold, action}``: over the threshold warns, or with
``action: block`` stops the promotion of a model retrained on that data (the Dagster check
``drift_for_<model>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog import Catalog
from catalog.drift import DriftReport, batch_drift
from core.errors import NotFoundError
from training.registry import Registry
from training.spec import TrainingSpec


@dataclass(frozen=True)
class DriftVerdict:
    """The drift of ``report.after`` from model ``model``'s training data, and the verdict."""

    model: str
    report: DriftReport
    threshold: float
    action: str

    @property
    def passed(self) -> bool:
        return not self.report.over(self.threshold)

    @property
    def blocks(self) -> bool:
        return not self.passed and self.action == "block"

    @property
    def sentence(self) -> str:
        said = self.report.summary(self.threshold)
        if self.blocks:
            return f"{said} {self.model}'s spec blocks training on it until the drift is reviewed."
        return said


def model_drift(catalog: Catalog, spec: TrainingSpec, dataset: str) -> DriftVerdict | None:
    """The drift of ``dataset`` (``name[@N]``) from the training data of ``spec``'s model (its
    champion, else its latest version) over that model's features; None before any model."""
    registry = Registry(catalog)
    try:
        version = registry.get(spec.name)
    except NotFoundError:
        return None
    card = registry.card(version)
    features = [str(c["name"]) for c in card.get("features", {}).get("columns", [])]
    market = {column for role, column in spec.columns.items() if role != "product"}
    features = features or sorted(market)  # a policy: its market's columns, not the product ids
    if not features:
        return None
    target = catalog.version(dataset)
    report = batch_drift(
        catalog,
        str(card["data"]["ref"]),
        catalog.source_sql(target),
        target.columns,
        features=features,
        label=target.ref,
    )
    return DriftVerdict(version.ref, report, spec.drift.threshold, spec.drift.action)
