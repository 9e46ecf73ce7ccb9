"""The reinforcement-learning families: Stable-Baselines3's DQN and PPO.

They learn a policy in an environment, not a model of a table, so their ``build`` refuses a
table and :mod:`training.reinforcement` trains them (:data:`DEFAULTS` are their parameters;
``timesteps`` is how long an agent trains, ``hidden`` and ``layers`` its network's shape).
The defaults are RL Baselines3 Zoo's tuned CartPole-v1 settings, which suit small
discrete problems; Optuna tunes the main ones (:func:`space_ppo`, :func:`space_dqn`).
A saved policy is a ``state_dict`` plus JSON (:mod:`training.families.nets.policy`),
so these families add no skops types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import InvalidInputError
from training.families import Family, FamilyContext
from training.task import Params, ParamValue, Task

if TYPE_CHECKING:
    import optuna
    from sklearn.pipeline import Pipeline

RL = frozenset({Task.REINFORCEMENT_LEARNING})

DEFAULTS: dict[str, dict[str, ParamValue]] = {
    "ppo": {
        "timesteps": 60_000,
        "n_envs": 8,
        "n_steps": 32,
        "batch_size": 256,
        "n_epochs": 20,
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "learning_rate": 1e-3,  # falls linearly to zero, as does clip_range
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "hidden": 64,
        "layers": 2,
    },
    "dqn": {
        "timesteps": 50_000,
        "learning_rate": 2.3e-3,
        "batch_size": 64,
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "gamma": 0.99,
        "target_update_interval": 10,
        "train_freq": 256,
        "gradient_steps": 128,
        "exploration_fraction": 0.16,
        "exploration_final_eps": 0.04,
        "hidden": 256,
        "layers": 2,
    },
}


def build_agent(ctx: FamilyContext, params: Params) -> Pipeline:
    raise InvalidInputError(
        "DQN and PPO learn in an environment, not from a table; use task: "
        "reinforcement_learning with an environment."
    )


def space_ppo(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "learning_rate": trial.suggest_float("ppo.learning_rate", 1e-4, 3e-3, log=True),
        "gamma": trial.suggest_categorical("ppo.gamma", [0.95, 0.98, 0.99]),
        "gae_lambda": trial.suggest_categorical("ppo.gae_lambda", [0.8, 0.9, 0.95]),
        "ent_coef": trial.suggest_float("ppo.ent_coef", 1e-5, 1e-2, log=True),
        "n_epochs": trial.suggest_int("ppo.n_epochs", 5, 20),
    }


def space_dqn(trial: optuna.Trial, task: Task) -> dict[str, ParamValue]:
    return {
        "learning_rate": trial.suggest_float("dqn.learning_rate", 1e-4, 3e-3, log=True),
        "gamma": trial.suggest_categorical("dqn.gamma", [0.95, 0.98, 0.99]),
        "exploration_fraction": trial.suggest_float("dqn.exploration_fraction", 0.05, 0.3),
        "target_update_interval": trial.suggest_categorical(
            "dqn.target_update_interval", [10, 100, 1000]
        ),
    }


FAMILIES = (
    Family(
        name="dqn",
        description="Deep Q-Network (Stable-Baselines3), discrete actions",
        tasks=RL,
        default_for=RL,
        build=build_agent,
        space=space_dqn,
        estimators=("training.families.nets.policy.PolicyNetwork",),
        rank=110,
    ),
    Family(
        name="ppo",
        description="Proximal Policy Optimization (Stable-Baselines3)",
        tasks=RL,
        default_for=RL,
        build=build_agent,
        space=space_ppo,
        estimators=("training.families.nets.policy.PolicyNetwork",),
        rank=111,
    ),
)
