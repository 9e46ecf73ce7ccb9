"""Hash splits: stable as data grows, independent of order, and leakage is reported."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from training.splits import assign_splits, find_leakage, key_fractions


def rows(start: int, stop: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"sku": [f"sku-{i}" for i in range(start, stop)], "price": np.arange(start, stop) * 1.5}
    )


def test_a_rows_split_never_changes_as_rows_are_added() -> None:
    before = rows(0, 1000)
    after = pd.concat(
        [rows(1000, 3000), before.sample(frac=1.0, random_state=1)], ignore_index=True
    )
    first = dict(zip(before["sku"], assign_splits(before, ["sku"], 0.15, 0.15), strict=True))
    second = dict(zip(after["sku"], assign_splits(after, ["sku"], 0.15, 0.15), strict=True))
    assert all(second[sku] == split for sku, split in first.items())


def test_fractions_are_close_to_the_spec() -> None:
    splits = assign_splits(rows(0, 20000), ["sku"], 0.1, 0.2)
    shares = {name: float(np.mean(splits == name)) for name in ("train", "validation", "test")}
    assert abs(shares["test"] - 0.2) < 0.015 and abs(shares["validation"] - 0.1) < 0.015


def test_integer_keys_read_the_same_as_floats() -> None:
    ints = pd.DataFrame({"id": [1, 2, 3, 4]})
    floats = pd.DataFrame({"id": [1.0, 2.0, 3.0, 4.0]})
    assert list(assign_splits(ints, ["id"], 0.3, 0.3)) == list(
        assign_splits(floats, ["id"], 0.3, 0.3)
    )


def test_a_keys_position_is_the_blake2b_of_its_text() -> None:
    """Pinned: a change here would move rows between splits of every existing dataset."""

    def position(text: str) -> float:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    frame = pd.DataFrame(
        {
            "id": pd.Series([7, -3, 2**40], dtype="int64"),
            "maybe": [1.0, None, 3.0],  # an integer column with gaps, as the catalog reads it
            "name": ["lamp", None, "é"],
            "price": [1.5, float("nan"), 3.0],
        }
    )
    assert list(key_fractions(frame, ["id"])) == [
        position("7"),
        position("-3"),
        position(str(2**40)),
    ]
    assert list(key_fractions(frame, ["maybe"])) == [position("1"), position("\x00"), position("3")]
    assert list(key_fractions(frame, ["name", "price"])) == [
        position("lamp\x1f1.5"),
        position("\x00\x1f\x00"),
        position("é\x1f3"),
    ]


def test_exact_duplicates_across_splits_are_leakage() -> None:
    frame = rows(0, 400)
    splits = assign_splits(frame, ["sku"], 0.15, 0.15)
    clean = find_leakage(frame, splits, ["price"], ["sku"])
    assert not clean.found and clean.sentence() == "No exact duplicates across splits."
    test_row = int(np.flatnonzero(splits == "test")[0])
    train_row = int(np.flatnonzero(splits == "train")[0])
    frame.loc[test_row, "price"] = frame.loc[train_row, "price"]
    leaked = find_leakage(frame, splits, ["price"], ["sku"])
    assert (leaked.test_duplicates, leaked.validation_duplicates) == (1, 0)
    assert leaked.examples == (frame.loc[test_row, "sku"],)
    assert "1 test and 0 validation row(s) exactly duplicate a training row" in leaked.sentence()
