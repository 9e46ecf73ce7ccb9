"""Reinforcement-learning goals of issue 19, measured through ``training.train.train``.

(a) PPO on ``CartPole-v1`` with the spec's defaults (60 s budget, default parameters and
    tuning, one torch thread): the registered policy's mean return over the 20 fixed
    evaluation seeds, goal >= 475 (of 500), with its 95% interval over the seeds.
(b) The repricing policy made from the demo shop's products over seven days (the demo
    site's own model, scale 2, as ``clean.products``-like versions, one a day) with the
    bundled ``products_repricing`` spec (PPO, 60,000 timesteps): its mean return on the test
    products ÷ keeping the price on the same evaluation seeds, goal >= 1.05 (the
    heuristic gate's margin), with the random policy's figure beside it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import Figure

DAYS = 7


def demo_days(days: int = DAYS, scale: int = 2) -> list[pd.DataFrame]:
    """The demo shop's products on days 1 to ``days``: price, list price, stock, category."""
    from demo_site.model import DemoData

    data = DemoData(seed=7, scale=scale)
    frames = []
    for number in range(1, days + 1):
        day = data.day(number)
        rows = []
        for product in day.products:
            offer = day.offers[product.id]
            rows.append(
                {
                    "sku": product.sku,
                    "category": product.category,
                    "price": float(offer.price) if offer.price is not None else None,
                    "was_price": float(offer.was_price) if offer.was_price is not None else None,
                    "in_stock": offer.availability in ("InStock", "LimitedAvailability"),
                }
            )
        frames.append(pd.DataFrame(rows))
    return frames


def bench_cartpole() -> Figure:
    from catalog import Catalog
    from training.spec import spec_from_mapping
    from training.train import train

    spec = spec_from_mapping(
        {"task": "reinforcement_learning", "environment": "CartPole-v1", "families": ["ppo"]}
    )
    with tempfile.TemporaryDirectory() as scratch:
        catalog = Catalog.open(Path(scratch) / "home")
        started = time.perf_counter()
        result = train(spec, catalog)
        seconds = time.perf_counter() - started
        catalog.close()
    low, high = result.intervals["mean_return"]
    return Figure(
        f"PPO on CartPole-v1, default spec ({spec.time_budget:g} s budget)",
        result.score,
        unit="return",
        goal=475.0,
        op=">=",
        detail=f"95% interval {low:.1f} to {high:.1f} over {spec.episodes} seeds, "
        f"{len(result.leaderboard)} trial(s), {seconds:.0f}s in all",
    )


def bench_repricing() -> Figure:
    from catalog import Catalog
    from training.spec import load_spec
    from training.train import train

    spec = load_spec("products_repricing")
    with tempfile.TemporaryDirectory() as scratch:
        catalog = Catalog.open(Path(scratch) / "home")
        for frame in demo_days():
            catalog.commit("clean.products", frame, producer="bench", key=("sku",))
        started = time.perf_counter()
        result = train(spec, catalog)
        seconds = time.perf_counter() - started
        catalog.close()
    gates = {g.gate: g for g in result.gates}
    kept, randomly = gates["heuristic"].reference, gates["baseline"].reference
    assert kept is not None and randomly is not None
    return Figure(
        f"repricing policy ÷ keep-the-price on test products ({DAYS} demo days)",
        result.score / kept,
        goal=1.05,
        op=">=",
        detail=f"policy {result.score:.2f}, keep the price {kept:.2f}, random {randomly:.2f} "
        f"over {spec.episodes} seeds; heuristic gate "
        f"{'passed' if gates['heuristic'].passed else 'failed'}, {seconds:.0f}s in all",
    )


def run() -> list[Figure]:
    return [bench_cartpole(), bench_repricing()]
