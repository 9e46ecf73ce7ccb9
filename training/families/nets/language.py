"""Language models over bytes: a small GPT-style causal transformer and the unigram baseline.

Texts become one stream of byte ids (0-255) with an end-of-document id (256) after each
text. :class:`GPTLanguageModel` learns to predict the next byte from up to
``block_size`` previous ones (nanoGPT's shape: token and position embeddings, pre-norm
blocks of causal self-attention and an MLP, a head tied to the token embedding). Both
models report perplexity per byte (lower is better; ``score`` is its negative, so higher
is better as scikit-learn expects) and :meth:`GPTLanguageModel.generate` continues a
prompt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from training.families.nets.text import as_texts
from training.families.nets.torch_base import TorchEstimator, pick_device, seeded

END = 256
VOCABULARY = 257


def byte_stream(texts: Sequence[str]) -> torch.Tensor:
    """All texts as byte ids, each followed by the end-of-document id."""
    ids: list[int] = []
    for text in texts:
        ids.extend(text.encode("utf-8"))
        ids.append(END)
    return torch.tensor(ids, dtype=torch.long)


def per_document(texts: Sequence[str], target_nats: NDArray[np.float64]) -> NDArray[np.float64]:
    """Next-byte losses in stream order (one per target, the stream's bytes after its first)
    summed per document: rows of (nats, bytes predicted), so that any set of documents gives
    its perplexity as ``exp(sum nats / sum bytes)``."""
    lengths = np.array([len(t.encode("utf-8")) + 1 for t in texts], dtype=np.int64)
    owner = np.repeat(np.arange(len(texts)), lengths)[1:]  # the document of each target byte
    nats = np.bincount(owner, weights=target_nats, minlength=len(texts))
    counts = np.bincount(owner, minlength=len(texts)).astype(np.float64)
    return np.column_stack([nats, counts])


def decode(ids: Sequence[int]) -> str:
    """Bytes back to text, stopping at the end-of-document id."""
    out = bytearray()
    for i in ids:
        if i == END:
            break
        out.append(i)
    return out.decode("utf-8", errors="replace")


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout
        self.resid = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.resid(self.proj(y.transpose(1, 2).contiguous().view(b, t, c)))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A small decoder-only transformer over byte ids."""

    def __init__(
        self, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.tokens = nn.Embedding(VOCABULARY, n_embd)
        self.positions = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, VOCABULARY, bias=False)
        self.head.weight = self.tokens.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.size(1), device=ids.device)
        x = self.drop(self.tokens(ids) + self.positions(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def windows(stream: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (input, next-byte target) windows covering the whole stream."""
    n = len(stream) - 1
    count = max(1, math.ceil(n / block_size))
    padded = torch.full((count * block_size + 1,), -1, dtype=torch.long)
    padded[: len(stream)] = stream
    x = padded[:-1].view(count, block_size).clone()
    y = padded[1:].view(count, block_size).clone()
    x[x < 0] = END
    return x, y


class GPTLanguageModel(TorchEstimator):
    """A byte-level GPT-style causal language model with early stopping on held-out perplexity."""

    _fitted_names: ClassVar[tuple[str, ...]] = (*TorchEstimator._fitted_names, "steps_")

    def __init__(
        self,
        block_size: int = 128,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        dropout: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        batch_size: int = 32,
        max_steps: int = 2000,
        eval_interval: int = 100,
        patience: int = 4,
        validation_fraction: float = 0.1,
        generate_tokens: int = 120,
        random_state: int | None = None,
        device: str = "auto",
        max_time: float | None = None,
        warm_start: bool = False,
        freeze: tuple[str, ...] = (),
    ) -> None:
        self.block_size = block_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.eval_interval = eval_interval
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.generate_tokens = generate_tokens
        self.random_state = random_state
        self.device = device
        self.max_time = max_time
        self.warm_start = warm_start
        self.freeze = freeze

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        return tags

    def _make_module(self) -> nn.Module:
        return GPT(self.block_size, self.n_layer, self.n_head, self.n_embd, self.dropout)

    def fit(self, X: Any, y: object = None, validation_data: Any = None) -> GPTLanguageModel:
        """Learn from texts ``X`` (``y`` is ignored); ``validation_data`` is held-out texts."""
        texts = as_texts(X)
        self.n_features_in_ = 1
        seed = self._seed()
        if validation_data is not None:
            held_texts = as_texts(
                validation_data[0] if isinstance(validation_data, tuple) else validation_data
            )
            train_texts = texts
        else:
            keep, held = self._holdout(len(texts), seed)
            train_texts = [texts[i] for i in keep]
            held_texts = [texts[i] for i in held] if held is not None else []
        stream = byte_stream(train_texts)
        held_out = windows(byte_stream(held_texts), self.block_size) if held_texts else None
        self._train_steps(stream, held_out, seed)
        return self

    def _train_steps(
        self, stream: torch.Tensor, held_out: tuple[torch.Tensor, torch.Tensor] | None, seed: int
    ) -> None:
        device = pick_device(self.device)
        width = min(self.block_size, len(stream) - 1)
        with seeded(seed) as generator:
            optimiser = self._start_module(device)
            data = stream.to(device)
            offsets = torch.arange(width, device=device)
            self.history_: list[list[float]] = []
            best, best_state, since_best, running = float("inf"), None, 0, 0.0
            if self._continuing() and held_out:  # the weights it starts from are the ones to beat
                best = self._mean_loss(*held_out)
                best_state = {k: v.detach().clone() for k, v in self.module_.state_dict().items()}
                self.history_.append([0.0, best, best])
            self.best_epoch_ = 0
            started = time.perf_counter()
            for step in range(1, self.max_steps + 1):
                self.module_.train()
                starts = torch.randint(
                    0, len(data) - width, (self.batch_size,), generator=generator
                )
                index = starts.to(device)[:, None] + offsets
                logits = self.module_(data[index])
                loss = F.cross_entropy(logits.reshape(-1, VOCABULARY), data[index + 1].reshape(-1))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.module_.parameters(), 1.0)
                optimiser.step()
                running += float(loss.detach())
                out_of_time = (
                    self.max_time is not None and time.perf_counter() - started > self.max_time
                )
                if step % self.eval_interval and step != self.max_steps and not out_of_time:
                    continue
                done = step % self.eval_interval or self.eval_interval
                train_loss = running / done
                running = 0.0
                val_loss = self._mean_loss(*held_out) if held_out else train_loss
                self.history_.append([float(step), train_loss, val_loss])
                if val_loss < best - 1e-4:
                    best, since_best, self.best_epoch_ = val_loss, 0, step
                    best_state = {
                        k: v.detach().clone() for k, v in self.module_.state_dict().items()
                    }
                else:
                    since_best += 1
                if since_best >= self.patience or out_of_time:
                    break
            self.steps_ = step
            self.n_epochs_ = len(self.history_)
            if best_state is not None:
                self.module_.load_state_dict(best_state)
            self.module_.eval()

    def _losses(self, x: torch.Tensor, y: torch.Tensor) -> NDArray[np.float64]:
        """Next-byte cross-entropy (nats) of every target of windows ``x`` -> ``y``, in stream
        order (the padding targets, -1, are left out)."""
        device = next(self.module_.parameters()).device
        self.module_.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(x), 64):
                xb, yb = x[start : start + 64].to(device), y[start : start + 64].to(device)
                logits = self.module_(xb)
                losses = F.cross_entropy(
                    logits.reshape(-1, VOCABULARY),
                    yb.reshape(-1),
                    ignore_index=-1,
                    reduction="none",
                )
                parts.append(losses[yb.reshape(-1) >= 0].double().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros(0)

    def _mean_loss(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Mean next-byte cross-entropy (nats) over windows ``x`` -> ``y`` (targets -1 ignored)."""
        losses = self._losses(x, y)
        return float(losses.sum()) / max(len(losses), 1)

    def document_losses(self, X: Any) -> NDArray[np.float64]:
        """Per text of ``X``: (nats, bytes predicted) (see :func:`per_document`)."""
        check_is_fitted(self)
        texts = as_texts(X)
        return per_document(texts, self._losses(*windows(byte_stream(texts), self.block_size)))

    def perplexity(self, X: Any) -> float:
        """Perplexity per byte of texts ``X``."""
        check_is_fitted(self)
        return math.exp(self._mean_loss(*windows(byte_stream(as_texts(X)), self.block_size)))

    def score(self, X: Any, y: object = None) -> float:
        """Negative perplexity (higher is better)."""
        return -self.perplexity(X)

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = 40,
        seed: int = 0,
    ) -> str:
        """Continue ``prompt`` by sampling up to ``max_new_tokens`` bytes (stops at end of document)."""
        check_is_fitted(self)
        device = next(self.module_.parameters()).device
        ids = list(prompt.encode("utf-8"))
        generated: list[int] = []
        generator = torch.Generator(device="cpu").manual_seed(seed)
        self.module_.eval()
        with torch.no_grad():
            for _ in range(max_new_tokens):
                context = torch.tensor(
                    [(ids + generated)[-self.block_size :] or [END]], device=device
                )
                logits = self.module_(context)[0, -1].float().cpu() / max(temperature, 1e-6)
                if top_k:
                    cutoff = torch.topk(logits, min(top_k, VOCABULARY)).values[-1]
                    logits[logits < cutoff] = -float("inf")
                token = int(torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator))
                if token == END:
                    break
                generated.append(token)
        return decode(generated)

    def predict(self, X: Any) -> NDArray[np.object_]:
        """The continuation generated for each prompt in ``X``."""
        return np.array(
            [self.generate(text, self.generate_tokens) for text in as_texts(X)], dtype=object
        )


class UnigramLanguageModel(BaseEstimator):
    """The language-modelling baseline: byte frequencies with add-one smoothing."""

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        return tags

    def fit(self, X: Any, y: object = None, validation_data: Any = None) -> UnigramLanguageModel:
        counts = np.bincount(byte_stream(as_texts(X)).numpy(), minlength=VOCABULARY) + 1.0
        self.log_probs_ = np.log(counts / counts.sum())
        self.n_features_in_ = 1
        return self

    def perplexity(self, X: Any) -> float:
        check_is_fitted(self)
        ids = byte_stream(as_texts(X)).numpy()
        return float(np.exp(-self.log_probs_[ids].mean()))

    def document_losses(self, X: Any) -> NDArray[np.float64]:
        """Per text of ``X``: (nats, bytes predicted), every byte after the stream's first."""
        check_is_fitted(self)
        texts = as_texts(X)
        ids = byte_stream(texts).numpy()
        return per_document(texts, -self.log_probs_[ids[1:]])

    def score(self, X: Any, y: object = None) -> float:
        return -self.perplexity(X)

    def predict(self, X: Any) -> NDArray[np.object_]:
        """The most frequent byte repeated: what a model that ignores context would write."""
        check_is_fitted(self)
        top = int(np.argmax(self.log_probs_[:END]))
        return np.array([bytes([top]).decode("latin-1") * 20 for _ in as_texts(X)], dtype=object)
