"""Train/validation/test splits by a stable hash of the record key, and leakage checks.

A row's split depends only on its key (BLAKE2b of the key values), never on the other
rows, the seed or the row order: as a dataset grows, existing rows keep their split and
test rows never move into training, so a champion and a challenger are compared on test
rows neither has seen.

Without a key the whole row is hashed with its occurrence number (the first copy of a row
hashes as the row alone, the second with ``#1`` appended, ...), so the copies of a frequent
row spread over the splits instead of all landing in one. Identical rows in different
splits are then natural duplicates of a keyless dataset, reported as such; with a key, a
validation or test row whose features and target exactly equal a training row's is leakage.

Classification splits are stratified: without a key each class is cut by the rank of its
rows' hashes, so every split holds the spec's share of every class; with a key each class
is cut at the same hash thresholds (a row's split must not depend on other rows), so the
shares hold up to sampling noise. Either way a class of at least ``MIN_CLASS_ROWS`` rows
gets at least one row in every split the spec asks for; a rarer class does not, and
:func:`class_notes` says so in a sentence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.errors import InvalidInputError

_SEPARATOR = "\x1f"
_SCALE = float(2**64)


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


@dataclass(frozen=True)
class Leakage:
    """Validation and test rows that duplicate a training row exactly."""

    validation_duplicates: int
    test_duplicates: int
    examples: tuple[str, ...] = ()
    natural: bool = False  # keyless data: identical records, not copies of one record

    @property
    def found(self) -> bool:
        """Duplicates across splits that are leakage (natural duplicates are not)."""
        return bool(self.validation_duplicates or self.test_duplicates) and not self.natural

    def sentence(self) -> str:
        if not (self.validation_duplicates or self.test_duplicates):
            return "No exact duplicates across splits."
        if self.natural:
            return (
                f"{self.test_duplicates} test and {self.validation_duplicates} validation row(s) "
                "equal a training row; the dataset has no key, so these are natural duplicates "
                "(identical records, kept in proportion in every split), not leakage."
            )
        return (
            f"{self.test_duplicates} test and {self.validation_duplicates} validation row(s) "
            "exactly duplicate a training row (leakage); scores on them are optimistic."
        )


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "\x00"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def key_fractions(frame: pd.DataFrame, key: Sequence[str]) -> NDArray[np.float64]:
    """Each row's position in [0, 1) from the hash of its key values."""
    return _fractions(_key_texts(frame, key))


def _key_texts(frame: pd.DataFrame, key: Sequence[str]) -> list[str]:
    missing = [name for name in key if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"Split key column {missing[0]!r} is not in the dataset; set split.key in the spec."
        )
    if not key:
        raise InvalidInputError("A split key needs at least one column; set split.key in the spec.")
    texts = [_texts(frame[name]) for name in key]
    return texts[0] if len(texts) == 1 else list(map(_SEPARATOR.join, zip(*texts, strict=True)))


def _fractions(texts: Sequence[str]) -> NDArray[np.float64]:
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(text.encode("utf-8"), digest_size=8).digest() for text in texts])
    return np.frombuffer(digests, dtype=">u8").astype(np.float64) / _SCALE


def _numbered(texts: Sequence[str]) -> list[str]:
    """Each text with its occurrence number appended from the second copy on."""
    occurrence = pd.Series(texts).groupby(pd.Series(texts), sort=False).cumcount().to_numpy()
    return [t if n == 0 else f"{t}{_SEPARATOR}#{n}" for t, n in zip(texts, occurrence, strict=True)]


def _texts(column: pd.Series) -> list[str]:
    """``_text`` of every value; integers without gaps are their ``str`` (the common key)."""
    values = column.tolist()
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        return list(map(str, values))
    return [_text(v) for v in values]


def assign_splits(
    frame: pd.DataFrame,
    key: Sequence[str],
    validation: float,
    test: float,
    *,
    strata: NDArray[Any] | None = None,
    keyless: bool = False,
) -> NDArray[np.str_]:
    """The split of each row: test below ``test``, validation next, train the rest.

    ``keyless``: ``key`` is every column of the row, so copies are numbered and classes cut
    by rank. ``strata``: each row's class, for a stratified split (see the module docstring).
    """
    texts = _key_texts(frame, key)
    position = _fractions(_numbered(texts) if keyless else texts)
    labels = np.full(len(frame), Split.TRAIN.value, dtype=f"<U{max(map(len, Split))}")
    labels[position < test + validation] = Split.VALIDATION.value
    labels[position < test] = Split.TEST.value
    if strata is None:
        return labels
    for value in pd.unique(np.asarray(strata, dtype=object)):
        rows = np.flatnonzero(np.asarray(strata, dtype=object) == value)
        rows = rows[np.argsort(position[rows], kind="stable")]
        if keyless:
            wanted = _class_counts(len(rows), validation, test)
            labels[rows] = np.repeat([s.value for s in _ORDER], wanted)
        else:
            _ensure_minimum(labels, rows, validation, test)
    return labels


_ORDER = (Split.TEST, Split.VALIDATION, Split.TRAIN)  # by rising hash position
MIN_CLASS_ROWS = 3  # a class with fewer rows cannot have a row in each of three splits


def _class_counts(n: int, validation: float, test: float) -> list[int]:
    """Rows of a class of ``n`` for test, validation and train: the spec's shares, rounded,
    with at least one row in each split the spec asks for once the class has enough rows."""
    counts = [int(n * test + 0.5), int(n * validation + 0.5)]
    if n >= MIN_CLASS_ROWS:
        counts = [
            max(c, 1) if share > 0 else c
            for c, share in zip(counts, (test, validation), strict=True)
        ]
    elif n == 2 and test > 0:
        counts = [1, 0]
    counts = [min(c, max(n - 1, 0)) for c in counts]
    counts[1] = min(counts[1], max(n - 1 - counts[0], 0))
    return [*counts, n - sum(counts)]


def _ensure_minimum(
    labels: NDArray[np.str_], rows: NDArray[np.intp], validation: float, test: float
) -> None:
    """Give a keyed class (``rows`` by rising hash) a row in each split it has none in,
    taking the lowest-hash row of a split that can spare one."""
    if len(rows) < MIN_CLASS_ROWS:
        return
    for which, share in ((Split.TEST, test), (Split.VALIDATION, validation)):
        present = labels[rows]
        if share <= 0 or (present == which.value).any():
            continue
        counts = {s.value: int((present == s.value).sum()) for s in Split}
        spare = [r for r in rows if counts[str(labels[r])] > 1 and labels[r] != which.value]
        if spare:
            labels[spare[0]] = which.value


def class_notes(strata: NDArray[Any], labels: NDArray[np.str_], validation: float) -> list[str]:
    """One sentence per class that is missing from a split it should be in."""
    notes = []
    for value in sorted(pd.unique(np.asarray(strata, dtype=object)), key=str):
        present = set(labels[np.asarray(strata, dtype=object) == value].tolist())
        wanted = [Split.TRAIN, Split.TEST] + ([Split.VALIDATION] if validation > 0 else [])
        missing = [s.value for s in wanted if s.value not in present]
        if missing:
            count = int((np.asarray(strata, dtype=object) == value).sum())
            notes.append(
                f"Class {str(value)!r} has only {count} row(s), none in the {' or '.join(missing)} "
                f"split; its scores there cannot be measured, so collect more rows of it."
            )
    return notes


def find_leakage(
    frame: pd.DataFrame, splits: NDArray[np.str_], columns: Sequence[str], key: Sequence[str] = ()
) -> Leakage:
    """Count validation/test rows whose ``columns`` equal some training row's exactly."""
    if not len(frame):
        return Leakage(0, 0)
    chosen = frame.loc[:, list(columns)]
    try:
        hashes = pd.util.hash_pandas_object(chosen, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): compare their text instead
        hashes = pd.util.hash_pandas_object(chosen.astype(str), index=False).to_numpy()
    duplicated = np.isin(hashes, hashes[splits == Split.TRAIN.value])
    leaked_test = duplicated & (splits == Split.TEST.value)
    leaked_validation = duplicated & (splits == Split.VALIDATION.value)
    examples: tuple[str, ...] = ()
    if key and leaked_test.any():
        rows = frame.loc[leaked_test, list(key)].head(5)
        examples = tuple(_SEPARATOR.join(map(_text, r)) for r in rows.itertuples(index=False))
    counts = int(leaked_validation.sum()), int(leaked_test.sum())
    return Leakage(*counts, examples, natural=not key)
