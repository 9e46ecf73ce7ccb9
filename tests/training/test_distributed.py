"""A PyTorch model fit by DistributedDataParallel in two processes under torchrun (gloo)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from core.errors import HarvestError
from training.distributed import fit_distributed
from training.families.nets.tabular import MLPClassifier, MLPRegressor
from training.spec import spec_from_mapping


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, X @ np.array([1.5, -2.0, 0.5, 1.0]) + rng.normal(0, 0.1, n)


def test_two_processes_fit_one_model_that_predicts_like_one() -> None:
    X, y = _rows(600, 0)
    X_val, y_val = _rows(150, 1)
    X_test, y_test = _rows(200, 2)
    model = MLPRegressor(hidden_layer_sizes=(32,), max_epochs=40, patience=5, random_state=0)
    fitted = fit_distributed(model, X, y, (X_val, y_val), processes=2)
    assert fitted.distributed_ == {"world_size": 2, "backend": "gloo"}
    assert isinstance(fitted, MLPRegressor) and fitted.n_epochs_ >= 2
    assert r2_score(y_test, fitted.predict(X_test)) > 0.9
    alone = MLPRegressor(hidden_layer_sizes=(32,), max_epochs=40, patience=5, random_state=0)
    alone.fit(X, y, validation_data=(X_val, y_val))
    assert r2_score(y_test, alone.predict(X_test)) > 0.9  # the same model, in one process


def test_classes_travel_as_labels_and_strings_as_inputs_are_refused() -> None:
    X, y = _rows(300, 3)
    labels = np.where(y > 0, "up", "down")
    fitted = fit_distributed(
        MLPClassifier(hidden_layer_sizes=(16,), max_epochs=80, random_state=0), X, labels, None, 2
    )
    assert list(fitted.classes_) == ["down", "up"]
    assert (fitted.predict(X) == labels).mean() > 0.85
    with pytest.raises(HarvestError, match="needs numeric inputs"):
        fit_distributed(MLPClassifier(), np.array([["a"], ["b"]]), ["x", "y"], None, 2)


def test_a_spec_asks_for_processes_within_bounds() -> None:
    spec = spec_from_mapping({"dataset": "imports.x", "target": "y", "processes": 2})
    assert spec.processes == 2 and spec.to_json()["processes"] == 2
    with pytest.raises(HarvestError, match="processes"):
        spec_from_mapping({"dataset": "imports.x", "target": "y", "processes": 0})
