"""Fitting a PyTorch table or image model with DistributedDataParallel over several processes,
on one machine or several.

:func:`fit_distributed` writes the model's parameters and its (already transformed) rows to
a temporary folder and runs ``torchrun ... -m training.distributed FOLDER``: every process
joins one gloo process group, builds the same estimator and fits it; ``TorchEstimator._train``
sees the group, wraps its module in ``DistributedDataParallel`` and gives each process its
share of every epoch's batches (gradients are averaged across processes after each step, so
the weights stay the same everywhere). The lowest-ranked process holding the folder writes
the fitted model as a JSON config and a ``state_dict`` (never pickle), which the caller loads
back with :func:`load_torch`.

On several machines (``Layout.nodes`` > 1) the first machine's torchrun hosts a c10d
rendezvous at ``Layout.rendezvous`` (``host:port``) and each other machine joins it with
``harvest train-node --rendezvous host:port`` (:func:`join_fit`). A joining process has no
folder: the job and the rows reach it from the first machine through the process group
itself, as JSON bytes and float32 tensors (never pickle), so the machines share no storage,
only the network. gloo does not authenticate its peers: run it on a network you trust.

The rows travel as NumPy arrays of numbers (``X``) and JSON (the labels), so text and
language models, whose inputs are strings, fit in one process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import HarvestError, InvalidInputError

_X, _LABELS, _JOB, _CONFIG, _STATE, _DONE = (
    "X.npy",
    "labels.json",
    "job.json",
    "config.json",
    "state.pt",
    "done.json",
)
_RUN_ID = "harvest-fit"  # the rendezvous's name: the endpoint alone says which fit it is
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
JOIN_TIMEOUT_S = 600  # how long the machines wait for each other at the rendezvous


@dataclass(frozen=True)
class Layout:
    """Where a distributed fit runs: processes on each machine, machines, and where they meet."""

    processes: int = 1
    nodes: int = 1
    rendezvous: str | None = None  # host:port of the first machine's rendezvous, for nodes > 1

    def __post_init__(self) -> None:
        if self.processes < 1 or self.nodes < 1:
            raise InvalidInputError("A distributed fit needs at least one process and machine.")
        if self.nodes > 1 and not is_endpoint(self.rendezvous):
            raise InvalidInputError(ENDPOINT_WANTED.format(self.rendezvous))

    @property
    def distributed(self) -> bool:
        return self.processes * self.nodes > 1


ENDPOINT_WANTED = (
    "The rendezvous {!r} is not host:port: give the first machine's address and a free port, "
    "such as 10.0.0.5:29400."
)


def is_endpoint(endpoint: str | None) -> bool:
    """Whether ``endpoint`` is ``host:port`` (a name, an IPv4 or a bracketed IPv6 address)."""
    found = _ENDPOINT.match(endpoint or "")
    return found is not None and 0 < int(found[2]) < 65536


def fit_distributed(
    model: Any, X: Any, y: Any, validation: tuple[Any, Any] | None, layout: Layout
) -> Any:
    """``model`` (a ``TorchEstimator``) fitted on ``X``, ``y`` as ``layout`` says."""
    from training.families.nets.torch_base import load_torch

    with tempfile.TemporaryDirectory(prefix="harvest-ddp-") as scratch:
        folder = Path(scratch)
        _save_rows(folder / "train", X, y)
        if validation is not None:
            _save_rows(folder / "validation", *validation)
        job = {"class": type(model).__name__, "params": model.get_params()}
        (folder / _JOB).write_text(json.dumps(job))
        done = _torchrun(layout, folder, host=True)
        if done.returncode != 0 or not (folder / _DONE).exists():
            if "RendezvousTimeoutError" in done.stderr:
                raise HarvestError(
                    f"Not all {layout.nodes} machines joined the fit at {layout.rendezvous} within "
                    f"{JOIN_TIMEOUT_S} s: run `harvest train-node --rendezvous "
                    f"{layout.rendezvous} --nodes {layout.nodes}` on the others."
                )
            if "RendezvousConnectionError" in done.stderr:
                raise HarvestError(
                    f"Could not open the rendezvous at {layout.rendezvous}: give an address of "
                    "this machine and a port nothing else uses."
                )
            raise HarvestError(f"The distributed fit {_where(layout)} failed: {_last(done)}")
        import torch

        config = json.loads((folder / _CONFIG).read_text())
        state = torch.load(folder / _STATE, weights_only=True)
        fitted = load_torch(config, state)
        fitted.distributed_ = json.loads((folder / _DONE).read_text())
        return fitted


def join_fit(layout: Layout, wait_s: int = 3600) -> None:
    """Run this machine's processes of a fit that another machine started (``layout``'s
    rendezvous), until it is done; wait up to ``wait_s`` for that run to reach its fit (a
    search runs first)."""
    with tempfile.TemporaryDirectory(prefix="harvest-ddp-") as scratch:
        done = _torchrun(layout, Path(scratch), host=False, wait_s=wait_s)
    if done.returncode != 0 and "RendezvousConnectionError" in done.stderr:
        raise HarvestError(
            f"No training run answered at {layout.rendezvous} within {wait_s} s: start the run "
            "whose spec names this rendezvous, or wait longer with --wait."
        )
    if done.returncode != 0:
        raise HarvestError(f"Joining the distributed fit {_where(layout)} failed: {_last(done)}")


def _torchrun(
    layout: Layout, folder: Path, *, host: bool, wait_s: int = JOIN_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    if layout.nodes == 1:
        where = ["--standalone"]
    else:
        # read_timeout: how long a joining machine keeps trying to reach the rendezvous
        conf = f"is_host={str(host).lower()},join_timeout={JOIN_TIMEOUT_S},read_timeout={wait_s}"
        where = [
            "--nnodes", str(layout.nodes), "--rdzv-backend", "c10d",
            "--rdzv-endpoint", str(layout.rendezvous), "--rdzv-id", _RUN_ID, "--rdzv-conf", conf,
        ]  # fmt: skip
    command = [
        sys.executable, "-m", "torch.distributed.run", *where, "--max-restarts", "0",
        "--nproc-per-node", str(layout.processes), "-m", "training.distributed", str(folder),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=_child_env())


def _where(layout: Layout) -> str:
    if layout.nodes == 1:
        return f"over {layout.processes} processes"
    return f"over {layout.nodes} machines at {layout.rendezvous}"


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return (lines or ["no output"])[-1][-300:]


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


def main(folder: Path) -> int:
    """One process of a distributed fit (run by torchrun)."""
    import torch
    import torch.distributed as dist

    from training.families.nets.torch_base import torch_classes, torch_config

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        source = _source_rank(folder)
        job = json.loads(_shared_bytes(folder / _JOB, source))
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in job["params"].items()}
        estimator = torch_classes()[job["class"]](**params)
        X, y = _shared_rows(folder / "train", source)
        has_validation = json.loads(
            _shared_bytes(None, source, json.dumps((folder / "validation").is_dir()).encode())
        )
        validation = _shared_rows(folder / "validation", source) if has_validation else None
        estimator.fit(X, y, validation_data=validation)
        if dist.get_rank() == source:
            (folder / _CONFIG).write_text(json.dumps(torch_config(estimator)))
            torch.save(estimator.module_.state_dict(), folder / _STATE)
            nodes = int(os.environ.get("GROUP_WORLD_SIZE", "1"))
            world = {"world_size": dist.get_world_size(), "backend": dist.get_backend()}
            (folder / _DONE).write_text(
                json.dumps({**world, **({"nodes": nodes} if nodes > 1 else {})})
            )
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def _source_rank(folder: Path) -> int:
    """The lowest rank whose machine holds the job (the first machine's): it sends the job
    and the rows to processes that joined from elsewhere, and writes the fitted model."""
    import torch
    import torch.distributed as dist

    holders = torch.tensor([(folder / _JOB).exists()], dtype=torch.int64)
    found = [torch.zeros(1, dtype=torch.int64) for _ in range(dist.get_world_size())]
    dist.all_gather(found, holders)
    ranks = [rank for rank, has in enumerate(found) if int(has.item())]
    if not ranks:
        raise HarvestError("No machine in the fit holds its job.")
    return ranks[0]


def _shared_bytes(file: Path | None, source: int, data: bytes | None = None) -> bytes:
    """``file``'s bytes (or ``data``) as the source rank has them, sent to every process."""
    import torch
    import torch.distributed as dist

    if dist.get_rank() == source:
        data = file.read_bytes() if file is not None else data
        assert data is not None
        size = torch.tensor([len(data)], dtype=torch.int64)
    else:
        size = torch.zeros(1, dtype=torch.int64)
    dist.broadcast(size, source)
    buffer = (
        torch.frombuffer(bytearray(data), dtype=torch.uint8)
        if dist.get_rank() == source and data
        else torch.zeros(int(size.item()), dtype=torch.uint8)
    )
    if int(size.item()):
        dist.broadcast(buffer, source)
    return bytes(buffer.numpy().tobytes())


def _shared_rows(prefix: Path, source: int) -> tuple[Any, Any]:
    """The rows under ``prefix`` as the source rank has them: a float32 array of any shape
    and the labels' JSON, sent to every process."""
    import torch
    import torch.distributed as dist

    mine = dist.get_rank() == source
    X = np.load(prefix / _X, allow_pickle=False) if mine else None
    given = list(X.shape) if X is not None else []
    shape = json.loads(_shared_bytes(None, source, json.dumps(given).encode()))
    tensor = torch.from_numpy(X) if X is not None else torch.zeros(shape, dtype=torch.float32)
    dist.broadcast(tensor, source)
    labels = json.loads(_shared_bytes(prefix / _LABELS if mine else None, source))
    return tensor.numpy(), np.asarray(labels)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
