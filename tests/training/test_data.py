"""Reading a dataset version for training: its lineage back to the scrape."""

from __future__ import annotations

import pandas as pd
import pytest

from catalog import Catalog
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
    version = catalog.version("clean.shop@1")
    lookup = catalog.version
    monkeypatch.setattr(catalog, "version", lambda ref: looked_up.append(ref) or lookup(ref))
    assert lineage(catalog, version) == by_ref
    assert looked_up == ["raw.shop@1", "raw.gone@1"]
