"""Fitting a PyTorch table or image model with DistributedDataParallel over several processes.

:func:`fit_distributed` writes the model's parameters and its (already transformed) rows to
a temporary folder and runs ``torchrun --standalone --nproc-per-node N -m
training.distributed FOLDER``: every process joins one gloo process group, builds the same
estimator and fits it; ``TorchEstimator._train`` sees the group, wraps its module in
``DistributedDataParallel`` and gives each process its share of every epoch's batches
(gradients are averaged across processes after each step, so the weights stay the same
everywhere). Process 0 writes the fitted model as a JSON config and a ``state_dict``
(never pickle), which the caller loads back with :func:`load_torch`.

The rows travel as NumPy arrays of numbers (``X``) and JSON (the labels), so text and
language models, whose inputs are strings, fit in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import HarvestError

_X, _LABELS, _JOB, _CONFIG, _STATE, _DONE = (
    "X.npy",
    "labels.json",
    "job.json",
    "config.json",
    "state.pt",
    "done.json",
)


def fit_distributed(
    model: Any, X: Any, y: Any, validation: tuple[Any, Any] | None, processes: int
) -> Any:
    """``model`` (a ``TorchEstimator``) fitted on ``X``, ``y`` in ``processes`` processes."""
    from training.families.nets.torch_base import load_torch

    with tempfile.TemporaryDirectory(prefix="harvest-ddp-") as scratch:
        folder = Path(scratch)
        _save_rows(folder / "train", X, y)
        if validation is not None:
            _save_rows(folder / "validation", *validation)
        job = {"class": type(model).__name__, "params": model.get_params()}
        (folder / _JOB).write_text(json.dumps(job))
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(processes), "-m", "training.distributed", str(folder),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=_child_env())
        if done.returncode != 0 or not (folder / _DONE).exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarvestError(
                f"The distributed fit over {processes} processes failed: {last[-300:]}"
            )
        import torch

        config = json.loads((folder / _CONFIG).read_text())
        state = torch.load(folder / _STATE, weights_only=True)
        fitted = load_torch(config, state)
        fitted.distributed_ = json.loads((folder / _DONE).read_text())
        return fitted


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # one compute thread per process
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def numeric_rows(X: Any) -> bool:
    """Whether ``X`` can travel to the processes (numbers: tables, images; not strings)."""
    return hasattr(X, "toarray") or np.asarray(X).dtype.kind in "fiub"


def _save_rows(prefix: Path, X: Any, y: Any) -> None:
    if hasattr(X, "toarray"):  # a sparse one-hot matrix
        X = X.toarray()
    array = np.asarray(X)
    if not numeric_rows(array):
        raise HarvestError(
            "A distributed fit needs numeric inputs (tables, images); text and language "
            "models fit in one process: set processes to 1."
        )
    prefix.mkdir()
    np.save(prefix / _X, array.astype(np.float32), allow_pickle=False)
    labels = np.asarray(y).tolist()
    (prefix / _LABELS).write_text(json.dumps(labels))


def _load_rows(prefix: Path) -> tuple[Any, Any]:
    X = np.load(prefix / _X, allow_pickle=False)
    return X, np.asarray(json.loads((prefix / _LABELS).read_text()))


def main(folder: Path) -> int:
    """One process of a distributed fit (run by torchrun)."""
    import torch
    import torch.distributed as dist

    from training.families.nets.torch_base import torch_classes, torch_config

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        job = json.loads((folder / _JOB).read_text())
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in job["params"].items()}
        estimator = torch_classes()[job["class"]](**params)
        X, y = _load_rows(folder / "train")
        validation = _load_rows(folder / "validation") if (folder / "validation").is_dir() else None
        estimator.fit(X, y, validation_data=validation)
        if dist.get_rank() == 0:
            (folder / _CONFIG).write_text(json.dumps(torch_config(estimator)))
            torch.save(estimator.module_.state_dict(), folder / _STATE)
            world = {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
            (folder / _DONE).write_text(json.dumps(world))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
