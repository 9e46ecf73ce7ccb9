"""Near-duplicate text: MinHash signatures and banded LSH, vectorised with NumPy.

Texts are lower-cased by Arrow and cut into words (runs of letters, digits, ``_`` and
non-ASCII characters) straight from Arrow's UTF-8 buffer with NumPy: no Python string per
word. A word's hash mixes its bytes with per-position multipliers; a shingle of ``k``
consecutive words mixes its words' hashes and is folded to 32 bits. A signature holds, for each of ``num_perm``
affine permutations ``a*x + b mod 2**32`` (``a`` odd, so each is a bijection, the scheme
``datasketch`` 2 uses by default), the minimum over the text's shingles; it is computed
for thousands of shingles at once, in chunks spread over the CPU cores. LSH cuts each
signature into ``b`` bands of ``r`` rows, with ``(b, r)`` chosen exactly as
``datasketch.MinHashLSH`` chooses them for a threshold (minimising the weighted false
positive and negative probabilities); texts sharing a band are candidates, and a
candidate pair is kept when the share of equal signature values (the MinHash estimate of
their Jaccard similarity) reaches the threshold. Connected pairs form clusters.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.integrate import quad
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from catalog.cleaning.values import TEXT, as_text, one_array

_U64 = np.uint64
_MIX = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0x27D4EB2F165667C5,
        0x85EBCA77C2B2AE63,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x94D049BB133111EB,
        0xBF58476D1CE4E5B9,
        0xD6E8FEB86659FD93,
    ],
    dtype=np.uint64,
)
_EMPTY = np.uint32(0xFFFFFFFF)
_CHUNK_SHINGLES = 1 << 15
_MAX_BUCKET_STRIDE = 16


@dataclass(frozen=True)
class NearDupParams:
    """MinHash/LSH settings: Jaccard ``threshold``, ``num_perm`` permutations, word ``shingle`` size."""

    threshold: float = 0.8
    num_perm: int = 128
    shingle: int = 3
    seed: int = 1
    weights: tuple[float, float] = (0.5, 0.5)

    @property
    def bands(self) -> tuple[int, int]:
        """(bands, rows per band) for this threshold and permutation count."""
        return lsh_params(self.threshold, self.num_perm, self.weights)


@dataclass(frozen=True)
class NearDuplicates:
    """Pairs of near-duplicate rows (``i < j``), their estimated similarity, and cluster labels."""

    pairs: np.ndarray
    similarity: np.ndarray
    labels: np.ndarray
    candidates: int


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


@cache
def lsh_params(
    threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)
) -> tuple[int, int]:
    """The (bands, rows) minimising weighted false-positive and false-negative probability."""
    fp_weight, fn_weight = weights
    best, best_error = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = quad(lambda s, b=bands, r=rows: 1 - (1 - s**r) ** b, 0.0, threshold)[0]
            fn = quad(lambda s, b=bands, r=rows: (1 - s**r) ** b, threshold, 1.0)[0]
            error = fp * fp_weight + fn * fn_weight
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


def _word_table() -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for low, high in ((ord("0"), ord("9")), (ord("A"), ord("Z")), (ord("a"), ord("z"))):
        table[low : high + 1] = True
    table[ord("_")] = True
    table[0x80:] = True  # bytes of non-ASCII characters
    return table


_WORD_BYTE = _word_table()
_POSITION = np.random.RandomState(20240501).randint(1, 2**62, 64, dtype=np.int64).astype(np.uint64)
_CHUNK_BYTES = 1 << 23


def _text_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, UTF-8 bytes) of lower-cased texts, nulls as empty."""
    all_ascii = pc.all(pc.string_is_ascii(texts)).as_py() is not False
    lowered = pc.ascii_lower(texts) if all_ascii else pc.utf8_lower(texts)
    lowered = pa.concat_arrays([pc.fill_null(lowered, "").cast(TEXT)])  # offset 0, no nulls
    buffers = lowered.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[: len(lowered) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] else np.zeros(0, np.uint8)
    return offsets, data


def _chunk_token_hashes(data: np.ndarray, first_byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, first byte) of the words in ``data`` (``first_byte`` marks where texts start)."""
    word = _WORD_BYTE[data]
    opens = word.copy()
    opens[1:] &= ~word[:-1] | first_byte[1:]
    inside = np.flatnonzero(word)
    boundaries = np.flatnonzero(opens[inside])
    if not len(boundaries):
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.append(boundaries, len(inside)))
    relative = np.arange(len(inside)) - np.repeat(boundaries, lengths)
    weighted = data[inside].astype(np.uint64) * _POSITION[relative & 63]
    summed = np.add.reduceat(weighted, boundaries)
    return _fmix64(summed + lengths.astype(np.uint64) * _MIX[-1]), inside[boundaries]


def _token_hashes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every word, word offsets per text): texts lower-cased and cut into runs of
    letters, digits, underscores and non-ASCII characters, straight from Arrow's UTF-8 bytes
    (a word's hash mixes its bytes with per-position multipliers, then ``fmix64``)."""
    offsets, data = _text_buffers(texts)
    n = len(offsets) - 1
    hashes: list[np.ndarray] = []
    counts = np.zeros(n, dtype=np.int64)
    first = 0
    while first < n:
        last = int(np.searchsorted(offsets, offsets[first] + _CHUNK_BYTES, side="right")) - 1
        last = min(max(last, first + 1), n)
        begin, end = int(offsets[first]), int(offsets[last])
        if end > begin:
            chunk = data[begin:end]
            first_byte = np.zeros(len(chunk), dtype=bool)
            starts_here = offsets[first:last] - begin
            first_byte[starts_here[starts_here < len(chunk)]] = True
            found, starts = _chunk_token_hashes(chunk, first_byte)
            owner = np.searchsorted(offsets, starts + begin, side="right") - 1
            counts += np.bincount(owner, minlength=n)
            hashes.append(found)
        first = last
    token = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    return token, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _shingles(texts: pa.Array, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(32-bit shingle hashes, shingle offsets per text); texts shorter than k are one shingle."""
    token, offsets = _token_hashes(texts)
    lengths = np.diff(offsets)
    text_of = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(token)) - offsets[text_of]
    last = np.maximum(lengths - k, 0)[text_of]
    starts = np.flatnonzero(position <= last)
    span = np.minimum(lengths, k)[text_of[starts]]
    mixed = token[starts] * _MIX[0]
    for j in range(1, k):
        inside = span > j
        following = token[np.minimum(starts + j, len(token) - 1)]
        mixed += np.where(inside, following, _U64(0)) * _MIX[j % len(_MIX)]
    shingles = (_fmix64(mixed) >> _U64(32)).astype(np.uint32)
    counts = np.bincount(text_of[starts], minlength=len(lengths))
    return shingles, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + gen.randint(
        0, 2, num_perm, dtype=np.uint32
    )
    return a, b


def signatures(
    column: pa.Array | pa.ChunkedArray, num_perm: int = 128, shingle: int = 3, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(MinHash signatures as uint32 [texts, num_perm], whether each text had any words)."""
    texts = as_text(one_array(column))[0].cast(TEXT)
    shingles, starts = _shingles(texts, shingle)
    n = len(texts)
    counts = np.diff(starts)
    a, b = _permutations(num_perm, seed)
    sig = np.full((n, num_perm), _EMPTY, dtype=np.uint32)
    total = len(shingles)
    ranges = [(lo, min(lo + _CHUNK_SHINGLES, total)) for lo in range(0, total, _CHUNK_SHINGLES)]

    def part(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Minimum per text over the shingles in [begin, end) (a long text spans chunks)."""
        begin, end = bounds
        first = int(np.searchsorted(starts, begin, side="right")) - 1
        last = int(np.searchsorted(starts, end, side="left"))
        texts_here = np.arange(first, last)
        low = np.maximum(starts[texts_here], begin)
        high = np.minimum(starts[texts_here + 1], end)
        texts_here, low = texts_here[high > low], low[high > low]
        values = np.multiply(shingles[begin:end, None], a[None, :])
        values += b
        return texts_here, np.minimum.reduceat(values, low - begin, axis=0)

    with ThreadPoolExecutor(min(len(ranges), os.cpu_count() or 1) or 1) as pool:
        for rows, mins in pool.map(part, ranges):  # in order, combined here: no races
            sig[rows] = np.minimum(sig[rows], mins)
    return sig, counts > 0


def candidate_pairs(sig: np.ndarray, present: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Distinct pairs (i < j) of texts that share at least one LSH band."""
    index = np.flatnonzero(present)
    if len(index) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    mix = _MIX[:rows] if rows <= len(_MIX) else np.resize(_MIX, rows)
    found = []
    for band in range(bands):
        block = sig[index, band * rows : (band + 1) * rows].astype(np.uint64)
        keys = _fmix64((block * mix).sum(axis=1, dtype=np.uint64) + _U64(band))
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        for stride in range(1, _MAX_BUCKET_STRIDE + 1):
            same = ordered[stride:] == ordered[:-stride]
            if not same.any():
                break
            left, right = index[order[:-stride][same]], index[order[stride:][same]]
            found.append(np.stack([np.minimum(left, right), np.maximum(left, right)], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def near_duplicates(
    column: pa.Array | pa.ChunkedArray, params: NearDupParams = NearDupParams()
) -> NearDuplicates:
    """Near-duplicate pairs and clusters of a text column (nulls and empty texts never match)."""
    sig, present = signatures(column, params.num_perm, params.shingle, params.seed)
    bands, rows = params.bands
    pairs = candidate_pairs(sig, present, bands, rows)
    similarity = np.empty(len(pairs))
    for start in range(0, len(pairs), 1 << 15):
        chunk = pairs[start : start + (1 << 15)]
        similarity[start : start + len(chunk)] = (sig[chunk[:, 0]] == sig[chunk[:, 1]]).mean(axis=1)
    accepted = similarity >= params.threshold
    kept, kept_similarity = pairs[accepted], similarity[accepted]
    n = len(sig)
    graph = coo_matrix((np.ones(len(kept)), (kept[:, 0], kept[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return NearDuplicates(kept, kept_similarity, labels.astype(np.int64), len(pairs))
