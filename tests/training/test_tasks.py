"""Target checks and task inference: every refusal is one sentence naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catalog.records import ColumnStats
from core.errors import InvalidInputError, NotFoundError
from training.features import Column, FeatureProfile, Kind
from training.task import Task
from training.tasks import (
    check_target,
    check_task,
    default_metric,
    infer_task,
    suggested_target,
)


def frame(target: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"x": range(len(target)), "y": target})


def test_unknown_target_lists_the_columns() -> None:
    with pytest.raises(NotFoundError, match=r"'price' is not in raw.shop; its columns are x, y"):
        check_target(frame([1.0] * 30), "price", "raw.shop")


def test_too_few_rows() -> None:
    with pytest.raises(InvalidInputError, match="only 5 rows; training needs at least 20"):
        check_target(frame([1.0, 2.0, 3.0, 4.0, 5.0]), "y", "raw.shop")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_missing_or_infinite_target(bad: object) -> None:
    values = [float(i) for i in range(30)]
    values[3] = bad  # type: ignore[call-overload]
    with pytest.raises(InvalidInputError, match=r"1 missing or non-finite \(NaN/inf\) value;"):
        check_target(frame(values), "y", "raw.shop")


def test_single_class_target() -> None:
    with pytest.raises(InvalidInputError, match="only one class \\('a'\\)"):
        check_task(pd.Series(["a"] * 30), Task.CLASSIFICATION, "y", 2)


def test_rare_class_and_text_regression_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="Class 'c' of target 'y' has only 1 row"):
        check_task(pd.Series(["a"] * 20 + ["b"] * 20 + ["c"]), Task.CLASSIFICATION, "y", 2)
    with pytest.raises(InvalidInputError, match="is not numeric"):
        check_task(pd.Series(["a", "b"] * 20), Task.REGRESSION, "y", 2)
    with pytest.raises(InvalidInputError, match="holds only 20 characters"):
        check_task(pd.Series(["ab"] * 10), Task.LANGUAGE_MODELLING, "y", 2)


def profile(*kinds: Kind) -> FeatureProfile:
    return FeatureProfile(tuple(Column(f"c{i}", kind) for i, kind in enumerate(kinds)))


def test_infer_task() -> None:
    assert infer_task(pd.Series(np.linspace(0, 1, 50)), profile(Kind.NUMBER)) is Task.REGRESSION
    assert infer_task(pd.Series(range(50)), profile(Kind.NUMBER)) is Task.REGRESSION
    assert infer_task(pd.Series([0, 1] * 25), profile(Kind.NUMBER)) is Task.CLASSIFICATION
    assert infer_task(pd.Series([1.0, 2.0] * 25), profile(Kind.NUMBER)) is Task.CLASSIFICATION
    assert infer_task(pd.Series(["a", "b"] * 25), profile(Kind.CATEGORY)) is Task.CLASSIFICATION
    assert infer_task(pd.Series(["a", "b"] * 25), profile(Kind.TEXT)) is Task.TEXT_CLASSIFICATION
    assert infer_task(pd.Series(["a", "b"] * 25), profile(Kind.IMAGE)) is Task.IMAGE_CLASSIFICATION
    essays = pd.Series(
        [f"essay number {i} says something long enough to be text" for i in range(50)]
    )
    assert infer_task(essays, None) is Task.LANGUAGE_MODELLING


def test_default_metrics() -> None:
    assert default_metric(Task.REGRESSION) == "r2"
    assert default_metric(Task.TEXT_CLASSIFICATION) == "accuracy"
    assert default_metric(Task.LANGUAGE_MODELLING) == "perplexity"


def test_the_suggested_target_is_one_a_model_can_be_trained_on() -> None:
    def stats(name: str, sql_type: str, nulls: int, distinct: int) -> ColumnStats:
        return ColumnStats(name=name, type=sql_type, nulls=nulls, distinct=distinct)

    articles = [  # the demo's articles: the last columns cannot be targets
        stats("title", "VARCHAR", 0, 300),
        stats("section", "VARCHAR", 0, 6),
        stats("words", "BIGINT", 0, 280),
        stats("rating", "DOUBLE", 4, 40),  # missing values
        stats("id", "BIGINT", 0, 300),  # an identifier
        stats("language", "VARCHAR", 0, 1),  # one class
        stats("_url", "VARCHAR", 0, 300),  # provenance
    ]
    assert suggested_target(articles, rows=300) == "words"
    assert suggested_target(articles[:2], rows=300) == "section"
    assert suggested_target([stats("price", "DOUBLE", 0, 300)], rows=300) == "price"
    assert suggested_target(articles[3:], rows=300) is None
