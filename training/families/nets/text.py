"""PyTorch text classifiers: a bidirectional GRU and a transformer encoder over word tokens.

Both take raw strings (a 1-D array, or one column), learn a word vocabulary from the
training texts in ``fit`` (the ``max_vocab`` most frequent lower-cased words; id 0 pads,
id 1 is unknown) and classify the first ``max_length`` tokens.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from training.families.nets.torch_base import Batch, TorchEstimator

PAD, UNKNOWN = 0, 1
_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.lower())


def build_vocabulary(texts: Sequence[str], size: int) -> list[str]:
    """The ``size - 2`` most frequent words, most frequent first (ties by first appearance)."""
    counts = Counter(word for text in texts for word in tokenize(text))
    return [word for word, _ in counts.most_common(max(size - 2, 0))]


def encode(texts: Sequence[str], index: dict[str, int], max_length: int) -> torch.Tensor:
    """Token ids, padded with 0 to the longest text (at most ``max_length``)."""
    rows = [[index.get(word, UNKNOWN) for word in tokenize(text)][:max_length] for text in texts]
    width = max([len(r) for r in rows] + [1])
    out = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def as_texts(X: Any) -> list[str]:
    """Strings from a 1-D array-like or a single-column table; missing values become ''."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"Expected one text column, got {X.shape[1]} columns.")
        X = X.iloc[:, 0]
    values = np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"Expected a 1-D array of texts, got an array of shape {values.shape}.")
    if len(values) == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def masked_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean and max of ``states`` over the positions where ``mask`` is true, side by side."""
    weights = mask.unsqueeze(-1).to(states.dtype)
    mean = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    peak = states.masked_fill(~mask.unsqueeze(-1), -1e4).max(1).values
    return torch.cat([mean, peak], dim=-1)


class GRUNet(nn.Module):
    """Embedding, bidirectional GRU, mean+max pooling, linear head."""

    def __init__(self, vocab: int, embed: int, hidden: int, n_out: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.gru = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4 * hidden, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != PAD
        mask[:, 0] = True
        lengths = mask.sum(1)
        width = int(lengths.max())
        ids, mask = ids[:, :width], mask[:, :width]
        packed = pack_padded_sequence(
            self.dropout(self.embedding(ids)), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=width)
        return self.head(self.dropout(masked_pool(states, mask)))


class EncoderNet(nn.Module):
    """Token and position embeddings, a pre-norm transformer encoder, pooling, linear head."""

    def __init__(
        self,
        vocab: int,
        d_model: int,
        heads: int,
        layers: int,
        max_length: int,
        n_out: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.position = nn.Embedding(max_length, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * d_model, n_out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != PAD
        mask[:, 0] = True
        width = int(mask.sum(1).max())
        ids, mask = ids[:, :width], mask[:, :width]
        positions = torch.arange(width, device=ids.device)
        x = self.dropout(self.embedding(ids) + self.position(positions))
        states = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        return self.head(self.dropout(masked_pool(states, mask)))


class _TextClassifier(ClassifierMixin, TorchEstimator):
    """Shared fitting of the text classifiers: vocabulary, label codes, token tensors."""

    max_vocab: int
    max_length: int
    _fitted_names: ClassVar[tuple[str, ...]] = (
        *TorchEstimator._fitted_names,
        "classes_",
        "vocabulary_",
    )

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        return tags

    def _ids(self, X: Any) -> torch.Tensor:
        index = {word: i + 2 for i, word in enumerate(self.vocabulary_)}
        return encode(as_texts(X), index, self.max_length)

    def fit(
        self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None
    ) -> _TextClassifier:
        texts = as_texts(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(f"Expected {len(texts)} labels in a 1-D array, got shape {y.shape}.")
        check_classification_targets(y)
        codes = self._learn_classes(y)
        if len(self.classes_) < 2:
            raise ValueError("This classifier needs samples of at least 2 classes in the data.")
        self.n_features_in_ = 1
        seed = self._seed()
        validation: Batch | None
        if validation_data is not None:
            train_texts = texts
            val_texts = as_texts(validation_data[0])
            val_labels = np.asarray(validation_data[1])
            known = np.isin(val_labels, self.classes_)
            val_texts = [t for t, k in zip(val_texts, known, strict=True) if k]
            val_codes = np.searchsorted(self.classes_, val_labels[known])
            train_codes = codes
        else:
            keep, held = self._holdout(len(texts), seed)
            train_texts = [texts[i] for i in keep]
            train_codes = codes[keep]
            val_texts = [texts[i] for i in held] if held is not None else []
            val_codes = codes[held] if held is not None else np.zeros(0, dtype=np.int64)
        if not self._continuing():  # a fine-tuned model keeps its parent's words
            self.vocabulary_ = build_vocabulary(train_texts, self.max_vocab)
        train = self._ids(train_texts), torch.from_numpy(train_codes.astype(np.int64))
        validation = (
            (self._ids(val_texts), torch.from_numpy(val_codes.astype(np.int64)))
            if val_texts
            else None
        )
        self._train(train, validation, seed)
        return self

    def _loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        check_is_fitted(self)
        logits = self._forward(self._ids(X))
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, X: Any) -> NDArray[Any]:
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]  # type: ignore[no-any-return]

    def _restore(self, fitted: dict[str, Any]) -> None:
        super()._restore(fitted)
        self.classes_ = np.asarray(fitted["classes_"])


class GRUClassifier(_TextClassifier):
    """Text classification with a bidirectional GRU over word embeddings."""

    def __init__(
        self,
        max_vocab: int = 20000,
        max_length: int = 256,
        embed_dim: int = 64,
        hidden_size: int = 64,
        dropout: float = 0.2,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 32,
        max_epochs: int = 30,
        patience: int = 4,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.max_vocab = max_vocab
        self.max_length = max_length
        self.embed_dim = embed_dim
        self.hidden_size = hidden_size
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
        return GRUNet(
            len(self.vocabulary_) + 2,
            self.embed_dim,
            self.hidden_size,
            len(self.classes_),
            self.dropout,
        )


class TransformerClassifier(_TextClassifier):
    """Text classification with a small transformer encoder."""

    def __init__(
        self,
        max_vocab: int = 20000,
        max_length: int = 256,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 32,
        max_epochs: int = 30,
        patience: int = 4,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.max_vocab = max_vocab
        self.max_length = max_length
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
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
        return EncoderNet(
            len(self.vocabulary_) + 2,
            self.d_model,
            self.n_heads,
            self.n_layers,
            self.max_length,
            len(self.classes_),
            self.dropout,
        )
