"""The model card: ``card.json`` (machine-readable) and ``MODEL_CARD.md`` (for people).

A card says exactly how a model version was made and how good it is: the data version,
its content hash and lineage back to the scrape run; the features used and dropped; the
split and any leakage; the family and parameters; the search (budget, trials, winner);
metrics on validation and test next to the dummy baseline; the gate verdicts; the plots;
the library versions; and what the model is for and where it stops being reliable.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from training.data import LineageStep, Prepared
from training.evaluation import Evaluation
from training.gates import GateResult
from training.protocol import describe
from training.search import SearchResult
from training.spec import TrainingSpec
from training.task import Task

LIBRARIES = (
    "harvest",
    "scikit-learn",
    "torch",
    "numpy",
    "pandas",
    "scipy",
    "optuna",
    "skops",
    "duckdb",
    "pyarrow",
)


def environment(device: str) -> dict[str, str]:
    """Python, platform, device and the versions of the libraries that shape a model."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform(), "device": device}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def intended_use(task: Task, target: str, dataset: str) -> tuple[str, list[str]]:
    """What the model is for, and its limits, in plain sentences."""
    uses = {
        Task.CLASSIFICATION: f"Predict the {target!r} class of new rows shaped like {dataset}.",
        Task.REGRESSION: f"Estimate {target!r} for new rows shaped like {dataset}.",
        Task.TEXT_CLASSIFICATION: f"Assign a {target!r} label to new texts like those in {dataset}.",
        Task.IMAGE_CLASSIFICATION: f"Assign a {target!r} label to new images like those in {dataset}.",
        Task.LANGUAGE_MODELLING: f"Score and continue text like the {target!r} column of {dataset}.",
    }
    limits = [
        "Trained on one scraped dataset version; rows unlike it (new sources, categories, "
        "markets or time periods) may be predicted badly.",
        "Scores come from a held-out test split of the same data, not from live use.",
        "Not for decisions about people.",
    ]
    if task is Task.LANGUAGE_MODELLING:
        limits.append("A small byte-level model: generated text is for demonstration, not facts.")
    return uses[task], limits


@dataclass(frozen=True)
class CardInputs:
    """What a card is made from."""

    model: str
    version: int
    run_id: str
    spec: TrainingSpec
    prepared: Prepared
    lineage: tuple[LineageStep, ...]
    search: SearchResult
    evaluation: Evaluation
    baseline: Mapping[str, float]
    gates: tuple[GateResult, ...]
    promoted: str | None
    artifact: Sequence[str]
    device: str
    parent: Mapping[str, Any] | None = None  # the model fine-tuned from (training.finetune)
    fine_tuning: Mapping[str, Any] | None = None  # its settings and the from-scratch rival


def build_card(inputs: CardInputs) -> dict[str, Any]:
    """The card as JSON values."""
    p = inputs.prepared
    best = inputs.search.best
    use, limits = intended_use(p.task, inputs.spec.target, p.version.dataset)
    scrape = next((s.producer for s in inputs.lineage if s.producer.startswith("scrape:")), None)
    return {
        "model": inputs.model,
        "version": inputs.version,
        "ref": f"{inputs.model}@{inputs.version}",
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": inputs.run_id,
        "task": p.task.value,
        "target": inputs.spec.target,
        "metric": p.metric.name,
        "family": best.family,
        "params": dict(best.params),
        "classes": list(p.classes),
        "features": p.profile.to_json(),
        "data": {
            "dataset": p.version.dataset,
            "version": p.version.number,
            "ref": p.version.ref,
            "content_hash": p.version.content_hash,
            "rows": p.version.rows,
            "producer": p.version.producer,
            "scrape_run": scrape,
            "lineage": [
                {
                    "ref": s.ref,
                    "producer": s.producer,
                    "content_hash": s.content_hash,
                    "parents": list(s.parents),
                }
                for s in inputs.lineage
            ],
            "split": {
                "key": list(p.key) or None,
                "validation": inputs.spec.split.validation,
                "test": inputs.spec.split.test,
                "rows": p.counts(),
                "class_balance": p.balance(),
                "notes": list(p.split_notes),
                "unlabelled_left_out": p.unlabelled,
            },
            "leakage": {
                "validation_duplicates": p.leakage.validation_duplicates,
                "test_duplicates": p.leakage.test_duplicates,
                "examples": list(p.leakage.examples),
                "natural_duplicates": p.leakage.natural,
                "summary": p.leakage.sentence(),
            },
        },
        "search": {
            "budget_seconds": inputs.spec.time_budget,
            "seconds": round(inputs.search.seconds, 2),
            "trials": len(inputs.search.trials),
            "cv_folds": inputs.search.folds,
            "best": best.to_json(),
        },
        "evaluation": {
            "protocol": inputs.evaluation.protocol,
            "summary": describe(inputs.evaluation.protocol, len(p.frame)),
        },
        "metrics": {
            "test": dict(inputs.evaluation.test),
            "intervals": {k: v.to_json() for k, v in inputs.evaluation.intervals.items()},
            "validation": dict(inputs.evaluation.validation),
            "per_class": {k: dict(v) for k, v in inputs.evaluation.per_class.items()},
        },
        "baseline": {"family": "dummy", "test": dict(inputs.baseline)},
        "gates": [g.to_json() for g in inputs.gates],
        "promoted": inputs.promoted,
        "importance": [
            {"feature": i.feature, "mean": i.mean, "std": i.std}
            for i in inputs.evaluation.importance
        ],
        "plots": list(inputs.evaluation.plots),
        "artifact": {
            "format": "torch state_dict + skops" if "model.pt" in inputs.artifact else "skops",
            "files": list(inputs.artifact),
        },
        "environment": environment(inputs.device),
        "intended_use": use,
        "limits": limits,
        "spec": inputs.spec.to_json(),
        **(
            {"parent": dict(inputs.parent), "fine_tuning": dict(inputs.fine_tuning or {})}
            if inputs.parent
            else {}
        ),
    }


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _interval(interval: Mapping[str, Any] | None) -> str:
    if not interval or interval.get("low") is None:
        return ""
    return f"{_number(interval['low'])} to {_number(interval['high'])}"


def _protocol_lines(card: Mapping[str, Any]) -> list[str]:
    evaluation = card.get("evaluation")
    return (
        [f"Protocol: **{evaluation['protocol']}**. {evaluation['summary']}", ""]
        if evaluation
        else []
    )


def _split_lines(split: Mapping[str, Any]) -> list[str]:
    """The split's sizes (with shares), each split's class balance and any class notes."""
    rows = split["rows"]
    total = max(sum(rows.values()), 1)
    by = ", ".join(split["key"]) if split["key"] else "the whole row with its copy number"
    lines = [
        f"- Split by hash of {by}: "
        + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in rows.items())
    ]
    for name, shares in split.get("class_balance", {}).items():
        lines.append(f"  - {name} classes: " + ", ".join(f"{c} {v:.0%}" for c, v in shares.items()))
    return lines + [f"- {note}" for note in split.get("notes", [])]


def model_lineage(card: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The models this card's model was fine-tuned from, its parent first, then that one's."""
    chain: list[Mapping[str, Any]] = []
    parent = card.get("parent")
    while isinstance(parent, Mapping) and len(chain) < 50:
        chain.append(parent)
        parent = parent.get("parent")
    return chain


def _parent_lines(card: Mapping[str, Any]) -> list[str]:
    """The "Fine-tuned from" section: each ancestor model with its data and crawl, and the rival."""
    chain = model_lineage(card)
    if not chain:
        return []
    lines = ["## Fine-tuned from", ""]
    for parent in chain:
        data = parent["data"]
        crawl = f"; crawl `{data['scrape_run']}`" if data.get("scrape_run") else ""
        lines.append(
            f"- `{parent['ref']}` ({parent['family']}), trained on `{data['ref']}` "
            f"(content hash `{data['content_hash']}`{crawl})"
        )
    tuning = card.get("fine_tuning") or {}
    if tuning.get("from_scratch") is not None:
        lines.append(
            f"- Against training from scratch in the same {tuning['budget_seconds']:g} s: "
            f"{tuning['metric']} {_number(tuning['fine_tuned'])} fine-tuned, "
            f"{_number(tuning['from_scratch'])} from scratch"
        )
    lines += [f"- {note}" for note in tuning.get("notes", [])]
    return [*lines, ""]


def render_markdown(card: Mapping[str, Any]) -> str:
    """``MODEL_CARD.md``: the card for people."""
    data, metrics = card["data"], card["metrics"]
    lines = [
        f"# Model card: {card['ref']}",
        "",
        f"*{card['task'].replace('_', ' ')}* of `{card['target']}` with **{card['family']}**, "
        f"trained {card['created_at'][:19].replace('T', ' ')} UTC (run `{card['run_id']}`).",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "Limits:",
        "",
        *[f"- {limit}" for limit in card["limits"]],
        "",
        "## Data",
        "",
        f"- Dataset version: `{data['ref']}` ({data['rows']} rows), content hash `{data['content_hash']}`",
        f"- Produced by: `{data['producer']}`"
        + (f"; scraped by `{data['scrape_run']}`" if data["scrape_run"] else ""),
        "- Lineage: " + " ← ".join(f"`{s['ref']}` ({s['producer']})" for s in data["lineage"]),
        *_split_lines(data["split"]),
        f"- Leakage: {data['leakage']['summary']}",
        *(
            [f"- Rows without a target, left out: {data['split']['unlabelled_left_out']}"]
            if data["split"].get("unlabelled_left_out")
            else []
        ),
        "",
        *_parent_lines(card),
        "## Features",
        "",
        *[f"- `{c['name']}` ({c['kind']})" for c in card["features"]["columns"]],
        *[f"- ~~`{d['name']}`~~ dropped: {d['reason']}" for d in card["features"]["dropped"]],
        "",
        "## Model",
        "",
        f"- Family: {card['family']}; parameters: "
        + (", ".join(f"`{k}={_number(v)}`" for k, v in card["params"].items()) or "defaults"),
        f"- Search: {card['search']['trials']} trials in {card['search']['seconds']} s "
        f"(budget {card['search']['budget_seconds']} s, {card['search']['cv_folds']}-fold CV)",
        f"- Artifact: {card['artifact']['format']} ({', '.join(card['artifact']['files'])})",
        "",
        "## Metrics",
        "",
        *_protocol_lines(card),
        "| metric | score | 95% interval | validation | baseline |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {name}{' **(gated)**' if name == card['metric'] else ''} | {_number(value)} | "
            f"{_interval(metrics.get('intervals', {}).get(name))} | "
            f"{_number(metrics['validation'].get(name, ''))} | {_number(card['baseline']['test'].get(name, ''))} |"
            for name, value in metrics["test"].items()
        ],
        "",
    ]
    if metrics["per_class"]:
        lines += [
            "Per class (test):",
            "",
            "| class | precision | recall | f1 | support |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {label} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1-score']:.3f} | {int(v['support'])} |"
            for label, v in metrics["per_class"].items()
        ]
        lines.append("")
    lines += ["## Gates", ""]
    lines += [
        f"- **{g['gate']}**: {'passed' if g['passed'] else 'failed'}. {g['detail']}"
        for g in card["gates"]
    ]
    lines += [
        "",
        f"Promoted to: **{card['promoted'] or 'nothing (kept as a registered version)'}**",
        "",
    ]
    if card["importance"]:
        ranked = sorted(card["importance"], key=lambda i: -i["mean"])[:10]
        lines += ["## Most important inputs (permutation, test)", ""]
        lines += [f"- `{i['feature']}`: {i['mean']:.4f} ± {i['std']:.4f}" for i in ranked]
        lines.append("")
    if card["plots"]:
        lines += ["## Plots", ""]
        lines += [f"![{p}]({p})" for p in card["plots"]]
        lines.append("")
    env = card["environment"]
    lines += ["## Environment", "", ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    return "\n".join(lines)
