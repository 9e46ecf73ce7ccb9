"""Every family trains and predicts on small data; the PyTorch wrappers follow scikit-learn's conventions."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    parametrize_with_checks,
)

from core.errors import InvalidInputError
from tests.training.conftest import articles, bundled, digit_images
from training.families import FAMILIES, FamilyContext, families_for, family, family_table
from training.families.nets.language import GPTLanguageModel, UnigramLanguageModel
from training.families.nets.tabular import CNNClassifier, MLPClassifier, MLPRegressor
from training.families.nets.text import GRUClassifier, TransformerClassifier
from training.families.nets.torch_base import load_torch, torch_config
from training.features import profile_columns
from training.metrics import model_scores
from training.search import fit_pipeline
from training.task import Task

FAST = {"max_epochs": 15, "patience": 4}
SMALL: dict[type, dict[str, float]] = {
    GRUClassifier: {"embed_dim": 32, "hidden_size": 32},
    TransformerClassifier: {"d_model": 32, "n_layers": 1, "lr": 3e-3},
}


@parametrize_with_checks(
    [
        MLPClassifier(max_epochs=20, patience=5, random_state=0),
        MLPRegressor(max_epochs=20, patience=5, random_state=0),
        CNNClassifier(max_epochs=10, random_state=0),
    ],
)
def test_torch_matrix_estimators_pass_sklearn_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


@pytest.mark.parametrize(
    "estimator",
    [GRUClassifier(), TransformerClassifier(), GPTLanguageModel(), UnigramLanguageModel()],
    ids=lambda e: type(e).__name__,
)
def test_text_estimators_pass_the_checks_that_apply_to_strings(estimator: object) -> None:
    name = type(estimator).__name__
    check_parameters_default_constructible(name, estimator)
    check_no_attributes_set_in_init(name, estimator)
    check_get_params_invariance(name, estimator)
    check_set_params(name, estimator)
    assert clone(estimator).get_params() == estimator.get_params()  # type: ignore[attr-defined]


def small_table(task: Task) -> tuple[pd.DataFrame, np.ndarray]:
    frame = bundled("iris" if task is Task.CLASSIFICATION else "diabetes").sample(
        120, random_state=0
    )
    return frame.drop(columns=["target", "row_id"]), frame["target"].to_numpy()


@pytest.mark.parametrize("task", [Task.CLASSIFICATION, Task.REGRESSION])
@pytest.mark.parametrize(
    "name", ["dummy", "linear", "svm", "hist_gradient_boosting", "forest", "tree", "mlp"]
)
def test_table_families_fit_and_predict(name: str, task: Task) -> None:
    X, y = small_table(task)
    context = FamilyContext(task, profile_columns(X.assign(t=y), "t"), seed=0)
    params = FAST if name == "mlp" else {}
    pipeline = fit_pipeline(family(name).build(context, params), X, y)
    predictions = pipeline.predict(X)
    assert len(predictions) == len(X)
    scores = model_scores(task, pipeline, X, y)
    if name != "dummy":
        assert scores["accuracy" if task is Task.CLASSIFICATION else "r2"] > 0.3


def test_pytorch_fits_are_reproducible_and_leave_global_rng_alone() -> None:
    import torch

    X, y = small_table(Task.CLASSIFICATION)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = MLPClassifier(random_state=7, **FAST).fit(X.to_numpy(), y)
    after = torch.rand(1)
    second = MLPClassifier(random_state=7, **FAST).fit(X.to_numpy(), y)
    assert torch.equal(before, after)
    assert np.array_equal(first.predict_proba(X.to_numpy()), second.predict_proba(X.to_numpy()))
    assert first.history_ == second.history_ and first.n_epochs_ <= 15


def test_early_stopping_keeps_the_best_epoch() -> None:
    X, y = small_table(Task.REGRESSION)
    model = MLPRegressor(max_epochs=300, patience=3, lr=0.05, random_state=0).fit(X.to_numpy(), y)
    losses = [row[2] for row in model.history_]
    assert model.n_epochs_ < 300
    assert model.best_epoch_ == int(np.argmin(losses)) + 1
    assert model.n_epochs_ - model.best_epoch_ == 3


def test_cnn_on_digit_images(tmp_path: Path) -> None:
    frame = digit_images(tmp_path, limit=400)
    profile = profile_columns(frame, "digit", key=("row_id",))
    context = FamilyContext(
        Task.IMAGE_CLASSIFICATION,
        profile,
        seed=0,
        image_root=str(tmp_path),
        image_size=(8, 8),
        image_mode="L",
    )
    train, test = frame.iloc[:300], frame.iloc[300:]
    pipeline = family("cnn").build(context, {"max_epochs": 25, "patience": 5})
    fit_pipeline(pipeline, train[["image"]], train["digit"].to_numpy())
    assert pipeline[-1].module_.shape == (1, 8, 8)
    accuracy = float(np.mean(pipeline.predict(test[["image"]]) == test["digit"].to_numpy()))
    assert accuracy > 0.7


@pytest.mark.parametrize("cls", [GRUClassifier, TransformerClassifier])
def test_text_classifiers_learn_sections(cls: type) -> None:
    frame = articles(150)
    train, test = frame.iloc[:120], frame.iloc[120:]
    model = cls(max_epochs=8, patience=3, max_length=48, random_state=0, **SMALL[cls]).fit(
        train["body"], train["section"]
    )
    assert set(model.classes_) == {"food", "sport", "tech"}
    assert model.predict_proba(test["body"]).shape == (30, 3)
    assert float(np.mean(model.predict(test["body"]) == test["section"].to_numpy())) > 0.8


def test_gpt_learns_text_and_generates() -> None:
    texts = articles(120)["body"].tolist()
    baseline = UnigramLanguageModel().fit(texts[:100])
    model = GPTLanguageModel(
        block_size=32,
        n_layer=1,
        n_embd=32,
        batch_size=16,
        max_steps=150,
        eval_interval=50,
        random_state=0,
    ).fit(texts[:100])
    held_out = texts[100:]
    assert model.perplexity(held_out) < 0.8 * baseline.perplexity(held_out)
    assert model.score(held_out) == -model.perplexity(held_out)
    sample = model.generate("The ", max_new_tokens=40, seed=1)
    assert isinstance(sample, str) and 0 < len(sample.encode()) <= 40
    assert sample == model.generate("The ", max_new_tokens=40, seed=1)


@pytest.mark.parametrize(
    "model",
    [
        MLPRegressor(random_state=0, **FAST),
        GRUClassifier(max_epochs=2, random_state=0),
        GPTLanguageModel(
            block_size=16, n_layer=1, n_embd=16, max_steps=20, eval_interval=10, random_state=0
        ),
    ],
    ids=lambda m: type(m).__name__,
)
def test_state_dict_and_config_rebuild_the_same_model(model: object) -> None:
    import torch

    if isinstance(model, MLPRegressor):
        X, y = small_table(Task.REGRESSION)
        inputs: object = X.to_numpy()
        model.fit(inputs, y)
    else:
        frame = articles(60)
        inputs = frame["body"]
        model.fit(inputs, frame["section"])  # type: ignore[attr-defined]
    config = pickle.loads(pickle.dumps(torch_config(model)))  # type: ignore[arg-type]
    state = {k: v.clone() for k, v in model.module_.state_dict().items()}  # type: ignore[attr-defined]
    again = load_torch(config, state)
    if isinstance(model, GPTLanguageModel):
        assert again.perplexity(inputs) == pytest.approx(model.perplexity(inputs))
    else:
        assert np.array_equal(again.predict(inputs), model.predict(inputs))  # type: ignore[attr-defined]
    assert isinstance(next(iter(state.values())), torch.Tensor)


def test_family_lookup_and_task_defaults() -> None:
    assert (
        family("hgb").name == "hist_gradient_boosting" and family("Random-Forest").name == "forest"
    )
    with pytest.raises(InvalidInputError, match="Unknown model family 'xgboost'"):
        family("xgboost")
    with pytest.raises(InvalidInputError, match="Family 'cnn' cannot do regression"):
        families_for(Task.REGRESSION, ["cnn"])
    assert [f.name for f in families_for(Task.LANGUAGE_MODELLING, None)] == ["dummy", "gpt"]
    assert [f.name for f in families_for(Task.TEXT_CLASSIFICATION, ["gru"])] == ["dummy", "gru"]
    assert "svm" in [f.name for f in families_for(Task.REGRESSION, None, rows=5000)]
    assert "svm" not in [f.name for f in families_for(Task.REGRESSION, None, rows=50_000)]
    for task in Task:
        assert families_for(task, None)[0].name == "dummy"
    assert {f.name for f in FAMILIES if f.uses_torch} == {"mlp", "cnn", "gru", "transformer", "gpt"}


def test_unknown_model_parameters_are_refused() -> None:
    X, y = small_table(Task.CLASSIFICATION)
    context = FamilyContext(Task.CLASSIFICATION, profile_columns(X.assign(t=y), "t"))
    with pytest.raises(InvalidInputError, match="Unknown model parameter 'depth'"):
        family("tree").build(context, {"depth": 3})
    with pytest.raises(InvalidInputError, match="Unknown model parameter 'widht'"):
        family("mlp").build(context, {"widht": 3})


def test_docs_list_the_families_the_registry_derives() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "training.md").read_text(encoding="utf-8")
    assert family_table() in docs, "paste `python -m training.families` into docs/training.md"
    assert [f.name for f in FAMILIES][:2] == ["dummy", "linear"]  # rank: simpler first


def test_finding_the_families_and_checking_a_spec_leave_pytorch_out() -> None:
    script = (
        "import sys; from training.spec import spec_from_mapping; "
        "spec_from_mapping({'dataset': 'd', 'target': 't', 'families': ['gpt', 'cnn']}); "
        "from training.families import all_families; "
        "print(len(all_families()), 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(len(FAMILIES)), "False"]


NEW_FAMILY = """
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline

from training.families import Family, no_space
from training.task import Task


def build(ctx, params):
    return Pipeline([("features", "passthrough"), ("model", DummyRegressor(strategy="median"))])


FAMILIES = (
    Family(
        name="median",
        description="the median, a second baseline",
        tasks=frozenset({Task.REGRESSION}),
        default_for=frozenset({Task.REGRESSION}),
        build=build,
        space=no_space,
        estimators=("sklearn.dummy.DummyRegressor",),
        saved_nodes=frozenset({("ObjectNode", "sklearn.dummy.DummyRegressor")}),
        rank=5,
    ),
)
"""


def test_a_new_family_is_one_new_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the reinforcement-learning families will do: drop a module in, touch nothing else."""
    import training.families as package
    from training.artifacts import trusted_nodes

    (tmp_path / "median.py").write_text(NEW_FAMILY)
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    for cached in (package.all_families, trusted_nodes):
        cached.cache_clear()
    try:
        assert family("median").rank == 5 and "| `median` |" in family_table()
        names = [f.name for f in families_for(Task.REGRESSION, None, rows=100)]
        assert names[:2] == ["dummy", "median"] and "median" not in [
            f.name for f in families_for(Task.CLASSIFICATION, None)
        ]
        X, y = small_table(Task.REGRESSION)
        context = FamilyContext(Task.REGRESSION, profile_columns(X.assign(t=y), "t"))
        pipeline = fit_pipeline(family("median").build(context, {}), X, y)
        assert pipeline.predict(X.head(1))[0] == np.median(y)
    finally:
        monkeypatch.undo()
        sys.modules.pop("training.families.median", None)
        for cached in (package.all_families, trusted_nodes):
            cached.cache_clear()
    with pytest.raises(InvalidInputError, match="Unknown model family 'median'"):
        family("median")
