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

Input is checked against the model's input schema (the feature columns and kinds on its
card) before the model sees it (:func:`check_input`): a missing column, a value of the
wrong type (text for a number, a list or an object for any feature), or an infinite number
is one sentence naming the column. Missing values (null, an empty cell) are allowed and
imputed. Columns the model does not use are ignored and reported: ``ignored_fields`` in a
record's result, ``frame.attrs["ignored_columns"]`` on a file's predictions.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.pipeline import Pipeline

from catalog import Catalog, CommitResult, Listing
from catalog.drift import DEFAULT_THRESHOLD, batch_drift, table_drift
from core.errors import HarvestError, InvalidInputError, NotFoundError
from training.features import Column, Kind
from training.registry import ModelVersion, Registry
from training.task import Task

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
    columns: tuple[Column, ...]  # the input schema: feature columns and their kinds

    @property
    def ref(self) -> str:
        return self.version.ref

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _input_schema(card: Mapping[str, Any], ref: str) -> tuple[Column, ...]:
    try:
        return tuple(Column(str(c["name"]), Kind(c["kind"])) for c in card["features"]["columns"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(
            f"Model {ref}'s card does not list its input columns and their kinds; the version folder is damaged."
        ) from error


def load_model(catalog: Catalog, ref: str) -> LoadedModel:
    """The model version ``ref`` (``name``: its champion, else its latest; ``name@N``; ``name@champion``)."""
    registry = Registry(catalog)
    version = registry.get(ref)
    columns = _input_schema(registry.card(version), version.ref)
    return LoadedModel(version, registry.load(version), Task(version.task), version.target, columns)


EXPECTS = {
    Kind.NUMBER: "a number",
    Kind.BOOLEAN: "true or false",
    Kind.CATEGORY: "a single value",
    Kind.TEXT: "text",
    Kind.DATE: "a date",
    Kind.IMAGE: "an image path",
}
NESTED = (Mapping, list, tuple, set, frozenset, np.ndarray, bytes, bytearray)


def _missing(value: object) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float | np.floating) and math.isnan(value))
    )


def _finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer too large for a float
        return False


def _refused(kind: Kind, value: object) -> bool:
    """Whether ``value`` (not missing) cannot be a value of a ``kind`` feature."""
    if isinstance(value, NESTED):
        return True
    numeric = isinstance(value, numbers.Real | Decimal | np.bool_)
    if numeric and not _finite(value):
        return True
    if kind in (Kind.NUMBER, Kind.BOOLEAN):
        return not numeric
    return not (numeric or isinstance(value, str | np.generic | date | time))


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, NESTED):
        return "a list"
    if isinstance(value, int | float | np.number) and not _finite(value):
        return f"the non-finite number {value}"
    return f"{type(value).__name__} {str(value)[:40]!r}"


def _first_refused(series: pd.Series, kind: Kind) -> tuple[int, object] | None:
    """The row and value of the first entry of ``series`` a ``kind`` feature cannot take."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return None
    if pd.api.types.is_float_dtype(series):
        infinite = np.flatnonzero(np.isinf(series.to_numpy(dtype="float64", na_value=np.nan)))
        return (int(infinite[0]), series.iloc[infinite[0]]) if len(infinite) else None
    if pd.api.types.is_datetime64_any_dtype(series):
        present = np.flatnonzero(series.notna().to_numpy())
        refused = kind in (Kind.NUMBER, Kind.BOOLEAN) and len(present)
        return (int(present[0]), series.iloc[present[0]]) if refused else None
    first = None
    for row, value in enumerate(series.to_numpy(dtype=object)):
        if not _missing(value) and _refused(kind, value):
            if not _number_text(value):
                return row, value
            first = first or (row, value)  # "0.2" as text: name a value that is not a number first
    return first


def _number_text(value: object) -> bool:
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


def check_input(model: LoadedModel, frame: pd.DataFrame, where: str) -> list[str]:
    """Check ``frame`` against the model's input schema; returns the columns it ignores.

    A missing column or a value a column's kind cannot take is one sentence naming it.
    """
    missing = [name for name in model.features if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{where} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"that {model.ref} uses as input."
        )
    for column in model.columns:
        found = _first_refused(frame[column.name], column.kind)
        if found is not None:
            row, value = found
            raise InvalidInputError(
                f"{where}: column {column.name!r} takes {EXPECTS[column.kind]}, but row "
                f"{row + 1} holds {_describe(value)}."
            )
    return [str(name) for name in frame.columns if name not in model.features]


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
    check_input(model, frame, version.ref)
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


DRIFT_MIN_ROWS = 30  # a smaller batch's histogram is mostly chance: PSI of 2 rows runs to 9


def drift_warning(
    catalog: Catalog, model: LoadedModel, batch: str | pd.DataFrame, label: str
) -> str | None:
    """One sentence when the batch (a dataset version ``name@N``, or a frame) drifts from the
    data ``model`` was trained on beyond its spec's drift threshold (``catalog/drift.py``),
    over the model's features; None when it does not, or when the training data version is
    no longer there, the frame cannot be read as a table, or the batch is too small to tell
    drift from chance (under ``DRIFT_MIN_ROWS`` rows)."""
    rows = len(batch) if isinstance(batch, pd.DataFrame) else catalog.version(batch).rows
    if rows < DRIFT_MIN_ROWS:
        return None
    card = Registry(catalog).card(model.version)
    trained_on = card.get("data", {}).get("ref")
    threshold = float(card.get("spec", {}).get("drift", {}).get("threshold", DEFAULT_THRESHOLD))
    try:
        if isinstance(batch, str):
            version = catalog.version(batch)
            report = batch_drift(
                catalog,
                str(trained_on),
                catalog.source_sql(version),
                version.columns,
                features=model.features,
                label=label,
            )
        else:
            table = pa.Table.from_pandas(batch, preserve_index=False)
            report = table_drift(
                catalog, str(trained_on), table, features=model.features, label=label
            )
    except (HarvestError, pa.ArrowException):
        return None
    return report.summary(threshold) if report.over(threshold) else None


def predict_file(
    catalog: Catalog, ref: str, source: Path, destination: Path | None = None
) -> pd.DataFrame:
    """Predict every row of the file ``source``; write them to ``destination`` when given.

    The columns the model does not use are listed in ``attrs["ignored_columns"]`` of the
    result, and ``attrs["drift_warning"]`` says whether the file drifts from the training data.
    """
    model = load_model(catalog, ref)
    frame = read_table(source)
    ignored = check_input(model, frame, source.name)
    out = predict_frame(model, frame)
    if destination is not None:
        write_table(out, destination)
    out.attrs["ignored_columns"] = ignored
    out.attrs["drift_warning"] = drift_warning(catalog, model, frame, source.name)
    return out


def _check_record(model: LoadedModel, values: Mapping[str, Any]) -> None:
    """One sentence for the first field whose value its column's kind cannot take."""
    for column in model.columns:
        value = values.get(column.name)
        explicit_nan = isinstance(value, float) and math.isnan(value)
        if explicit_nan or (not _missing(value) and _refused(column.kind, value)):
            raise InvalidInputError(
                f"Field {column.name!r} takes {EXPECTS[column.kind]}, but the record gives "
                f"{_describe(value)}{'; give null for a missing value' if explicit_nan else ''}."
            )


def predict_record(catalog: Catalog, ref: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Predict one record; missing input fields are treated as missing values and listed.

    Fields the model does not use are ignored and listed as ``ignored_fields``. A policy
    (reinforcement learning) takes ``{"observation": [...]}`` and returns its action.
    """
    version = Registry(catalog).get(ref)
    if version.task == Task.REINFORCEMENT_LEARNING.value:
        from training.reinforcement import predict_observation

        return {"model": version.ref, **predict_observation(version.path, record)}
    return predict_loaded(load_model(catalog, ref), record)


def predict_loaded(model: LoadedModel, record: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`predict_record` with the model already loaded (a server predicting many)."""
    if not isinstance(record, Mapping):
        raise InvalidInputError("A record must be a JSON object of column names to values.")
    values = {str(k): v for k, v in record.items()}
    prompt_field = None
    if model.task is Task.LANGUAGE_MODELLING and model.target not in values:
        prompt_field = "prompt" if "prompt" in values else "text"
        prompt = values.get(prompt_field)
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
    _check_record(model, values)
    ignored = [k for k in record if k not in model.features and k != prompt_field]
    row = pd.DataFrame([{name: values.get(name) for name in model.features}])
    out = predict_frame(model, row, keep=[]).iloc[0].to_dict()
    result: dict[str, Any] = {"model": model.ref}
    result.update({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in out.items()})
    if missing:
        result["missing_fields"] = missing
    if ignored:
        result["ignored_fields"] = ignored
    return result
