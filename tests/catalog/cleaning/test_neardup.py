"""MinHash/LSH: the same banding as datasketch, and planted near-duplicates found."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from datasketch.lsh import _optimal_param

from catalog.cleaning.neardup import NearDupParams, lsh_params, near_duplicates, signatures


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128])
def test_bands_match_datasketch(threshold: float, num_perm: int) -> None:
    assert lsh_params(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def planted_corpus(
    originals: int, copies: int, seed: int = 3
) -> tuple[list[str], set[tuple[int, int]]]:
    """Random documents plus edited copies (1-3 of 60 words changed, so a copy shares at least
    49 of 67 shingles with its original); returns texts and true pairs."""
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 6)) for _ in range(3000)]
    docs = [list(rng.choice(vocab, 60)) for _ in range(originals)]
    truth: set[tuple[int, int]] = set()
    sources = rng.choice(originals, copies, replace=False)
    for source in sources:
        words = list(docs[source])
        for _ in range(rng.integers(1, 4)):
            words[rng.integers(len(words))] = str(rng.choice(vocab))
        truth.add((int(source), len(docs)))
        docs.append(words)
    return [" ".join(w) for w in docs], truth


def test_planted_near_duplicates_are_found_with_high_precision_and_recall() -> None:
    texts, truth = planted_corpus(originals=2000, copies=200)
    found = near_duplicates(pa.array(texts), NearDupParams(threshold=0.5))
    predicted = {(int(i), int(j)) for i, j in found.pairs}
    true_positive = len(predicted & truth)
    precision = true_positive / len(predicted)
    recall = true_positive / len(truth)
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall


def test_estimates_track_jaccard_similarity() -> None:
    words = [f"w{i}" for i in range(200)]
    a = " ".join(words)
    b = " ".join(words[:150] + [f"x{i}" for i in range(50)])  # 147 of 248 shingles shared
    sig, present = signatures(pa.array([a, b]), num_perm=256)
    estimate = float((sig[0] == sig[1]).mean())
    assert present.tolist() == [True, True]
    assert abs(estimate - 147 / 248) < 0.08


def test_empty_and_null_texts_never_match_while_short_equal_texts_do() -> None:
    found = near_duplicates(pa.array([None, "", None, "", "red hat", "Red hat!"]))
    assert [tuple(p) for p in found.pairs.tolist()] == [(4, 5)]
    assert found.labels[0] != found.labels[2]
