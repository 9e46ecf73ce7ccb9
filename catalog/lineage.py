"""Lineage between dataset versions: what a version was made from, and what was made from it.

Every :class:`~catalog.records.Version` names its parents (exact ``name@N`` refs). These
functions walk those links over a list of versions (``Catalog.versions`` of the datasets
of interest), breadth first, so the nearest relatives come first; refs that are not in the
list (a version of a dataset left out, or one that no longer resolves) end that branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from catalog.records import Version


def children(versions: Iterable[Version]) -> dict[str, list[Version]]:
    """Each parent ref and the versions made directly from it, in the order given."""
    made_from: dict[str, list[Version]] = {}
    for version in versions:
        for parent in version.parents:
            made_from.setdefault(parent, []).append(version)
    return made_from


def ancestors(ref: str, versions: Iterable[Version]) -> list[Version]:
    """``ref`` itself and every version it was made from (directly or not), nearest first."""
    return walk_ancestors(ref, {v.ref: v for v in versions}.get)


def walk_ancestors(
    ref: str, resolve: Callable[[str], Version | None], limit: int | None = None
) -> list[Version]:
    """:func:`ancestors`, looking each ref up with ``resolve`` (None ends that branch), at
    most ``limit`` versions: for walking a whole catalog without listing it first."""
    found: dict[str, Version] = {}
    seen: set[str] = set()
    queue = [ref]
    while queue and (limit is None or len(found) < limit):
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        version = resolve(current)
        if version is not None:
            found[current] = version
            queue.extend(version.parents)
    return list(found.values())


def descendants(ref: str, versions: Iterable[Version]) -> list[Version]:
    """Every version made from ``ref`` (directly or not), nearest first; ``ref`` not included."""
    made_from = children(versions)
    found: dict[str, Version] = {}
    queue = [ref]
    while queue:
        for child in made_from.get(queue.pop(0), []):
            if child.ref not in found and child.ref != ref:
                found[child.ref] = child
                queue.append(child.ref)
    return list(found.values())
