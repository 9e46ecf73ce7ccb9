"""What the dashboard changes: training launches, promotions and roll-backs (calls into the packages)."""

from __future__ import annotations

from collections.abc import Sequence

from catalog import Catalog
from harvest.errors import InvalidInputError
from training.registry import Event, Registry
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


def previous_champion(events: Sequence[Event], current: int | None) -> int | None:
    """The champion before the current one, from the model's alias history."""
    champions = [e.version for e in events if e.event == "champion"]
    while champions and champions[-1] == current:
        champions.pop()
    return champions[-1] if champions else None


def roll_back(catalog: Catalog, model: str) -> int:
    """Point ``model@champion`` back at the previous champion; returns its version."""
    registry = Registry(catalog)
    current = registry.alias(model, "champion")
    previous = previous_champion(registry.events(model), current)
    if previous is None:
        raise InvalidInputError(f"{model} has had no earlier champion to roll back to.")
    registry.set_alias(model, "champion", previous, {"by": "dashboard roll-back", "from": current})
    return previous
