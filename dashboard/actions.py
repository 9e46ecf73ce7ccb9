"""What the dashboard changes: training launches and promotions (calls into the packages).

Roll-backs are :meth:`training.registry.Registry.roll_back`, called by the Models page.
"""

from __future__ import annotations

from collections.abc import Sequence

import jobs
from catalog import Catalog
from training.spec import spec_from_mapping
from training.train import Promotion, promote


def launch_training(
    catalog: Catalog,
    *,
    dataset: str,
    target: str,
    families: Sequence[str],
    time_budget: float,
    name: str = "",
    from_model: str = "",
) -> jobs.Job:
    """Submit the run to ``harvest dagster`` when it serves this workspace, else start
    ``harvest train`` in a process of its own; see :func:`jobs.train`.

    Either way it outlives the tab and the server; the job's id is the training run id.
    With ``from_model`` (``model@N``) the run fine-tunes that version (its family only).
    """
    values: dict[str, object] = {
        "dataset": dataset,
        "target": target,
        "time_budget": time_budget,
    }
    if families and not from_model:
        values["families"] = list(families)
    if from_model:
        values["from"] = from_model
    if name:
        values["name"] = name
    spec = spec_from_mapping(values, origin="the Train page")
    return jobs.train(catalog.workspace, spec)


def promote_version(catalog: Catalog, ref: str) -> Promotion:
    """Make ``ref`` the champion if it passes its gates (the verdict is recorded either way)."""
    return promote(catalog, ref)
