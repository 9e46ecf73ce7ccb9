"""PyTorch families on numeric matrices: the MLP for tables and the small CNN for images.

Both take the dense matrix the feature pipeline produces. :class:`CNNClassifier` reads
each row as an image of ``image_shape`` (channels, height, width), which the image
loader of the feature pipeline fixes; without one a row is a one-pixel-high strip.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn
from torch.nn import functional as F

from training.families.nets.torch_base import Batch, TorchEstimator, as_float_tensor


class MLP(nn.Module):
    """Linear layers with ReLU, layer norm and dropout between them."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LayerNorm(size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallCNN(nn.Module):
    """Two convolution blocks, adaptive pooling to 4x4, and a small classifier head."""

    def __init__(
        self, shape: tuple[int, int, int], channels: int, n_out: int, dropout: float
    ) -> None:
        super().__init__()
        self.shape = shape
        c, h, w = shape
        pool = (2 if h >= 4 else 1, 2 if w >= 4 else 1)
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(pool),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((4, 4)),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * channels * 16, 64),
            nn.ReLU(),
            nn.Linear(64, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.shape)))


class _TabularEstimator(TorchEstimator):
    """Shared input checks of the matrix-input families."""

    def _check_X(self, X: Any, reset: bool) -> NDArray[np.float32]:
        return validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])  # type: ignore[no-any-return]


class _Classifier(ClassifierMixin, _TabularEstimator):
    _fitted_names: ClassVar[tuple[str, ...]] = (*TorchEstimator._fitted_names, "classes_")

    def fit(self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None) -> _Classifier:
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float32, np.float64],
            y_numeric=False,
            reset=not self._continuing(),
        )
        check_classification_targets(y)
        codes = self._learn_classes(y)
        if len(self.classes_) < 2:
            raise ValueError(
                "This classifier needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_[0]!r}."
            )
        seed = self._seed()
        data = as_float_tensor(X), torch.from_numpy(codes.astype(np.int64))
        validation: Batch | None
        if validation_data is not None:
            X_val = self._check_X(validation_data[0], reset=False)
            known = np.isin(validation_data[1], self.classes_)
            codes_val = np.searchsorted(self.classes_, np.asarray(validation_data[1])[known])
            validation = as_float_tensor(X_val[known]), torch.from_numpy(codes_val.astype(np.int64))
            train = data
        else:
            keep, held = self._holdout(len(codes), seed)
            train = data[0][keep], data[1][keep]
            validation = (data[0][held], data[1][held]) if held is not None else None
        self._train(train, validation, seed)
        return self

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        check_is_fitted(self)
        logits = self._forward(as_float_tensor(self._check_X(X, reset=False)))
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, X: Any) -> NDArray[Any]:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]  # type: ignore[no-any-return]

    def _restore(self, fitted: dict[str, Any]) -> None:
        super()._restore(fitted)
        self.classes_ = np.asarray(fitted["classes_"])


class MLPClassifier(_Classifier):
    """A multi-layer perceptron classifier for tables."""

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.max_time = max_time
        self.warm_start = warm_start
        self.freeze = freeze

    def _make_module(self) -> nn.Module:
        return MLP(
            self.n_features_in_, tuple(self.hidden_layer_sizes), len(self.classes_), self.dropout
        )


class MLPRegressor(RegressorMixin, _TabularEstimator):
    """A multi-layer perceptron regressor for tables (the target is standardised inside)."""

    _fitted_names: ClassVar[tuple[str, ...]] = (
        *TorchEstimator._fitted_names,
        "y_mean_",
        "y_scale_",
    )

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 128,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.max_time = max_time
        self.warm_start = warm_start
        self.freeze = freeze

    def _make_module(self) -> nn.Module:
        return MLP(self.n_features_in_, tuple(self.hidden_layer_sizes), 1, self.dropout)

    def _target(self, y: Any) -> torch.Tensor:
        scaled = (np.asarray(y, dtype=np.float64) - self.y_mean_) / self.y_scale_
        return torch.from_numpy(scaled.astype(np.float32))

    def fit(self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None) -> MLPRegressor:
        continuing = self._continuing()  # the parent's target scale is kept
        X, y = validate_data(
            self, X, y, dtype=[np.float32, np.float64], y_numeric=True, reset=not continuing
        )
        if not continuing:
            self.y_mean_ = float(np.mean(y))
            self.y_scale_ = float(np.std(y)) or 1.0
        seed = self._seed()
        data = as_float_tensor(X), self._target(y)
        validation: Batch | None
        if validation_data is not None:
            X_val = self._check_X(validation_data[0], reset=False)
            validation = as_float_tensor(X_val), self._target(validation_data[1])
            train = data
        else:
            keep, held = self._holdout(len(y), seed)
            train = data[0][keep], data[1][keep]
            validation = (data[0][held], data[1][held]) if held is not None else None
        self._train(train, validation, seed)
        return self

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.squeeze(-1), target)

    def predict(self, X: Any) -> NDArray[np.float64]:
        check_is_fitted(self)
        scaled = self._forward(as_float_tensor(self._check_X(X, reset=False)))
        return scaled.reshape(-1) * self.y_scale_ + self.y_mean_  # type: ignore[no-any-return]


class CNNClassifier(_Classifier):
    """A small convolutional image classifier; rows are images of ``image_shape`` (C, H, W)."""

    def __init__(
        self,
        image_shape: tuple[int, int, int] | None = None,
        channels: int = 16,
        dropout: float = 0.2,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 8,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.image_shape = image_shape
        self.channels = channels
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.max_time = max_time
        self.warm_start = warm_start
        self.freeze = freeze

    def _shape(self) -> tuple[int, int, int]:
        if self.image_shape is None:
            return (1, 1, self.n_features_in_)
        c, h, w = (int(v) for v in self.image_shape)
        if c * h * w != self.n_features_in_:
            raise ValueError(
                f"image_shape {self.image_shape} holds {c * h * w} values but X has "
                f"{self.n_features_in_} features."
            )
        return (c, h, w)

    def _make_module(self) -> nn.Module:
        return SmallCNN(self._shape(), self.channels, len(self.classes_), self.dropout)
