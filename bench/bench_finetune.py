"""Fine-tuning benchmark (issue 19): does starting from yesterday's language model beat starting over?

The demo magazine (seed 7, scale 1: 300 articles) is crawled on two days. Its articles do
not change with the site's ``day``, so day 1's crawl is taken to be the articles published
up to the median date and day 2's the newer half, the ones a second crawl would add. A
byte-level GPT (``articles_lm.yaml``'s family and block size) is trained on day 1 (the
parent, ``DAY1_BUDGET`` seconds). Then one run fine-tunes it on day 2 with ``--from``,
which also trains the same model from scratch on the same split in the same budget
(``BUDGET`` seconds each) for its scratch gate: the figure is the fine-tuned model's test
perplexity on day 2 ÷ the from-scratch one's (goal < 1: lower is better). One compute thread.
``HARVEST_BENCH_FINETUNE_BUDGET`` and ``HARVEST_BENCH_FINETUNE_DAY1`` change the budgets.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from bench.common import Figure

BUDGET = float(os.environ.get("HARVEST_BENCH_FINETUNE_BUDGET", 30))
DAY1_BUDGET = float(os.environ.get("HARVEST_BENCH_FINETUNE_DAY1", 60))
GPT = {"block_size": 128, "n_layer": 2, "n_embd": 64, "max_steps": 3000}


def magazine_days() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo magazine's articles: (day 1's, day 2's), split at the median publication date."""
    from demo_site.model import DemoData

    articles = sorted(DemoData(seed=7, scale=1).articles, key=lambda a: (a.published, a.id))
    frame = pd.DataFrame(
        {
            "id": [a.id for a in articles],
            "title": [a.title for a in articles],
            "section": [a.section for a in articles],
            "text": ["\n\n".join((a.title, a.dek, *a.paragraphs)) for a in articles],
        }
    )
    half = len(frame) // 2
    return frame.iloc[:half].reset_index(drop=True), frame.iloc[half:].reset_index(drop=True)


def bench_finetune_vs_scratch() -> Figure:
    from catalog import Catalog
    from training.spec import spec_from_mapping
    from training.train import train

    day1, day2 = magazine_days()
    with tempfile.TemporaryDirectory() as scratch:
        catalog = Catalog.open(Path(scratch) / "home")
        first = catalog.commit("clean.articles", day1, producer="bench", key=("id",))
        common = {"target": "text", "task": "language_modelling", "seed": 0}
        train(
            spec_from_mapping(
                {**common, "dataset": first.version.ref, "name": "articles-lm",
                 "families": ["gpt"], "trials": 0, "time_budget": DAY1_BUDGET,
                 "params": {"gpt": GPT}}
            ),
            catalog,
        )  # fmt: skip
        second = catalog.commit("clean.articles", day2, producer="bench", key=("id",))
        tuned = train(
            spec_from_mapping(
                {**common, "dataset": second.version.ref, "from": "articles-lm@1",
                 "time_budget": BUDGET}
            ),
            catalog,
        )  # fmt: skip
        scratch_gate = next(g for g in tuned.gates if g.gate == "scratch")
        assert scratch_gate.reference is not None
        return Figure(
            f"LM perplexity on day-2 articles: fine-tuned ÷ from scratch, {BUDGET:g} s each",
            tuned.score / scratch_gate.reference,
            goal=1.0,
            op="<=",
            detail=f"fine-tuned {tuned.score:.3f}, from scratch {scratch_gate.reference:.3f}, "
            f"parent {DAY1_BUDGET:g} s on {len(day1)} day-1 articles, {len(day2)} on day 2",
        )


def run() -> list[Figure]:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        return [bench_finetune_vs_scratch()]
