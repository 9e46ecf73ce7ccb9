"""What the dashboard changes: training launches and promotions (calls into the packages).

Roll-backs are :meth:`training.registry.Registry.roll_back`, called by the Models page.
"""

from __future__ import annotations

from collections.abc import Sequence

from catalog import Catalog
from training.runs import RunHandle
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
) -> RunHandle:
    """Queue the run in Dagster when its daemon runs, else start ``harvest train`` in a process of its own.

    Either way it outlives the tab and the server; see :mod:`dagster_project.submit`.
    """
    from dagster_project.submit import launch_training as launch  # Dagster loads only on launch

    values: dict[str, object] = {
        "dataset": dataset,
        "target": target,
        "time_budget": time_budget,
    }
    if families:
        values["families"] = list(families)
    if name:
        values["name"] = name
    spec = spec_from_mapping(values, origin="the Train page")
    return launch(spec, catalog.workspace)


def promote_version(catalog: Catalog, ref: str) -> Promotion:
    """Make ``ref`` the champion if it passes its gates (the verdict is recorded either way)."""
    return promote(catalog, ref)
