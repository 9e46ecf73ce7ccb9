"""Lineage walks: ancestors nearest first, descendants through every generation, cycles and gaps."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog import Version
from catalog.lineage import ancestors, children, descendants, walk_ancestors


def version(ref: str, *parents: str, producer: str = "") -> Version:
    dataset, number = ref.split("@")
    return Version(
        dataset, int(number), 1, 10, (), (), "hash", producer, parents, "", datetime.now(UTC)
    )


VERSIONS = [
    version("raw.shop@1", producer="scrape:a"),
    version("raw.shop@2", producer="scrape:b"),
    version("clean.shop@1", "raw.shop@1"),
    version("clean.shop@2", "raw.shop@2"),
    version("imports.rates@1", producer="import:rates.csv"),
    version("clean.priced@1", "clean.shop@2", "imports.rates@1"),
    version("predictions.m@1", "clean.priced@1"),
]


def refs(found: list[Version]) -> list[str]:
    return [v.ref for v in found]


def test_children_are_the_versions_made_directly_from_a_version() -> None:
    made_from = children(VERSIONS)
    assert refs(made_from["raw.shop@2"]) == ["clean.shop@2"]
    assert refs(made_from["imports.rates@1"]) == ["clean.priced@1"]
    assert "predictions.m@1" not in made_from


def test_descendants_cover_every_generation_nearest_first() -> None:
    assert refs(descendants("raw.shop@2", VERSIONS)) == [
        "clean.shop@2",
        "clean.priced@1",
        "predictions.m@1",
    ]
    assert refs(descendants("raw.shop@1", VERSIONS)) == ["clean.shop@1"]
    assert descendants("predictions.m@1", VERSIONS) == []


def test_ancestors_start_at_the_version_and_reach_every_source() -> None:
    assert refs(ancestors("clean.priced@1", VERSIONS)) == [
        "clean.priced@1",
        "clean.shop@2",
        "imports.rates@1",
        "raw.shop@2",
    ]
    assert ancestors("nope@1", VERSIONS) == []


def test_a_parent_outside_the_list_ends_the_branch_and_a_cycle_ends() -> None:
    partial = [version("clean.x@1", "raw.gone@4"), version("a@1", "b@1"), version("b@1", "a@1")]
    assert refs(ancestors("clean.x@1", partial)) == ["clean.x@1"]
    assert refs(descendants("a@1", partial)) == ["b@1"]
    assert refs(ancestors("a@1", partial)) == ["a@1", "b@1"]


def test_a_walk_through_a_lookup_asks_each_ref_once_and_stops_at_its_limit() -> None:
    by_ref = {v.ref: v for v in [*VERSIONS, version("clean.both@1", "raw.shop@2", "raw.shop@2")]}
    asked: list[str] = []

    def resolve(ref: str) -> Version | None:
        asked.append(ref)
        return by_ref.get(ref)

    assert refs(walk_ancestors("clean.priced@1", resolve, limit=2)) == [
        "clean.priced@1",
        "clean.shop@2",
    ]
    asked.clear()
    assert refs(walk_ancestors("clean.both@1", resolve)) == ["clean.both@1", "raw.shop@2"]
    assert asked == ["clean.both@1", "raw.shop@2"], "a parent named twice is looked up once"
