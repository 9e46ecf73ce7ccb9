"""Cleaning benchmarks, each against a bare baseline in the same run.

- Exact dedup of 5M rows by key, keeping the freshest: Harvest's ``dedup_exact`` ÷ a plain
  DuckDB ``GROUP BY`` with ``arg_max`` doing the same (goal ≤ 1.2); pandas
  ``sort_values().drop_duplicates()`` is reported as a third arm.
- Near duplicates in a 100k-document synthetic corpus with planted near-duplicates:
  documents per second of Harvest's MinHash/LSH ÷ ``datasketch`` ``MinHashLSH`` with the
  same parameters (128 permutations, threshold 0.5, word 3-shingles) (goal ≥ 1.0), and the
  F1 of Harvest's pairs against the planted truth (goal ≥ 0.95).
- Cleaning the demo shop's raw products (its bundled spec) ÷ reading them from the catalog:
  a figure for the README. The raw rows are built from the demo site's own model in the
  shape the products spider writes (``HARVEST_BENCH_SCALE`` multiplies the shop).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.common import Figure, best_of, ratio
from catalog import Catalog
from catalog.cleaning import clean
from catalog.cleaning.dedup import dedup_exact
from catalog.cleaning.neardup import NearDupParams, near_duplicates

ROWS = int(os.environ.get("HARVEST_BENCH_DEDUP_ROWS", 5_000_000))
DOCS = int(os.environ.get("HARVEST_BENCH_DOCS", 100_000))
SCALE = int(os.environ.get("HARVEST_BENCH_SCALE", 1))
THRESHOLD = 0.5
NUM_PERM = 128
SHINGLE = 3


# -- exact dedup -------------------------------------------------------------------------------


def dedup_table(rows: int, seed: int = 1) -> pa.Table:
    """``rows`` scraped rows over 80% as many SKUs (so about a third are repeats)."""
    rng = np.random.default_rng(seed)
    ids = pa.array(rng.integers(0, int(rows * 0.8), rows))
    start = np.datetime64("2024-01-01T00:00:00", "us")
    return pa.table(
        {
            "sku": pc.binary_join_element_wise("SKU-", pc.cast(ids, pa.string()), ""),
            "name": pc.binary_join_element_wise("Product ", pc.cast(ids, pa.string()), ""),
            "price": rng.random(rows) * 100,
            "_fetched_at": pa.array(
                start + rng.integers(0, 10**12, rows).astype("timedelta64[us]"),
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def duckdb_group_by(table: pa.Table) -> pa.Table:
    con = duckdb.connect()
    con.register("scraped", table)
    sql = "SELECT sku, arg_max(COLUMNS(* EXCLUDE (sku)), _fetched_at) FROM scraped GROUP BY sku"
    result = con.execute(sql).to_arrow_table()
    con.close()
    return result


def bench_exact() -> list[Figure]:
    table = dedup_table(ROWS)
    expected = duckdb_group_by(table).num_rows
    assert dedup_exact(table, ["sku"]).table.num_rows == expected
    harvest_s = best_of(lambda: dedup_exact(table, ["sku"]), repeat=3)
    duckdb_s = best_of(lambda: duckdb_group_by(table), repeat=3)
    frame = table.to_pandas()
    pandas_s = best_of(
        lambda: frame.sort_values("_fetched_at").drop_duplicates("sku", keep="last"), repeat=1
    )
    label = f"{ROWS / 1e6:g}M rows"
    return [
        ratio(f"exact dedup {label}: harvest ÷ DuckDB GROUP BY", harvest_s, duckdb_s, goal=1.2),
        Figure(
            name=f"exact dedup {label}: pandas ÷ DuckDB GROUP BY",
            value=pandas_s / duckdb_s,
            detail=f"pandas {pandas_s:.3f}s, DuckDB {duckdb_s:.3f}s, {expected} rows kept",
        ),
    ]


# -- near duplicates ---------------------------------------------------------------------------


def planted_corpus(docs: int, seed: int = 7) -> tuple[list[str], set[tuple[int, int]]]:
    """``docs`` documents of 80 Zipf-distributed words; 10% are copies of another document
    with 1 to 3 words replaced, inserted or deleted. Returns texts and the true pairs."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(rng.choice(letters, rng.integers(3, 10))) for _ in range(20_000)])
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    copies = docs // 10
    originals = docs - copies
    words = rng.choice(len(vocab), size=(originals, 80), p=weights)
    texts = [" ".join(vocab[row]) for row in words]
    truth: set[tuple[int, int]] = set()
    for source in rng.integers(0, originals, copies):
        edited = list(vocab[words[source]])
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(len(edited)))
            change = rng.integers(3)
            if change == 0:
                edited[at] = vocab[rng.integers(len(vocab))]
            elif change == 1:
                edited.insert(at, vocab[rng.integers(len(vocab))])
            else:
                del edited[at]
        truth.add((int(source), len(texts)))
        texts.append(" ".join(edited))
    return texts, _closed(truth)


def _closed(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Every pair inside the groups the pairs connect (two copies of one source are a pair)."""
    groups: dict[int, set[int]] = {}
    for a, b in pairs:
        group = groups.get(a, {a}) | groups.get(b, {b})
        for member in group:
            groups[member] = group
    closed = set()
    for group in {id(g): g for g in groups.values()}.values():
        members = sorted(group)
        closed |= {(x, y) for i, x in enumerate(members) for y in members[i + 1 :]}
    return closed


_WORD = re.compile(r"\w+")


def datasketch_pairs(texts: list[str]) -> set[tuple[int, int]]:
    """The baseline: per-document shingles, ``MinHash.bulk``, ``MinHashLSH`` insert and query."""
    from datasketch import MinHash, MinHashLSH

    shingles = []
    for text in texts:
        words = _WORD.findall(text.lower())
        grams = {" ".join(words[i : i + SHINGLE]) for i in range(max(len(words) - SHINGLE + 1, 1))}
        shingles.append([g.encode() for g in grams])
    hashes = MinHash.bulk(shingles, num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for index, minhash in enumerate(hashes):
            session.insert(index, minhash)
    pairs = set()
    for index, minhash in enumerate(hashes):
        for other in lsh.query(minhash):
            if other != index:
                pairs.add((min(index, other), max(index, other)))
    return pairs


def f1(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float, float]:
    hits = len(found & truth)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(truth) if truth else 0.0
    return precision, recall, 2 * precision * recall / (precision + recall or 1.0)


def bench_near() -> list[Figure]:
    texts, truth = planted_corpus(DOCS)
    column = pa.array(texts, pa.large_string())
    params = NearDupParams(threshold=THRESHOLD, num_perm=NUM_PERM, shingle=SHINGLE)
    found: list[set[tuple[int, int]]] = []

    def harvest() -> None:
        result = near_duplicates(column, params)
        labels = result.labels
        groups: dict[int, list[int]] = {}
        for index in np.flatnonzero(np.bincount(labels)[labels] > 1):
            groups.setdefault(int(labels[index]), []).append(int(index))
        found[:] = [{(x, y) for m in groups.values() for i, x in enumerate(m) for y in m[i + 1 :]}]

    harvest_s = best_of(harvest, repeat=2)
    baseline: list[set[tuple[int, int]]] = []
    datasketch_s = best_of(lambda: baseline.append(datasketch_pairs(texts)), repeat=1)
    precision, recall, score = f1(found[0], truth)
    _, _, baseline_score = f1(baseline[0], truth)
    harvest_rate, baseline_rate = DOCS / harvest_s, DOCS / datasketch_s
    return [
        Figure(
            name=f"near-dup {DOCS // 1000}k docs: harvest docs/s ÷ datasketch MinHashLSH",
            value=harvest_rate / baseline_rate,
            goal=1.0,
            op=">=",
            detail=f"harvest {harvest_rate:,.0f} docs/s, datasketch {baseline_rate:,.0f} docs/s",
        ),
        Figure(
            name=f"near-dup {DOCS // 1000}k docs: F1 against planted duplicates",
            value=score,
            unit="",
            goal=0.95,
            op=">=",
            detail=f"precision {precision:.4f}, recall {recall:.4f}, {len(truth)} true pairs; "
            f"datasketch candidates (unverified) F1 {baseline_score:.4f}",
        ),
    ]


# -- cleaning the demo products ----------------------------------------------------------------


def demo_raw_products(scale: int = SCALE) -> pa.Table:
    """The demo shop's day-1 products in the shape the products spider writes (one row per
    product page, the duplicates' second URL included)."""
    from demo_site import DemoData
    from demo_site.formats import price_text
    from demo_site.model import category_words

    data = DemoData(seed=7, scale=scale)
    day = data.day(1)
    origin = "http://127.0.0.1:8700"
    fetched = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = []
    for product in day.products:
        offer = day.offers[product.id]
        paths = [product.path] + ([product.alt_path] if product.duplicate else [])
        for n, path in enumerate(paths):
            rows.append(
                {
                    "title": f"\n  {product.title}  \n",
                    "shown_price": price_text(product, offer),
                    "was_price": None if offer.was_price is None else f"{offer.was_price}",
                    "availability_text": offer.availability,
                    "in_stock": offer.availability in ("InStock", "LimitedAvailability"),
                    "category": category_words(product.category).name,
                    "image_url": origin + product.image_path,
                    "specs": [f"{k}{v}" for k, v in product.specs],
                    "description": product.description_html,
                    "sku": product.sku,
                    "gtin": product.gtin,
                    "brand": product.brand,
                    "price": None if offer.price is None else float(offer.price),
                    "currency": product.currency,
                    "availability": f"https://schema.org/{offer.availability}",
                    "_url": origin + path,
                    "_fetched_at": fetched + timedelta(seconds=len(rows) + n),
                    "_status": 200,
                    "_source": "products",
                    "_run_id": "bench",
                }
            )
    return pa.Table.from_pylist(rows)


def bench_demo_clean() -> list[Figure]:
    raw = demo_raw_products()
    with tempfile.TemporaryDirectory() as home, Catalog.open(home) as catalog:
        catalog.commit("raw.products", raw, producer="scrape:bench", key=("_url",))
        clean(catalog, "products")  # warm: the language model loads once per process
        timings: list[float] = []

        def cleaned() -> None:
            started = time.perf_counter()
            result = clean(catalog, "products")
            timings.append(time.perf_counter() - started)
            assert result.version is not None

        clean_s = best_of(cleaned, repeat=3)
        read_s = best_of(lambda: catalog.read("raw.products"), repeat=5)
    return [
        Figure(
            name=f"clean demo raw products ({raw.num_rows} rows) ÷ reading them",
            value=clean_s / read_s,
            detail=f"clean {clean_s:.3f}s ({raw.num_rows / clean_s:,.0f} rows/s), read {read_s:.4f}s",
        )
    ]


def run() -> list[Figure]:
    return [*bench_exact(), *bench_near(), *bench_demo_clean()]
