"""What every PyTorch family shares: device choice, seeding, the epoch loop with early stopping, and persistence.

A :class:`TorchEstimator` is a scikit-learn estimator (parameters set in ``__init__``,
``fit`` returns ``self``, learned attributes end in ``_``) whose model is an ``nn.Module``
built in ``fit`` by :meth:`TorchEstimator._make_module` from the parameters and what
``fit`` learned about the data. Training runs on the GPU when one is present (``device``
``"auto"``), is seeded by ``random_state`` inside a forked RNG (so fitting never disturbs
the caller's random state), stops early when the validation loss stops improving, and
keeps the best epoch's weights. ``fit`` accepts ``validation_data=(X, y)``; without it a
seeded ``validation_fraction`` of the rows is held out.

Fine-tuning is scikit-learn's ``warm_start``: a fitted estimator whose ``warm_start`` is
true continues from its own module (its vocabulary and feature width kept; new classes
extend the output layer, :func:`extend_head`), with the parameters named in ``freeze``
(module prefixes such as ``"blocks.0"`` or ``"embedding"``) left as they are. Its history
starts at epoch 0 with the validation loss of the weights it started from, which it keeps
if no epoch beats them.

Persistence is ``state_dict`` plus a JSON config (:func:`torch_config`,
:func:`load_torch`), never pickle: the config names the class (one a PyTorch family
declares, :func:`torch_classes`), its parameters and its fitted attributes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import nn

from training.families import all_families

Batch = tuple[torch.Tensor, torch.Tensor]
JSON = Any  # plain JSON values in fitted-attribute configs
EVAL_BATCH = 2048


def pick_device(device: str) -> torch.device:
    """``"auto"`` is the GPU when one is present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_deterministic() -> None:
    """Ask PyTorch for deterministic kernels (same seed, same data, same numbers)."""
    import os

    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if torch.cuda.is_available():  # CPU kernels are deterministic already; this import is slow
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


@contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Run a block with torch's RNGs seeded, restoring the caller's RNG state afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


class TorchEstimator(BaseEstimator):
    """Base of the PyTorch families; subclasses define ``__init__`` params and the hooks below."""

    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    validation_fraction: float
    random_state: int | None
    device: str
    max_time: float | None
    warm_start: bool = False  # continue from the fitted module (fine-tuning)
    freeze: tuple[str, ...] = ()  # parameter-name prefixes not trained when warm-starting
    module_: nn.Module  # set by fit

    #: fitted attributes (besides the module) that are saved in the JSON config
    _fitted_names: ClassVar[tuple[str, ...]] = (
        "n_features_in_",
        "history_",
        "n_epochs_",
        "best_epoch_",
    )

    def _make_module(self) -> nn.Module:
        raise NotImplementedError

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- training -------------------------------------------------------------

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _holdout(self, n: int, seed: int) -> tuple[NDArray[np.intp], NDArray[np.intp] | None]:
        if self.validation_fraction <= 0 or n < 10:
            return np.arange(n), None
        order = np.random.default_rng(seed).permutation(n)
        cut = max(1, round(n * self.validation_fraction))
        return np.sort(order[cut:]), np.sort(order[:cut])

    def _continuing(self) -> bool:
        """Whether ``fit`` continues from the fitted module (``warm_start`` on a fitted estimator)."""
        return bool(self.warm_start) and hasattr(self, "module_")

    def _start_module(self, device: torch.device) -> torch.optim.Optimizer:
        """Set ``module_`` (the fitted one when continuing, else new; ``freeze`` applied when
        continuing) and return the AdamW optimiser over what is left to train."""
        continuing = self._continuing()
        self.module_ = (self.module_ if continuing else self._make_module()).to(device)
        trained = freeze_parameters(self.module_, self.freeze if continuing else ())
        return torch.optim.AdamW(trained, lr=self.lr, weight_decay=self.weight_decay)

    def _learn_classes(self, y: NDArray[Any]) -> NDArray[np.intp]:
        """Set ``classes_`` from labels ``y`` and return their codes; when continuing, the
        parent's classes are kept and new ones added (the output layer grows to match)."""
        if not self._continuing():
            self.classes_, codes = np.unique(y, return_inverse=True)
            return codes  # type: ignore[no-any-return]
        classes = np.union1d(self.classes_, np.unique(y))
        if len(classes) > len(self.classes_):
            extend_head(self.module_, list(self.classes_), list(classes))
        self.classes_ = classes
        return np.searchsorted(classes, y)

    def _train(self, train: Batch, validation: Batch | None, seed: int) -> None:
        """Fit ``self.module_`` by minibatch AdamW with early stopping on the validation loss."""
        device = pick_device(self.device)
        with seeded(seed) as generator:
            optimiser = self._start_module(device)
            X, y = train[0].to(device), train[1].to(device)
            val = (validation[0].to(device), validation[1].to(device)) if validation else None
            self.history_: list[list[float]] = []
            best_loss, best_state, since_best = float("inf"), None, 0
            if self._continuing() and val:  # the weights it starts from are the ones to beat
                best_loss = self._evaluate_loss(val)
                best_state = copy.deepcopy(self.module_.state_dict())
                self.history_.append([0.0, best_loss, best_loss])
            started = time.perf_counter()
            n = len(X)
            rank, world = _process_group()
            # Under torchrun (training.distributed) gradients are averaged across processes
            # after each step; each process takes its share of every epoch's batches.
            forward = nn.parallel.DistributedDataParallel(self.module_) if world > 1 else None
            self.best_epoch_ = 0
            for epoch in range(1, self.max_epochs + 1):
                self.module_.train()
                order = torch.randperm(n, generator=generator)
                if world > 1:  # the same order everywhere: each process its own rows of it
                    order = order[: n - n % world][rank::world]
                order = order.to(device)
                total = torch.zeros((), device=device)
                for start in range(0, len(order), self.batch_size):
                    index = order[start : start + self.batch_size]
                    optimiser.zero_grad(set_to_none=True)
                    loss = self._loss((forward or self.module_)(X[index]), y[index])
                    loss.backward()
                    optimiser.step()
                    total += loss.detach() * len(index)
                if world > 1:
                    torch.distributed.all_reduce(total)
                train_loss = float(total) / max(len(order) * world, 1)
                val_loss = self._evaluate_loss(val) if val else train_loss
                self.history_.append([float(epoch), train_loss, val_loss])
                if val_loss < best_loss - 1e-6:
                    best_loss, since_best, self.best_epoch_ = val_loss, 0, epoch
                    best_state = copy.deepcopy(self.module_.state_dict())
                else:
                    since_best += 1
                out_of_time = (
                    self.max_time is not None and time.perf_counter() - started > self.max_time
                )
                stop = since_best >= self.patience or out_of_time or not np.isfinite(train_loss)
                if world > 1:  # every process stops at the same epoch (the clocks differ)
                    flag = torch.tensor(float(stop))
                    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                    stop = bool(flag)
                if stop:
                    break
            self.n_epochs_ = len(self.history_)
            if best_state is not None:
                self.module_.load_state_dict(best_state)
            self.module_.eval()

    def _evaluate_loss(self, data: Batch) -> float:
        self.module_.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(data[0]), EVAL_BATCH):
                X, y = data[0][start : start + EVAL_BATCH], data[1][start : start + EVAL_BATCH]
                total += float(self._loss(self.module_(X), y)) * len(X)
                count += len(X)
        return total / max(count, 1)

    def _forward(self, X: torch.Tensor) -> NDArray[np.float64]:
        """The module's outputs for ``X`` in evaluation mode, batch by batch, as float64."""
        device = next(self.module_.parameters()).device
        self.module_.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(X), EVAL_BATCH):
                outputs.append(self.module_(X[start : start + EVAL_BATCH].to(device)).float().cpu())
        if not outputs:
            return np.zeros((0,), dtype=np.float64)
        return torch.cat(outputs).numpy().astype(np.float64)

    # -- persistence ----------------------------------------------------------

    def _fitted_json(self) -> dict[str, JSON]:
        return {name: _jsonable(getattr(self, name)) for name in self._fitted_names}

    def _restore(self, fitted: dict[str, JSON]) -> None:
        for name, value in fitted.items():
            setattr(self, name, value)


def _process_group() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed group this process is in, or (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _jsonable(value: object) -> JSON:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def freeze_parameters(module: nn.Module, prefixes: Sequence[str]) -> list[nn.Parameter]:
    """Stop training the parameters named by ``prefixes``; return the ones still trained.

    A prefix that names no parameter is a ``ValueError`` listing the module's layers.
    """
    names = [name for name, _ in module.named_parameters()]
    for prefix in prefixes:
        if not any(n == prefix or n.startswith(f"{prefix}.") for n in names):
            raise ValueError(
                f"{prefix!r} is not a layer of this model; its layers are {layer_names(module)}"
            )
    trained = []
    for name, parameter in module.named_parameters():
        parameter.requires_grad = not any(name == p or name.startswith(f"{p}.") for p in prefixes)
        if parameter.requires_grad:
            trained.append(parameter)
    if not trained:
        raise ValueError("freeze leaves no parameter of this model to train")
    return trained


def layer_names(module: nn.Module) -> str:
    """The module's layers with parameters, one level down, for messages."""
    tops = dict.fromkeys(name.split(".")[0] for name, _ in module.named_parameters())
    return ", ".join(tops)


def extend_head(module: nn.Module, old: Sequence[object], new: Sequence[object]) -> None:
    """Widen the output layer (the module's last ``nn.Linear``) from classes ``old`` to ``new``.

    Each old class keeps its row of weights (moved to its place in ``new``); a new class
    starts with zero weights and the old classes' mean bias, so it begins as no class's rival.
    """
    name, head = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear)][-1]
    if head.out_features != len(old):
        raise ValueError(f"the output layer has {head.out_features} outputs, not {len(old)}")
    wider = nn.Linear(head.in_features, len(new), bias=head.bias is not None).to(head.weight.device)
    with torch.no_grad():
        wider.weight.zero_()
        if wider.bias is not None and head.bias is not None:
            wider.bias.fill_(float(head.bias.mean()))
        for i, label in enumerate(old):
            j = list(new).index(label)
            wider.weight[j] = head.weight[i]
            if wider.bias is not None and head.bias is not None:
                wider.bias[j] = head.bias[i]
    owner, _, attribute = name.rpartition(".")
    setattr(module.get_submodule(owner) if owner else module, attribute, wider)


def torch_classes() -> dict[str, type[TorchEstimator]]:
    """The PyTorch estimator classes a saved config may name: those the torch families declare."""
    declared = [c for f in all_families() if f.uses_torch for c in f.estimator_classes()]
    return {cls.__name__: cls for cls in declared if issubclass(cls, TorchEstimator)}


def torch_config(estimator: TorchEstimator) -> dict[str, JSON]:
    """The JSON config that, with the ``state_dict``, rebuilds a fitted estimator."""
    return {
        "class": type(estimator).__name__,
        "params": _jsonable(estimator.get_params()),
        "fitted": estimator._fitted_json(),
        "torch": torch.__version__,
    }


def load_torch(config: dict[str, JSON], state: dict[str, torch.Tensor]) -> TorchEstimator:
    """A fitted estimator from its config and ``state_dict`` (on the CPU unless a GPU is present).

    The config may name only an allow-listed class, its own parameters and its saved fitted
    attributes; anything else is a ``ValueError``.
    """
    classes = torch_classes()
    name = config.get("class") if isinstance(config, dict) else None
    if not isinstance(name, str) or name not in classes:
        raise ValueError(f"unknown PyTorch model class {name!r} in the model config")
    cls = classes[name]
    params, fitted = dict(config.get("params") or {}), config.get("fitted")
    unknown = set(params) - set(cls().get_params())
    if not isinstance(fitted, dict):
        raise ValueError("the model config has no fitted attributes")
    unknown |= set(fitted) - set(cls._fitted_names)
    if unknown:
        raise ValueError(f"the model config names {sorted(unknown)[0]!r}, which {name} lacks")
    for key, value in params.items():
        if isinstance(value, list):
            params[key] = tuple(value)
    estimator = cls(**params)
    estimator._restore(fitted)
    module = estimator._make_module()
    module.load_state_dict(state)
    estimator.module_ = module.to(pick_device(estimator.device)).eval()
    return estimator


def as_float_tensor(X: NDArray[Any]) -> torch.Tensor:
    """A float32 tensor owning its memory (inputs may be read-only memmaps)."""
    return torch.from_numpy(np.array(X, dtype=np.float32, copy=True))


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
