"""The policy network a reinforcement-learning model is saved and served as, apart from Stable-Baselines3.

A trained agent's acting part is copied into a :class:`PolicyNetwork`: a plain stack of
``Linear`` layers with one activation between them. PPO's is its policy MLP plus its action
head (the logits of a discrete action, the mean of a continuous one); DQN's is its Q
network (the action is the one of highest value). The network is saved as a
``state_dict`` (loaded with ``weights_only=True``) beside a JSON :class:`PolicyConfig`, so
a registered policy never holds Stable-Baselines3's pickled ``.zip``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class PolicyConfig:
    """What rebuilds the network and turns its output into an action."""

    sizes: tuple[int, ...]  # input, hidden..., output
    activation: str  # tanh | relu
    action: str  # discrete (argmax of the outputs) | box (the outputs, clipped)
    low: tuple[float, ...] = ()  # a box action's bounds
    high: tuple[float, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "sizes": list(self.sizes),
            "activation": self.activation,
            "action": self.action,
            "low": list(self.low),
            "high": list(self.high),
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> PolicyConfig:
        config = cls(
            sizes=tuple(int(v) for v in values["sizes"]),
            activation=str(values["activation"]),
            action=str(values["action"]),
            low=tuple(float(v) for v in values.get("low") or ()),
            high=tuple(float(v) for v in values.get("high") or ()),
        )
        if config.activation not in ACTIVATIONS or config.action not in ("discrete", "box"):
            raise ValueError(f"unknown activation or action kind in {dict(values)}")
        if len(config.sizes) < 2 or min(config.sizes) < 1:
            raise ValueError(f"layer sizes {list(config.sizes)} do not make a network")
        return config


class PolicyNetwork(nn.Module):
    """Linear layers with ``activation`` between them: observation in, action scores out."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        pairs = list(zip(config.sizes[:-1], config.sizes[1:], strict=True))
        for i, (n_in, n_out) in enumerate(pairs):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(pairs) - 1:
                layers.append(ACTIVATIONS[config.activation]())
        self.layers = nn.Sequential(*layers)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.layers(observation)  # type: ignore[no-any-return]

    @torch.no_grad()
    def act(self, observation: NDArray[Any] | Sequence[float]) -> NDArray[Any]:
        """The deterministic action for one observation (or a batch of them)."""
        inputs = torch.as_tensor(np.asarray(observation, dtype=np.float32)).flatten(
            start_dim=0 if np.ndim(observation) <= 1 else 1
        )
        outputs = self(inputs).numpy()
        if self.config.action == "discrete":
            return np.asarray(outputs.argmax(axis=-1))
        return np.clip(outputs, self.config.low, self.config.high)


def from_linears(linears: Sequence[nn.Linear], config: PolicyConfig) -> PolicyNetwork:
    """A :class:`PolicyNetwork` holding copies of ``linears``' weights, in order."""
    network = PolicyNetwork(config)
    mine = [m for m in network.layers if isinstance(m, nn.Linear)]
    if [(m.in_features, m.out_features) for m in mine] != [
        (m.in_features, m.out_features) for m in linears
    ]:
        raise ValueError("the agent's layers do not match the policy network's sizes")
    with torch.no_grad():
        for target, source in zip(mine, linears, strict=True):
            target.weight.copy_(source.weight.detach().cpu())
            target.bias.copy_(source.bias.detach().cpu())
    return network.eval()


def load_network(config: PolicyConfig, state: Mapping[str, torch.Tensor]) -> PolicyNetwork:
    """The network of ``config`` with ``state`` (exactly its keys and shapes) loaded."""
    network = PolicyNetwork(config)
    network.load_state_dict(dict(state), strict=True)
    return network.eval()
