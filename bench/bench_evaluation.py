"""Evaluation on small real data (issue 22): Harvest's default search beside a plain random forest.

For each dataset bundled with scikit-learn or shipped inside ``statsmodels.datasets``:

1. the dataset is committed to a fresh catalog without a key (as an import would) and
   ``train`` runs the default spec (every family, ``BUDGET`` seconds, seed 0): its score and
   95% interval come from Harvest's own protocol (repeated CV below 10,000 rows);
2. the chosen model (the registered pipeline, unfitted again with ``sklearn.base.clone``) and a
   plain ``RandomForestClassifier``/``Regressor`` with default parameters are scored by the same
   10 folds (stratified for classes), on the same rows. The chosen model was picked by a
   search on those rows, so its 10-fold figure is a little optimistic (non-nested);
3. a second search with seed 1 checks that the first run's interval covers its figure.

Classification is compared on accuracy (ROC AUC beside it for two classes), regression on R².
Nothing is tuned per dataset: every dataset gets the same spec.
Set ``HARVEST_BENCH_BUDGET`` (seconds) to run a shorter search.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.common import Figure

if TYPE_CHECKING:
    from training.data import Prepared
    from training.protocol import FoldScores
    from training.task import Task
    from training.train import TrainResult

BUDGET = float(os.environ.get("HARVEST_BENCH_BUDGET", "60"))
FOLDS = 10

# The scikit-learn examples' figures (issue 22's third goal), on the compared metric.
EXAMPLES = {"iris": 0.93, "wine": 0.94, "breast_cancer": 0.94, "digits": 0.95, "diabetes": 0.40}


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    classification: bool
    load: Callable[[], pd.DataFrame]


def _sklearn(loader_name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
        frame: pd.DataFrame = bunch.frame.rename(columns=str)
        return frame

    return load


def _statsmodels(
    name: str, shape: Callable[[pd.DataFrame], pd.DataFrame]
) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import statsmodels.api as sm

        return shape(getattr(sm.datasets, name).load_pandas().data.reset_index(drop=True))

    return load


def _fair(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(had_affair=(frame["affairs"] > 0).map({True: "yes", False: "no"})).drop(
        columns="affairs"
    )


def _star98(frame: pd.DataFrame) -> pd.DataFrame:
    share = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
    return frame.drop(columns=["NABOVE", "NBELOW"]).assign(share_above=share)


def _labelled(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def shape(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{column: frame[column].astype(int).astype(str)})

    return shape


CASES = (
    Case("iris", "target", True, _sklearn("load_iris")),
    Case("wine", "target", True, _sklearn("load_wine")),
    Case("breast_cancer", "target", True, _sklearn("load_breast_cancer")),
    Case("digits", "target", True, _sklearn("load_digits")),
    Case("diabetes", "target", False, _sklearn("load_diabetes")),
    Case("spector", "GRADE", True, _statsmodels("spector", _labelled("GRADE"))),
    Case("anes96", "vote", True, _statsmodels("anes96", _labelled("vote"))),
    Case("fair", "had_affair", True, _statsmodels("fair", _fair)),
    Case("star98", "share_above", False, _statsmodels("star98", _star98)),
    Case("grunfeld", "invest", False, _statsmodels("grunfeld", lambda f: f)),
)


def _classes_as_text(frame: pd.DataFrame, case: Case) -> pd.DataFrame:
    if case.classification and not pd.api.types.is_string_dtype(frame[case.target]):
        return frame.assign(**{case.target: "class " + frame[case.target].astype(str)})
    return frame


def _folds(y: np.ndarray, classification: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = np.zeros(len(y))
    if classification:
        return list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(rows, y))
    return list(KFold(FOLDS, shuffle=True, random_state=0).split(rows))


def _scores(build: Callable[[], Any], X: pd.DataFrame, y: np.ndarray, task: Task) -> FoldScores:
    """Every metric of ``build()`` on each of the same 10 folds (Harvest's own scoring)."""
    from training.protocol import cross_validate

    return cross_validate(task, build, X, y, _folds(y, task.is_classification))


def _forest(case: Case) -> Callable[[], object]:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    def build() -> object:
        forest = (RandomForestClassifier if case.classification else RandomForestRegressor)(
            random_state=0
        )
        encode = make_column_transformer(
            (
                OrdinalEncoder(),
                lambda X: [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])],
            ),
            remainder="passthrough",
        )
        return make_pipeline(encode, forest)

    return build


def _search(case: Case, home: Path, seed: int) -> tuple[TrainResult, Prepared]:
    """The default search on the case's dataset: (TrainResult, the prepared data)."""
    from catalog import Catalog
    from training.data import prepare
    from training.spec import TrainingSpec
    from training.train import train

    with Catalog.open(home) as catalog:
        spec = TrainingSpec(
            dataset=f"imports.{case.name}",
            target=case.target,
            name=f"{case.name}_s{seed}",
            time_budget=BUDGET,
            seed=seed,
        )
        return train(spec, catalog), prepare(spec, catalog)


def _compare(case: Case, home: Path) -> list[Figure]:
    from sklearn.base import clone

    from catalog import Catalog
    from training.predict import load_model
    from training.protocol import all_rows

    frame = _classes_as_text(case.load(), case)
    with Catalog.open(home) as catalog:  # keyless, as an import of a file would be
        catalog.commit(f"imports.{case.name}", frame, producer="bench")
    result, prepared = _search(case, home, seed=0)
    X, y = all_rows(prepared.splits)
    with Catalog.open(home) as catalog:
        chosen = load_model(catalog, result.version.ref).pipeline
    task, metric = result.task, result.metric
    plain = "accuracy" if case.classification else "r2"
    from training.intervals import paired_folds

    harvest_folds = _scores(lambda: clone(chosen), X, y, task)
    forest_folds = _scores(_forest(case), X, y, task)
    harvest, forest = harvest_folds.means(), forest_folds.means()
    # the same folds: the difference's 95% interval (corrected paired t), oriented as the metric
    paired = paired_folds(harvest_folds.of(metric), forest_folds.of(metric), 1 / FOLDS)
    second, _ = _search(case, home, seed=1)

    low, high = result.intervals.get(metric, (float("nan"), float("nan")))
    again = second.test[metric]
    covered = low <= again <= high
    figures = [
        Figure(
            f"{case.name} ({len(frame)} rows): 10-fold {metric}, search − plain forest",
            harvest[metric] - forest[metric],
            unit=metric,
            goal=0.0,
            op=">=",
            detail=f"search {harvest[metric]:.3f} ({result.version.family}), "
            f"forest {forest[metric]:.3f}, difference's 95% interval "
            f"[{paired.low:+.3f}, {paired.high:+.3f}]; "
            f"{plain} {harvest[plain]:.3f} vs {forest[plain]:.3f}",
        ),
        Figure(
            f"{case.name}: seed 1's {metric} inside seed 0's 95% interval",
            float(covered),
            unit="yes",
            goal=1.0,
            op=">=",
            detail=f"seed 0 {result.test[metric]:.3f} [{low:.3f}, {high:.3f}] "
            f"by {result.protocol}; seed 1 {again:.3f}",
        ),
    ]
    if case.name in EXAMPLES:
        figures.append(
            Figure(
                f"{case.name}: {plain} by Harvest's protocol (scikit-learn example's figure)",
                result.test[plain],
                unit=plain,
                goal=EXAMPLES[case.name],
                op=">=",
            )
        )
    return figures


def run() -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in CASES:
            figures += _compare(case, Path(scratch) / "home")
    return figures
