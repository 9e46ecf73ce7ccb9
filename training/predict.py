"""Predictions from registered models: a dataset in and a ``predictions.<model>`` dataset out, a file, one record.

* :func:`predict_dataset` reads a dataset version, predicts every row and commits the
  result through :meth:`catalog.Catalog.commit` as ``predictions.<model>`` (producer
  ``train:<model@v>``, parent the input version, the input's key kept).
* :func:`predict_file` reads CSV, TSV, Parquet, JSON or JSON Lines and writes the same
  formats (by the output's suffix).
* :func:`predict_record` predicts one record given as a mapping (e.g. parsed JSON).

Output columns: the input's key columns (or every input column for files and records),
then ``prediction``, and for classifiers ``probability`` and ``proba_<class>`` per class;
language models give the ``generated`` continuation of each text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from catalog import Catalog, CommitResult, Listing
from harvest.errors import InvalidInputError, NotFoundError
from training.registry import ModelVersion, Registry
from training.spec import Task

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@dataclass(frozen=True)
class LoadedModel:
    """A registered version with its fitted pipeline and what it expects as input."""

    version: ModelVersion
    pipeline: Pipeline
    task: Task
    target: str
    features: tuple[str, ...]

    @property
    def ref(self) -> str:
        return self.version.ref


def load_model(catalog: Catalog, ref: str) -> LoadedModel:
    """The model version ``ref`` (``name``: its champion, else its latest; ``name@N``; ``name@champion``)."""
    registry = Registry(catalog)
    version = registry.get(ref)
    card = registry.card(version)
    features = tuple(c["name"] for c in card["features"]["columns"])
    return LoadedModel(
        version, registry.load(version), Task(version.task), version.target, features
    )


def _check_columns(model: LoadedModel, frame: pd.DataFrame, where: str) -> None:
    missing = [name for name in model.features if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{where} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"that {model.ref} uses as input."
        )


def predict_frame(
    model: LoadedModel, frame: pd.DataFrame, keep: list[str] | None = None
) -> pd.DataFrame:
    """Predictions for every row of ``frame``, after the ``keep`` columns (default: all)."""
    kept = frame.loc[:, keep if keep is not None else list(frame.columns)].reset_index(drop=True)
    X = frame.loc[:, list(model.features)].reset_index(drop=True)
    out = kept.copy()
    if model.task is Task.LANGUAGE_MODELLING:
        out["generated"] = model.pipeline.predict(X)
        return out
    predictions = model.pipeline.predict(X)
    out["prediction"] = predictions
    if model.task.is_classification and hasattr(model.pipeline, "predict_proba"):
        proba = model.pipeline.predict_proba(X)
        out["probability"] = proba.max(axis=1)
        for index, label in enumerate(model.pipeline.classes_):
            out[f"proba_{label}"] = proba[:, index]
    return out


def predictions_name(model: str) -> str:
    """The dataset that holds a model's batch predictions: ``predictions.<model>``."""
    return "predictions." + (re.sub(r"[^a-z0-9_]", "_", model.lower()).strip("_") or "model")


def predict_dataset(catalog: Catalog, ref: str, dataset: str) -> CommitResult:
    """Predict every row of ``dataset`` (``name[@N]``) and commit ``predictions.<model>``."""
    model = load_model(catalog, ref)
    version = catalog.version(dataset)
    frame = catalog.read(version).to_pandas()
    _check_columns(model, frame, version.ref)
    key = [k for k in catalog.dataset(version.dataset).key if k in frame.columns]
    keep = key or [c for c in frame.columns if c in model.features]
    out = predict_frame(model, frame, keep)
    out["_model"] = model.ref
    return catalog.commit(
        predictions_name(model.version.model),
        out,
        producer=f"train:{model.ref}",
        message=f"{model.ref} on {version.ref}",
        parents=(version.ref,),
        key=tuple(key) or None,
        listing=Listing(
            title=f"Predictions of {model.version.model}",
            description=f"{model.task.value.replace('_', ' ')} of {model.target!r} by {model.ref} on {version.ref}.",
            tags=("predictions", model.task.value),
            publisher="harvest",
        ),
    )


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, TSV, Parquet, JSON or JSON Lines file as a frame."""
    kind = READERS.get(path.suffix.lower())
    if not path.is_file():
        raise NotFoundError(f"Input file {path} does not exist.")
    if kind is None:
        raise InvalidInputError(
            f"Cannot read {path.name}: use a {', '.join(sorted(set(READERS)))} file."
        )
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "tsv":
            return pd.read_csv(path, sep="\t")
        if kind == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=kind == "jsonl")
    except (ValueError, OSError) as error:
        raise InvalidInputError(
            f"Could not read {path.name} as {kind}: {str(error).splitlines()[0]}."
        ) from error


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format of ``path``'s suffix (CSV when unknown)."""
    kind = READERS.get(path.suffix.lower(), "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if kind == "parquet":
        frame.to_parquet(temporary, index=False)
    elif kind in ("json", "jsonl"):
        frame.to_json(temporary, orient="records", lines=kind == "jsonl", force_ascii=False)
    else:
        frame.to_csv(temporary, index=False, sep="\t" if kind == "tsv" else ",")
    temporary.replace(path)
    return path


def predict_file(
    catalog: Catalog, ref: str, source: Path, destination: Path | None = None
) -> pd.DataFrame:
    """Predict every row of the file ``source``; write them to ``destination`` when given."""
    model = load_model(catalog, ref)
    frame = read_table(source)
    _check_columns(model, frame, source.name)
    out = predict_frame(model, frame)
    if destination is not None:
        write_table(out, destination)
    return out


def predict_record(catalog: Catalog, ref: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Predict one record; missing input fields are treated as missing values and listed."""
    if not isinstance(record, Mapping):
        raise InvalidInputError("A record must be a JSON object of column names to values.")
    model = load_model(catalog, ref)
    values = dict(record)
    if model.task is Task.LANGUAGE_MODELLING and model.target not in values:
        prompt = values.get("prompt", values.get("text"))
        if prompt is None:
            raise InvalidInputError(
                f'Give the text to continue as {{"{model.target}": "..."}} or {{"prompt": "..."}}.'
            )
        values[model.target] = prompt
    missing = [name for name in model.features if name not in values]
    if len(missing) == len(model.features):
        raise InvalidInputError(
            f"The record has none of the fields {model.ref} uses: {', '.join(model.features)}."
        )
    row = pd.DataFrame([{name: values.get(name) for name in model.features}])
    out = predict_frame(model, row, keep=[]).iloc[0].to_dict()
    result: dict[str, Any] = {"model": model.ref}
    result.update({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in out.items()})
    if missing:
        result["missing_fields"] = missing
    return result
