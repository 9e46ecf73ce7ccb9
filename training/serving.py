"""Serving one registered model to many requests: the model a scoring server or an API answers with.

:class:`ServedModel` holds a loaded version of one model (``name``: its champion, else its
latest; ``name@N``: that version, forever; ``name@champion`` / ``name@challenger``: the
alias). Before each request it checks cheaply whether the alias has moved: on a SQLite
catalog it looks at the catalog's files (a few microseconds) and queries the registry only
after a commit; on any other catalog it queries at most every ``check_every`` seconds. A
moved alias is loaded (through :func:`training.predict.load_model`, the safe loader) by the
request that noticed it, while the other requests go on with the model they already have; a
request takes its reference to the model when it starts and finishes on it. A new version
that cannot be loaded is logged and the old one is served.

:func:`frame_from_payload` and :func:`frame_from_csv` read the bodies of MLflow's scoring
protocol (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``, CSV) into a
frame; anything else is one sentence (:class:`core.errors.InvalidInputError`).
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from catalog import Catalog
from catalog.commits import Commits, watch_commits
from core.errors import HarvestError, InvalidInputError
from training.predict import LoadedModel, check_input, load_model, predict_frame
from training.registry import Registry, parse_model_ref
from training.task import Task

log = logging.getLogger(__name__)

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(frozen=True)
class Scored:
    """The predictions for one request and the model version that made them."""

    ref: str  # the version that answered, ``name@N``
    frame: pd.DataFrame  # :func:`training.predict.predict_frame`'s output, inputs dropped
    ignored: tuple[str, ...]  # input columns the model does not use

    @property
    def column(self) -> str:
        return "generated" if "generated" in self.frame.columns else "prediction"

    def predictions(self) -> list[Any]:
        """One JSON-able value per row: the label, the number, or the generated text."""
        return [_plain(value) for value in self.frame[self.column].tolist()]

    def records(self) -> list[dict[str, Any]]:
        """One JSON-able object per row: the prediction and, for classifiers, the probabilities."""
        return [
            {str(k): _plain(v) for k, v in row.items()}
            for row in self.frame.to_dict(orient="records")
        ]


def _plain(value: object) -> Any:
    """A JSON-able Python value: numpy scalars unwrapped, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ServedModel:
    """One model of a workspace's registry, kept loaded and following its alias.

    ``ServedModel(catalog, "iris")`` follows the champion (the latest version while there is
    none); ``"iris@3"`` stays on version 3; ``"iris@challenger"`` follows that alias. The
    catalog belongs to the caller and must stay open while the model is served.
    """

    def __init__(self, catalog: Catalog, ref: str, *, check_every: float = 0.5) -> None:
        self.catalog = catalog
        self.name, which = parse_model_ref(ref)
        self.pinned = which is not None and which.isdigit()
        self.check_every = check_every
        self._ref = ref.strip()
        self._registry = Registry(catalog)
        self._commits: Commits | None = watch_commits(catalog.workspace, catalog.cursor)
        self._mark = self._commits.mark() if self._commits is not None else None
        self._checked_at = time.monotonic()
        self._refreshing = threading.Lock()
        self._model = load_model(catalog, self._ref)

    @property
    def model(self) -> LoadedModel:
        """The version loaded now (without checking the registry)."""
        return self._model

    @property
    def ref(self) -> str:
        """The version served now, ``name@N``."""
        return self._model.ref

    def current(self) -> LoadedModel:
        """The version to answer a request with, after loading a moved alias if it moved."""
        if not self.pinned and self._due() and self._refreshing.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self._refreshing.release()
        return self._model

    def _due(self) -> bool:
        """Whether the registry may have changed since the last look (cheap)."""
        if self._commits is not None:
            try:
                return self._commits.mark() != self._mark
            except (OSError, duckdb.Error):  # the file could not be read just now: ask the registry
                return True
        return time.monotonic() - self._checked_at >= self.check_every

    def _refresh(self) -> None:
        self._checked_at = time.monotonic()
        try:
            mark = self._commits.mark() if self._commits is not None else None
            version = self._registry.get(self._ref)
            if version.version != self._model.version.version:
                was, self._model = self._model.ref, load_model(self.catalog, version.ref)
                log.info("Now serving %s (was %s).", version.ref, was)
        except (HarvestError, duckdb.Error, OSError) as error:
            log.warning("Still serving %s: %s", self._model.ref, error)
            return  # tried again after the next commit (or check_every)
        self._mark = mark

    def predict(self, data: pd.DataFrame | Sequence[Mapping[str, Any]]) -> Scored:
        """Predict every row of ``data`` (a frame or a list of records) on the current version.

        Bad input is one sentence (:class:`core.errors.InvalidInputError`).
        """
        model = self.current()  # this request's model, whatever is promoted meanwhile
        frame = data if isinstance(data, pd.DataFrame) else frame_from_records(data)
        return predict_rows(model, frame)


def predict_rows(model: LoadedModel, frame: pd.DataFrame) -> Scored:
    """Check ``frame`` against ``model``'s input schema and predict every row."""
    if frame.empty:
        raise InvalidInputError("The input has no rows; give at least one record to predict.")
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise InvalidInputError(f"The input names the column {duplicated[0]!r} more than once.")
    frame = frame.rename(columns=str)
    if model.task is Task.LANGUAGE_MODELLING and model.target not in frame.columns:
        frame = frame.rename(columns={"prompt": model.target, "text": model.target})
    ignored = check_input(model, frame, "The input")
    try:
        out = predict_frame(model, frame, keep=[])
    except (
        ValueError,
        TypeError,
    ) as error:  # values the checked kinds let through, e.g. a huge text
        raise InvalidInputError(
            f"{model.ref} could not predict this input: {str(error).splitlines()[0]}"
        ) from error
    return Scored(model.ref, out, tuple(ignored))


def frame_from_records(records: object) -> pd.DataFrame:
    """A list of JSON objects (column name to value) as a frame."""
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise InvalidInputError("Give the records as a list of JSON objects of column to value.")
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def _frame_from_split(split: object) -> pd.DataFrame:
    """``{"columns": [...], "data": [[...], ...], "index": [...]}`` as a frame."""
    if not isinstance(split, Mapping) or not isinstance(split.get("data"), list):
        raise InvalidInputError(
            'dataframe_split takes {"columns": [...], "data": [[...], ...]}, with an optional "index".'
        )
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise InvalidInputError(
            f"dataframe_split has the unknown field {unknown[0]!r}; it takes columns, data and index."
        )
    columns, rows = split.get("columns"), split["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInputError("dataframe_split's columns must be a list of column names.")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidInputError(
                f"Row {number} of dataframe_split's data is not a list of {len(columns)} values, "
                "one per column."
            )
    return pd.DataFrame(rows, columns=columns)


def _frame_from_tensors(value: object, key: str, features: Sequence[str]) -> pd.DataFrame:
    """``instances`` or ``inputs`` (TF Serving's forms): records, rows of values, or columns."""
    if isinstance(value, Mapping):
        if key == "instances":
            raise InvalidInputError("instances takes a list of records or of rows of values.")
        columns = {str(k): v if isinstance(v, list) else [v] for k, v in value.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInputError("The columns given in inputs have different numbers of values.")
        return pd.DataFrame(columns)
    if not isinstance(value, list):
        raise InvalidInputError(f"{key} takes a list of records or of rows of values.")
    if all(isinstance(v, Mapping) for v in value):
        return frame_from_records(value)
    if len(features) == 1 and not any(isinstance(v, list | Mapping) for v in value):
        return pd.DataFrame({features[0]: value})  # one feature: a plain list of its values
    for number, row in enumerate(value, start=1):
        if not isinstance(row, list) or len(row) != len(features):
            raise InvalidInputError(
                f"Row {number} of {key} is not a record or a list of {len(features)} values in the "
                f"model's column order ({', '.join(features)})."
            )
    return pd.DataFrame(value, columns=list(features))


def frame_from_payload(payload: object, features: Sequence[str]) -> pd.DataFrame:
    """The frame in an MLflow ``/invocations`` JSON body: exactly one of :data:`FORMATS`.

    Rows given as bare lists of values (``instances``, ``inputs``) are in the order of
    ``features``, the model's input columns. ``params`` may be given only empty: Harvest's
    models take no inference parameters.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            f"The body must be a JSON object with one of the fields {', '.join(FORMATS)}."
        )
    unknown = sorted(set(payload) - {*FORMATS, "params"})
    given = [key for key in FORMATS if key in payload]
    if unknown:
        raise InvalidInputError(
            f"The body has the unknown field {unknown[0]!r}; give one of {', '.join(FORMATS)}."
        )
    if len(given) != 1:
        raise InvalidInputError(
            f"The body must have exactly one of the fields {', '.join(FORMATS)}; it has "
            f"{', '.join(given) or 'none'}."
        )
    if payload.get("params"):
        raise InvalidInputError("Harvest's models take no params; leave the field out.")
    key = given[0]
    if key == "dataframe_split":
        return _frame_from_split(payload[key])
    if key == "dataframe_records":
        return frame_from_records(payload[key])
    return _frame_from_tensors(payload[key], key, features)


def frame_from_csv(text: str) -> pd.DataFrame:
    """A CSV body (a header line, then rows) as a frame."""
    try:
        return pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as error:  # EmptyDataError is a ValueError
        raise InvalidInputError(
            f"The body is not CSV with a header line: {str(error).splitlines()[0]}."
        ) from error
