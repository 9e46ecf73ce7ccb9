"""What kind of problem a target poses, and whether the data can train a model at all.

:func:`check_target` refuses, with one sentence each, the inputs no model should be
trained on: an unknown target column, missing or non-finite target values, a single
class, too few rows. :func:`infer_task` picks the task from the target and the feature
kinds when the spec does not name one, and :func:`default_metric` the metric;
:func:`suggested_target` is the column a form should offer first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from catalog.records import ColumnStats
from core.errors import InvalidInputError, NotFoundError
from training.features import TEXT_MIN_MEAN_LENGTH, FeatureProfile, Kind
from training.task import Task

MIN_ROWS = 20  # fewer rows than this cannot be split into train, validation and test
MIN_TEXT_CHARACTERS = 500  # a language model needs at least this much text
MAX_CLASSES = 200
INTEGER_CLASSES = 20  # an integer target with at most this many values is a class label


def check_target(frame: pd.DataFrame, target: str, dataset: str) -> None:
    """Raise a clear error when ``target`` cannot be learned from ``frame``."""
    if target not in frame.columns:
        raise NotFoundError(
            f"Target column {target!r} is not in {dataset}; its columns are "
            f"{', '.join(map(str, frame.columns))}."
        )
    if len(frame) < MIN_ROWS:
        raise InvalidInputError(
            f"{dataset} has only {len(frame)} rows; training needs at least {MIN_ROWS}."
        )
    missing = int((~target_known(frame[target])).sum())
    if missing:
        raise InvalidInputError(
            f"Target column {target!r} has {missing} missing or non-finite (NaN/inf) "
            f"value{'s' if missing != 1 else ''}; clean the dataset, or set "
            "missing_target: drop in the spec to train on the labelled rows only."
        )


def target_known(values: pd.Series) -> pd.Series:
    """Which target values are present and finite."""
    known = values.notna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        known &= ~np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
    return known


def _looks_like_free_text(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    text = values.astype(str)
    return bool(text.str.len().mean() >= TEXT_MIN_MEAN_LENGTH and text.nunique() > 0.5 * len(text))


def infer_task(values: pd.Series, profile: FeatureProfile | None) -> Task:
    """The task a target column poses, given the feature kinds."""
    if _looks_like_free_text(values):
        return Task.LANGUAGE_MODELLING
    if pd.api.types.is_float_dtype(values):
        finite = values.to_numpy(dtype="float64")
        integral = bool(np.all(np.mod(finite, 1) == 0))
        if not (integral and values.nunique() <= INTEGER_CLASSES):
            return Task.REGRESSION
    elif pd.api.types.is_integer_dtype(values) and values.nunique() > INTEGER_CLASSES:
        return Task.REGRESSION
    kinds = profile.kinds() if profile else set()
    if Kind.IMAGE in kinds:
        return Task.IMAGE_CLASSIFICATION
    if Kind.TEXT in kinds:
        return Task.TEXT_CLASSIFICATION
    return Task.CLASSIFICATION


def check_task(values: pd.Series, task: Task, target: str, min_class_rows: int) -> None:
    """Raise a clear error when the target does not suit ``task``."""
    if task.is_classification:
        counts = values.astype(str).value_counts()
        if len(counts) < 2:
            only = counts.index[0] if len(counts) else ""
            raise InvalidInputError(
                f"Target column {target!r} has only one class ({only!r}); a classifier needs "
                "at least two, so collect more varied data or choose another target."
            )
        if len(counts) > MAX_CLASSES:
            raise InvalidInputError(
                f"Target column {target!r} has {len(counts)} classes, more than {MAX_CLASSES}; "
                "choose a coarser target or set task: regression if it is a number."
            )
        if counts.iloc[-1] < min_class_rows:
            raise InvalidInputError(
                f"Class {counts.index[-1]!r} of target {target!r} has only {counts.iloc[-1]} "
                f"row(s); every class needs at least {min_class_rows}, so merge or drop rare classes."
            )
    elif task is Task.REGRESSION:
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise InvalidInputError(
                f"Target column {target!r} is not numeric, so it cannot be a regression target; "
                "use task: classification or clean the column to numbers."
            )
        if values.nunique() < 2:
            raise InvalidInputError(
                f"Target column {target!r} has a single value; there is nothing to predict."
            )
    elif task is Task.LANGUAGE_MODELLING:
        characters = int(values.astype(str).str.len().sum())
        if characters < MIN_TEXT_CHARACTERS:
            raise InvalidInputError(
                f"Text column {target!r} holds only {characters} characters; a language model "
                f"needs at least {MIN_TEXT_CHARACTERS}."
            )


def default_metric(task: Task) -> str:
    """The metric a task is judged by unless the spec says otherwise."""
    if task is Task.REGRESSION:
        return "r2"
    if task is Task.LANGUAGE_MODELLING:
        return "perplexity"
    if task is Task.REINFORCEMENT_LEARNING:
        return "mean_return"
    return "accuracy"


def feature_frame(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The feature columns, in order, as a fresh frame."""
    return frame.loc[:, list(names)].reset_index(drop=True)


def suggested_target(stats: Sequence[ColumnStats], rows: int) -> str | None:
    """The column a person would most likely train on, judged from a version's statistics:
    the last one that has no missing values, at least two values, and is neither an
    identifier (a distinct value per row) nor free text with more classes than a classifier
    takes. None when no column qualifies."""
    candidates = [
        column.name
        for column in stats
        if not column.name.startswith("_")
        and column.nulls == 0
        and column.distinct >= 2
        and (column.distinct < rows or _is_float(column.type))
        and (column.distinct <= MAX_CLASSES or _is_number(column.type))
    ]
    return candidates[-1] if candidates else None


def _is_number(sql_type: str) -> bool:
    return sql_type.upper().split("(")[0] in _NUMBER_TYPES


def _is_float(sql_type: str) -> bool:
    return sql_type.upper().split("(")[0] in {"FLOAT", "DOUBLE", "REAL", "DECIMAL"}


_NUMBER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
     "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL"}
)  # fmt: skip
