"""A PyTorch model fit by DistributedDataParallel in two processes under torchrun (gloo)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import r2_score

from catalog import Catalog
from core.errors import HarvestError, InvalidInputError
from core.services import free_port
from tests.training.conftest import bundled
from training.distributed import Layout, fit_distributed
from training.families.nets.tabular import MLPClassifier, MLPRegressor
from training.registry import Registry
from training.spec import spec_from_mapping
from training.train import train


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, X @ np.array([1.5, -2.0, 0.5, 1.0]) + rng.normal(0, 0.1, n)


def test_two_processes_fit_one_model_that_predicts_like_one() -> None:
    X, y = _rows(600, 0)
    X_val, y_val = _rows(150, 1)
    X_test, y_test = _rows(200, 2)
    model = MLPRegressor(hidden_layer_sizes=(32,), max_epochs=40, patience=5, random_state=0)
    fitted = fit_distributed(model, X, y, (X_val, y_val), Layout(processes=2))
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
        MLPClassifier(hidden_layer_sizes=(16,), max_epochs=80, random_state=0),
        X,
        labels,
        None,
        Layout(processes=2),
    )
    assert list(fitted.classes_) == ["down", "up"]
    assert (fitted.predict(X) == labels).mean() > 0.85
    with pytest.raises(HarvestError, match="needs numeric inputs"):
        fit_distributed(MLPClassifier(), np.array([["a"], ["b"]]), ["x", "y"], None, Layout(2))


def test_a_spec_asks_for_processes_within_bounds() -> None:
    spec = spec_from_mapping({"dataset": "imports.x", "target": "y", "processes": 2})
    assert spec.processes == 2 and spec.to_json()["processes"] == 2
    with pytest.raises(HarvestError, match="processes"):
        spec_from_mapping({"dataset": "imports.x", "target": "y", "processes": 0})


def test_two_machines_meet_at_a_rendezvous_and_fit_one_model(tmp_path: Path) -> None:
    """The first machine starts the fit; the second joins with `harvest train-node` from a
    home of its own, holding no rows: they reach it through the process group."""
    endpoint = f"127.0.0.1:{free_port()}"
    joiner = subprocess.Popen(
        [sys.executable, "-m", "harvest", "--home", str(tmp_path / "second"), "train-node",
         "--rendezvous", endpoint, "--nodes", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        X, y = _rows(600, 0)
        X_val, y_val = _rows(150, 1)
        X_test, y_test = _rows(200, 2)
        model = MLPRegressor(hidden_layer_sizes=(32,), max_epochs=40, patience=5, random_state=0)
        fitted = fit_distributed(model, X, y, (X_val, y_val), Layout(1, 2, endpoint))
        out, err = joiner.communicate(timeout=120)
    finally:
        joiner.kill()
        joiner.wait(timeout=30)
    assert joiner.returncode == 0, err
    assert f"Done: the fit at {endpoint} finished." in out
    assert fitted.distributed_ == {"world_size": 2, "backend": "gloo", "nodes": 2}
    assert r2_score(y_test, fitted.predict(X_test)) > 0.9


def test_machines_need_a_rendezvous_that_is_host_and_port(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not host:port"):
        Layout(1, 2, "first-machine")
    assert Layout(1, 2, "[::1]:29400").distributed and not Layout().distributed
    spec = spec_from_mapping(
        {"dataset": "imports.x", "target": "y", "nodes": 2, "rendezvous": "10.0.0.5:29400"}
    )
    assert spec.layout == Layout(1, 2, "10.0.0.5:29400")
    assert spec.to_json()["rendezvous"] == "10.0.0.5:29400"
    with pytest.raises(HarvestError, match="not host:port"):
        spec_from_mapping({"dataset": "imports.x", "target": "y", "nodes": 2})
    done = subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(tmp_path), "train-node",
         "--rendezvous", "10.0.0.5:99999"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "The rendezvous '10.0.0.5:99999' is not host:port" in done.stdout + done.stderr


def test_a_training_run_fits_its_winner_on_two_machines(catalog: Catalog, tmp_path: Path) -> None:
    catalog.commit("clean.wine", bundled("wine"), producer="user:test", key=("row_id",))
    endpoint = f"127.0.0.1:{free_port()}"
    spec = spec_from_mapping(
        {"dataset": "clean.wine", "target": "target", "families": ["mlp"], "trials": 0, "cv_folds": 2,
         "nodes": 2, "rendezvous": endpoint, "name": "wine"}
    )  # fmt: skip
    joiner = subprocess.Popen(
        [sys.executable, "-m", "harvest", "--home", str(tmp_path / "second"), "train-node",
         "--rendezvous", endpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    said: list[str] = []
    try:
        result = train(spec, catalog, echo=said.append)
        joiner.communicate(timeout=120)
    finally:
        joiner.kill()
        joiner.wait(timeout=30)
    assert joiner.returncode == 0
    assert any(f"harvest train-node --rendezvous {endpoint} --nodes 2" in line for line in said)
    assert result.version.ref == "wine@1" and result.test["accuracy"] > 0.8
    card = Registry(catalog).card(result.version)
    assert (card["spec"]["nodes"], card["spec"]["rendezvous"]) == (2, endpoint)


def test_a_rendezvous_nobody_answers_or_nobody_can_open_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as busy:  # a port something else holds
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        X, y = _rows(50, 4)
        with pytest.raises(HarvestError, match=f"Could not open the rendezvous at {taken}"):
            fit_distributed(MLPRegressor(max_epochs=2), X, y, None, Layout(1, 2, taken))
    nobody = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(tmp_path), "train-node",
         "--rendezvous", nobody, "--wait", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"No training run answered at {nobody} within 2 s" in done.stderr
