"""Train/validation/test splits by a stable hash of the record key, and leakage checks.

A row's split depends only on its key (BLAKE2b of the key values), never on the other
rows, the seed or the row order: as a dataset grows, existing rows keep their split and
test rows never move into training, so a champion and a challenger are compared on test
rows neither has seen. Without a key the whole row is hashed (then an edited row may move).
Rows in validation or test whose features and target exactly equal a training row's are
reported as leakage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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

    @property
    def found(self) -> bool:
        return bool(self.validation_duplicates or self.test_duplicates)

    def sentence(self) -> str:
        if not self.found:
            return "No exact duplicates across splits."
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
    missing = [name for name in key if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"Split key column {missing[0]!r} is not in the dataset; set split.key in the spec."
        )
    if not key:
        raise InvalidInputError("A split key needs at least one column; set split.key in the spec.")
    texts = [_texts(frame[name]) for name in key]
    joined = texts[0] if len(texts) == 1 else list(map(_SEPARATOR.join, zip(*texts, strict=True)))
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(text.encode("utf-8"), digest_size=8).digest() for text in joined])
    return np.frombuffer(digests, dtype=">u8").astype(np.float64) / _SCALE


def _texts(column: pd.Series) -> list[str]:
    """``_text`` of every value; integers without gaps are their ``str`` (the common key)."""
    values = column.tolist()
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        return list(map(str, values))
    return [_text(v) for v in values]


def assign_splits(
    frame: pd.DataFrame, key: Sequence[str], validation: float, test: float
) -> NDArray[np.str_]:
    """The split of each row: test below ``test``, validation next, train the rest."""
    position = key_fractions(frame, key)
    labels = np.full(len(frame), Split.TRAIN.value, dtype=f"<U{max(map(len, Split))}")
    labels[position < test + validation] = Split.VALIDATION.value
    labels[position < test] = Split.TEST.value
    return labels


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
    return Leakage(int(leaked_validation.sum()), int(leaked_test.sum()), examples)
