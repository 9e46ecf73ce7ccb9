"""Hash splits: stable as data grows, independent of order, and leakage is reported."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from training.splits import assign_splits, class_notes, find_leakage, key_fractions


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


def donations(rows: int = 748, seed: int = 0) -> pd.DataFrame:
    """Shaped like the blood-transfusion data: four integer columns, a binary class, no key,
    and many identical rows (a few records repeat dozens of times)."""
    rng = np.random.default_rng(seed)
    recency = rng.choice([2, 4, 11, 14, 16, 21, 23], rows, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05])
    frequency = np.minimum(rng.geometric(0.35, rows), 12)
    time = np.where(frequency == 1, recency, np.minimum(recency + 2 * frequency + 10, 98))
    chance = 1 / (1 + np.exp(-(-1.2 + 0.15 * frequency - 0.06 * recency)))
    frame = pd.DataFrame(
        {
            "recency": recency,
            "frequency": frequency,
            "monetary": 250 * frequency,
            "time": time,
            "donated": (rng.random(rows) < chance).astype(int),
        }
    )
    return frame


def shares(labels: np.ndarray) -> dict[str, float]:
    return {name: float(np.mean(labels == name)) for name in ("train", "validation", "test")}


def test_keyless_copies_spread_so_splits_keep_their_sizes_and_class_balance() -> None:
    frame = donations()
    assert frame.duplicated().sum() > 500 and frame.value_counts().max() > 40
    columns = list(frame.columns)
    splits = assign_splits(frame, columns, 0.15, 0.15, strata=frame["donated"], keyless=True)
    got = shares(splits)
    assert abs(got["train"] - 0.70) < 0.01 and abs(got["test"] - 0.15) < 0.01, got
    overall = frame["donated"].mean()
    for name in ("train", "validation", "test"):
        assert abs(frame["donated"][splits == name].mean() - overall) < 0.01, name
    most = frame.value_counts().idxmax()  # the most frequent record's copies are spread
    copies = splits[(frame == pd.Series(most, index=columns)).all(axis=1).to_numpy()]
    assert set(copies) == {"train", "validation", "test"}
    assert 0.5 < float(np.mean(copies == "train")) < 0.9


def test_keyless_copies_spread_even_without_strata_and_first_copies_keep_their_split() -> None:
    frame = pd.DataFrame({"x": [1] * 200 + list(range(2, 202))})
    spread = assign_splits(frame, ["x"], 0.15, 0.15, keyless=True)
    assert len(set(spread[:200])) == 3 and 0.6 < float(np.mean(spread[:200] == "train")) < 0.8
    plain = assign_splits(frame, ["x"], 0.15, 0.15)  # hashed as they were: first copies stay
    assert spread[0] == plain[0] and (spread[200:] == plain[200:]).all()


def test_rare_classes_get_a_row_in_every_split_or_a_sentence() -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["common"] * 35 + ["rare"] * 3 + ["tiny"] * 2})
    for keyless in (True, False):
        key = ["x", "y"] if keyless else ["x"]
        splits = assign_splits(frame, key, 0.15, 0.15, strata=frame["y"], keyless=keyless)
        assert sorted(splits[frame["y"] == "rare"]) == ["test", "train", "validation"], keyless
        assert sorted(splits[frame["y"] == "tiny"]) in (["test", "train"], ["train", "train"])
        notes = class_notes(frame["y"].to_numpy(), splits, 0.15)
        assert len(notes) == 1 and notes[0].startswith("Class 'tiny' has only 2 row(s), none in")


def test_identical_rows_of_keyless_data_are_natural_duplicates_not_leakage() -> None:
    frame = donations()
    columns = list(frame.columns)
    splits = assign_splits(frame, columns, 0.15, 0.15, strata=frame["donated"], keyless=True)
    natural = find_leakage(frame, splits, columns)
    assert natural.test_duplicates > 50 and natural.natural and not natural.found
    assert "natural duplicates" in natural.sentence() and "leakage" not in natural.sentence()[:60]
    keyed = find_leakage(frame.assign(id=range(len(frame))), splits, columns, ["id"])
    assert keyed.found and "(leakage)" in keyed.sentence()
