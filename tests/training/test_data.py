"""Reading a dataset version for training: its lineage back to the scrape."""

from __future__ import annotations

import pandas as pd
import pytest

from catalog import Catalog, Version
from training.data import lineage


def test_lineage_from_a_version_in_hand_matches_the_ref_and_skips_its_lookup(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = pd.DataFrame({"sku": ["a", "b"], "price": [1.0, 2.0]})
    catalog.commit("raw.shop", rows, producer="scrape:run-1", key=("sku",))
    catalog.commit("clean.shop", rows, producer="clean:shop", parents=["raw.shop@1", "raw.gone@1"])
    by_ref = lineage(catalog, "clean.shop@1")
    assert [(s.ref, s.producer) for s in by_ref] == [
        ("clean.shop@1", "clean:shop"),
        ("raw.shop@1", "scrape:run-1"),
    ]  # a parent that no longer resolves ends its branch

    looked_up: list[str] = []
    version, lookup = catalog.version("clean.shop@1"), catalog.version

    def counted(ref: str) -> Version:
        looked_up.append(ref)
        return lookup(ref)

    monkeypatch.setattr(catalog, "version", counted)
    assert lineage(catalog, version) == by_ref
    assert looked_up == ["raw.shop@1", "raw.gone@1"]
