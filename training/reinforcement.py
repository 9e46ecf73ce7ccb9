"""Reinforcement learning end to end: train DQN or PPO in an environment, judge it on fixed seeds, register the policy.

``train_policy(spec, catalog)`` is what :func:`training.train.train` runs for
``task: reinforcement_learning``:

1. make the environment (:mod:`training.environments`): a Gymnasium id, or the repricing
   market fitted from the spec's product dataset and its earlier versions (one a day);
2. search: each family first with its defaults (:data:`training.families.reinforcement.DEFAULTS`
   under the spec's ``params``), then Optuna's suggestions while budget and ``trials``
   last; each trial trains an agent (seeded by the spec) and is scored by its mean return
   over :data:`VALIDATION_EPISODES` validation seeds (the validation products in repricing);
3. evaluate the best agent's policy on the spec's ``episodes`` evaluation seeds
   (:func:`evaluation_seeds`, apart from training and validation seeds; the test products
   in repricing): ``mean_return``, ``std_return`` and a 95% t interval over the seeds;
4. gate it, each paired on the same evaluation seeds (a paired t test, sure at least
   :data:`training.gates.GATE_SURE`): beat a random policy, for repricing also the
   keep-the-price heuristic, by the spec's ``baseline_margin`` (a relative gain in
   return), and the champion by ``champion_margin``;
5. register the policy network as a ``state_dict`` plus JSON (:func:`save_policy`), never
   Stable-Baselines3's pickled ``.zip``, with a card naming the environment, its data
   version and lineage, and a reward-curve plot.

The same spec, data and seed give the same returns when no trial was cut short by the time
budget (the card says whether one was): agents train on one CPU thread with seeded
environments, and evaluation uses fixed seeds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog import Catalog
from core.errors import InvalidInputError, NotFoundError
from training.card import environment as environment_card
from training.data import lineage
from training.environments import (
    KEEP_PRICE,
    PRICE_STEPS,
    REPRICING,
    EnvironmentSpec,
    fit_market,
    gym_environment,
)
from training.families import families_for, merged
from training.families.reinforcement import DEFAULTS
from training.gates import GATE_SURE, GateResult
from training.intervals import Interval, fold_interval, paired_folds
from training.plots import reward_curve
from training.registry import ModelVersion, Registration, Registry, remove_staging
from training.runs import ProgressFile, new_run_id
from training.search import TrialRecord
from training.spec import TrainingSpec
from training.splits import Leakage
from training.task import ParamValue, Task

if TYPE_CHECKING:
    import gymnasium as gym

    from training.families.nets.policy import PolicyNetwork
    from training.train import TrainResult

Echo = Callable[[str], None]
Act = Callable[["gym.Env[Any, Any]", Any], Any]

VALIDATION_EPISODES = 10
VALIDATION_SEEDS_FROM = 500_000
EVALUATION_SEEDS_FROM = 1_000_000
CURVE_WINDOW = 20  # episodes averaged per point of the reward curve
POLICY_FILE = "policy.pt"
POLICY_JSON = "policy.json"
REWARD_CURVE = "reward_curve.png"
MIN_TRIAL_SECONDS = 2.0


def evaluation_seeds(episodes: int) -> list[int]:
    """The fixed seeds a policy is judged on, one episode each."""
    return list(range(EVALUATION_SEEDS_FROM, EVALUATION_SEEDS_FROM + episodes))


def validation_seeds() -> list[int]:
    return list(range(VALIDATION_SEEDS_FROM, VALIDATION_SEEDS_FROM + VALIDATION_EPISODES))


# -- the environment ------------------------------------------------------------------


def environment_for(spec: TrainingSpec, catalog: Catalog) -> tuple[EnvironmentSpec, Any]:
    """The spec's environment and, for repricing, the dataset version it was fitted on."""
    if spec.environment != REPRICING:
        return gym_environment(spec.environment or ""), None
    version = catalog.ensure_intact(catalog.version(spec.dataset))
    days = [v for v in catalog.versions(version.dataset) if v.number <= version.number]
    frames = [catalog.read(v).to_pandas() for v in days]
    market = fit_market(
        frames, spec.columns, spec.split.test, spec.split.validation, dataset=version.ref
    )
    return EnvironmentSpec(REPRICING, market, version.ref), version


# -- policies and their returns -------------------------------------------------------


def random_policy(env: gym.Env[Any, Any], observation: Any) -> Any:
    """A uniformly random action (the action space is seeded with the episode's seed)."""
    return env.action_space.sample()


def keep_price(env: gym.Env[Any, Any], observation: Any) -> Any:
    """The repricing heuristic: leave the price as it is."""
    return np.int64(KEEP_PRICE)


def network_policy(network: PolicyNetwork) -> Act:
    """The network's deterministic action, as the environment takes it."""

    def act(env: gym.Env[Any, Any], observation: Any) -> Any:
        action = network.act(observation)
        return np.int64(action) if network.config.action == "discrete" else action

    return act


def episode_returns(
    act: Act, environment: EnvironmentSpec, seeds: Sequence[int], split: str = "test"
) -> list[float]:
    """The return of one episode per seed (the environment and action space seeded by it)."""
    env = environment.make(split)
    returns = []
    try:
        for seed in seeds:
            observation, _ = env.reset(seed=seed)
            env.action_space.seed(seed)
            total, done = 0.0, False
            while not done:
                observation, reward, terminated, truncated, _ = env.step(act(env, observation))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns


def return_scores(returns: Sequence[float]) -> dict[str, float]:
    values = np.asarray(returns, dtype=float)
    return {"mean_return": float(values.mean()), "std_return": float(values.std(ddof=1))}


def return_interval(returns: Sequence[float]) -> Interval:
    """A 95% t interval of the mean return over the evaluation seeds."""
    interval = fold_interval(returns, test_share=0.0)  # independent seeds: the plain t interval
    return Interval(interval.low, interval.high, "seeds")


def policy_gate(
    gate: str, label: str, mine: Sequence[float], theirs: Sequence[float], margin: float
) -> GateResult:
    """Does ``mine`` beat ``theirs`` (returns on the same seeds) by ``margin``, beyond noise?"""
    value, reference = float(np.mean(mine)), float(np.mean(theirs))
    lift = margin * abs(reference)
    required = reference + lift
    comparison = paired_folds(list(mine), [t + lift for t in theirs], test_share=0.0)
    passed = value > required and comparison.sure >= GATE_SURE
    verdict = "beats" if passed else "does not beat"
    return GateResult(
        gate,
        passed,
        "mean_return",
        value,
        reference,
        required,
        margin,
        f"mean_return {value:.4g} {verdict} {label}'s {reference:.4g} by the margin "
        f"{margin:.0%} (needed more than {required:.4g}); {comparison.sure:.0%} sure by a "
        f"paired t test over the same {len(mine)} evaluation seeds (needed {GATE_SURE:.0%}).",
        comparison.sure,
        (comparison.low, comparison.high),
    )


# -- training an agent ----------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    """A trained agent's policy network and how its training went."""

    family: str
    params: Mapping[str, ParamValue]
    network: PolicyNetwork
    curve: tuple[tuple[int, float], ...]  # (timesteps, mean return of the last episodes)
    timesteps: int
    seconds: float
    cut_short: bool  # stopped by the time budget before its timesteps


@contextmanager
def _one_thread() -> Iterator[None]:
    """Agents train on one torch thread (``HARVEST_TORCH_THREADS`` overrides): small networks."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("HARVEST_TORCH_THREADS", "1")))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _linear(start: float) -> Callable[[float], float]:
    return lambda remaining: remaining * start


def _algorithm(name: str, p: Mapping[str, ParamValue], env: Any, seed: int) -> Any:
    """The Stable-Baselines3 agent ``name`` with parameters ``p`` on ``env``."""
    import torch
    from stable_baselines3 import DQN, PPO

    hidden, layers = int(p["hidden"] or 64), int(p["layers"] or 2)
    if name == "ppo":
        return PPO(
            "MlpPolicy",
            env,
            n_steps=int(p["n_steps"] or 32),
            batch_size=int(p["batch_size"] or 64),
            n_epochs=int(p["n_epochs"] or 10),
            gamma=float(p["gamma"] or 0.99),
            gae_lambda=float(p["gae_lambda"] or 0.95),
            learning_rate=_linear(float(p["learning_rate"] or 3e-4)),
            clip_range=_linear(float(p["clip_range"] or 0.2)),
            ent_coef=float(p["ent_coef"] or 0.0),
            policy_kwargs={"net_arch": [hidden] * layers, "activation_fn": torch.nn.Tanh},
            seed=seed,
            device="cpu",
        )
    return DQN(
        "MlpPolicy",
        env,
        learning_rate=float(p["learning_rate"] or 1e-4),
        batch_size=int(p["batch_size"] or 32),
        buffer_size=int(p["buffer_size"] or 100_000),
        learning_starts=int(p["learning_starts"] or 100),
        gamma=float(p["gamma"] or 0.99),
        target_update_interval=int(p["target_update_interval"] or 1000),
        train_freq=int(p["train_freq"] or 4),
        gradient_steps=int(p["gradient_steps"] or 1),
        exploration_fraction=float(p["exploration_fraction"] or 0.1),
        exploration_final_eps=float(p["exploration_final_eps"] or 0.05),
        policy_kwargs={"net_arch": [hidden] * layers},
        seed=seed,
        device="cpu",
    )


def extract_policy(name: str, model: Any) -> PolicyNetwork:
    """The acting part of a trained Stable-Baselines3 agent, as a :class:`PolicyNetwork`."""
    import gymnasium as gym
    from torch import nn

    from training.families.nets.policy import PolicyConfig, from_linears

    space = model.action_space
    if name == "dqn":
        linears = [m for m in model.q_net.q_net if isinstance(m, nn.Linear)]
        activation = "relu"
    else:
        policy = model.policy
        linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
        linears.append(policy.action_net)
        activation = "tanh"
    sizes = (linears[0].in_features, *(m.out_features for m in linears))
    if isinstance(space, gym.spaces.Discrete):
        config = PolicyConfig(sizes, activation, "discrete")
    else:
        config = PolicyConfig(
            sizes,
            activation,
            "box",
            tuple(float(v) for v in np.ravel(space.low)),
            tuple(float(v) for v in np.ravel(space.high)),
        )
    return from_linears(linears, config)


def _check_spaces(name: str, env: gym.Env[Any, Any], environment: EnvironmentSpec) -> None:
    import gymnasium as gym

    if (
        not isinstance(env.observation_space, gym.spaces.Box)
        or len(env.observation_space.shape) != 1
    ):
        raise InvalidInputError(
            f"Environment {environment.id} has {env.observation_space} observations; Harvest's "
            "policies take a flat vector of numbers (a Box of one dimension)."
        )
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    if name == "dqn" and not discrete:
        raise InvalidInputError(
            f"DQN needs discrete actions, and {environment.id} has {env.action_space}; use ppo."
        )
    if not discrete and not isinstance(env.action_space, gym.spaces.Box):
        raise InvalidInputError(
            f"Environment {environment.id} has {env.action_space} actions; PPO here takes "
            "discrete or Box actions."
        )


def train_agent(
    name: str,
    params: Mapping[str, ParamValue],
    environment: EnvironmentSpec,
    seed: int,
    seconds: float,
) -> Agent:
    """Train family ``name`` for its ``timesteps`` (or until ``seconds`` pass), seeded by ``seed``."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.monitor import Monitor

    p = merged(DEFAULTS[name], params)
    timesteps = int(p["timesteps"] or 10_000)
    started = time.perf_counter()
    returns: list[tuple[int, float]] = []

    class Watch(BaseCallback):  # type: ignore[misc]
        """Records episode returns; stops the agent when its time is up."""

        cut_short = False

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", ()):
                if "episode" in info:
                    returns.append((self.num_timesteps, float(info["episode"]["r"])))
            if time.perf_counter() - started > seconds:
                Watch.cut_short = True
                return False
            return True

    n_envs = int(p.get("n_envs") or 1)
    with _one_thread():
        probe = environment.make("train")
        _check_spaces(name, probe, environment)
        probe.close()
        env = make_vec_env(lambda: Monitor(environment.make("train")), n_envs=n_envs, seed=seed)
        model = _algorithm(name, p, env, seed)
        model.learn(total_timesteps=timesteps, callback=Watch())
        network = extract_policy(name, model)
        env.close()
    return Agent(
        family=name,
        params=dict(params),
        network=network,
        curve=_curve(returns),
        timesteps=int(model.num_timesteps),
        seconds=time.perf_counter() - started,
        cut_short=Watch.cut_short and model.num_timesteps < timesteps,
    )


def _curve(returns: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    """Mean return of the last :data:`CURVE_WINDOW` episodes, at most 200 points."""
    if not returns:
        return ()
    steps = [s for s, _ in returns]
    values = np.asarray([r for _, r in returns], dtype=float)
    every = max(1, len(values) // 200)
    return tuple(
        (steps[i], float(values[max(0, i + 1 - CURVE_WINDOW) : i + 1].mean()))
        for i in range(every - 1, len(values), every)
    )


# -- the search -----------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """Every trial, and the best agent (by mean return on the validation seeds)."""

    trials: tuple[TrialRecord, ...]
    best: Agent
    best_trial: TrialRecord
    seconds: float


def search_agents(
    spec: TrainingSpec,
    environment: EnvironmentSpec,
    on_trial: Callable[[TrialRecord], None] = lambda _: None,
) -> Search:
    """Each family with its defaults, then Optuna's suggestions while budget and trials last."""
    import optuna

    chosen = [
        f for f in families_for(Task.REINFORCEMENT_LEARNING, spec.families) if f.name != "dummy"
    ]
    if not chosen:
        raise InvalidInputError("Name dqn or ppo (or both) as families for reinforcement learning.")
    started = time.perf_counter()
    trials: list[TrialRecord] = []
    agents: list[Agent] = []

    def run(name: str, params: dict[str, ParamValue], phase: str, seconds: float) -> float:
        fixed = dict(spec.params.get(name, {}))
        merged(DEFAULTS[name], fixed)  # an unknown fixed parameter is one sentence, first
        agent = train_agent(name, {**params, **fixed}, environment, spec.seed, seconds)
        returns = episode_returns(
            network_policy(agent.network), environment, validation_seeds(), "validation"
        )
        score = float(np.mean(returns))
        trial = TrialRecord(
            number=len(trials),
            phase=phase,
            family=name,
            params=dict(agent.params),
            state="complete",
            score=score,
            std=float(np.std(returns)),
            fold_scores=tuple(returns),
            seconds=agent.seconds,
            message=f"{agent.timesteps} timesteps"
            + (", cut short by the budget" if agent.cut_short else ""),
        )
        trials.append(trial)
        agents.append(agent)
        on_trial(trial)
        return score

    def left() -> float:
        return spec.time_budget - (time.perf_counter() - started)

    for i, f in enumerate(chosen):
        run(f.name, {}, "selection", max(left() / (len(chosen) - i), MIN_TRIAL_SECONDS))
    tuning = spec.trials if spec.trials is not None else 10**6
    sampler = optuna.samplers.TPESampler(seed=spec.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    best_family = chosen[int(np.argmax([t.score or 0.0 for t in trials]))]
    while tuning > 0 and (spec.trials is not None or left() > MIN_TRIAL_SECONDS * 5):
        trial = study.ask()
        params = best_family.space(trial, Task.REINFORCEMENT_LEARNING)
        study.tell(trial, run(best_family.name, params, "tuning", max(left(), MIN_TRIAL_SECONDS)))
        tuning -= 1
    whole = [i for i, a in enumerate(agents) if not a.cut_short] or list(range(len(agents)))
    best = max(whole, key=lambda i: (trials[i].score or 0.0, -i))
    return Search(tuple(trials), agents[best], trials[best], time.perf_counter() - started)


# -- the artifact ---------------------------------------------------------------------


def save_policy(network: PolicyNetwork, folder: Path, meta: Mapping[str, object]) -> list[str]:
    """``policy.pt`` (the ``state_dict``, tensors only) and ``policy.json`` (config and ``meta``)."""
    import torch

    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    torch.save(state, folder / POLICY_FILE)
    document = {"format": "harvest-policy/1", "network": network.config.to_json(), **meta}
    (folder / POLICY_JSON).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return [POLICY_FILE, POLICY_JSON]


def load_policy(folder: Path) -> tuple[PolicyNetwork, dict[str, Any]]:
    """The network saved by :func:`save_policy` (weights only) and its JSON; else one sentence."""
    import torch

    from training.families.nets.policy import PolicyConfig, load_network

    try:
        document = json.loads((folder / POLICY_JSON).read_text(encoding="utf-8"))
        state = torch.load(folder / POLICY_FILE, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise ValueError("the state is not a mapping of tensors")
        network = load_network(PolicyConfig.from_json(document["network"]), state)
    except FileNotFoundError as error:
        raise NotFoundError(
            f"Model folder {folder} lacks {Path(str(error.filename)).name}; it was not loaded."
        ) from error
    except Exception as error:  # a hostile or damaged file fails in many ways, all refused
        raise InvalidInputError(
            f"Model folder {folder} holds a policy that could not be read "
            f"({type(error).__name__}); it was not loaded."
        ) from error
    return network, document


def predict_observation(folder: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's action for ``{"observation": [...]}`` (and, for repricing, the new price
    when the record gives today's ``price``)."""
    network, document = load_policy(folder)
    observation = record.get("observation") if isinstance(record, Mapping) else None
    size = network.config.sizes[0]
    try:
        values = np.asarray(observation, dtype=np.float32).ravel()
    except (TypeError, ValueError):
        values = np.asarray([], dtype=np.float32)
    if observation is None or values.size != size or not np.all(np.isfinite(values)):
        raise InvalidInputError(
            f'Give the observation as {{"observation": [...]}}: a list of {size} finite numbers.'
        )
    action = network.act(values)
    result: dict[str, Any] = {"action": action.tolist()}
    if document.get("environment", {}).get("id") == REPRICING:
        factor = PRICE_STEPS[int(action)]
        result["price_change"] = factor
        price = record.get("price")
        if isinstance(price, int | float) and not isinstance(price, bool) and price > 0:
            result["price"] = round(float(price) * factor, 2)
    return result


# -- the run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """The winner's returns on the evaluation seeds and its gates."""

    returns: list[float]
    references: dict[str, list[float]]  # policy label -> its returns on the same seeds
    gates: tuple[GateResult, ...]


def judge(
    spec: TrainingSpec,
    environment: EnvironmentSpec,
    network: PolicyNetwork,
    registry: Registry,
    exclude: int | None = None,
) -> Judged:
    """Returns on the evaluation seeds and the gates: random, keep-the-price, champion."""
    seeds = evaluation_seeds(spec.episodes)
    mine = episode_returns(network_policy(network), environment, seeds)
    references = {"random policy": episode_returns(random_policy, environment, seeds)}
    margin = spec.gates.baseline_margin
    gates = [policy_gate("baseline", "a random policy", mine, references["random policy"], margin)]
    if environment.id == REPRICING:
        references["keep the price"] = episode_returns(keep_price, environment, seeds)
        gates.append(
            policy_gate(
                "heuristic", "keeping the price", mine, references["keep the price"], margin
            )
        )
    gates.append(_champion(spec, environment, registry, mine, seeds, exclude))
    return Judged(mine, references, tuple(gates))


def _champion(
    spec: TrainingSpec,
    environment: EnvironmentSpec,
    registry: Registry,
    mine: Sequence[float],
    seeds: Sequence[int],
    exclude: int | None,
) -> GateResult:
    number = registry.alias(spec.name, "champion")
    value = float(np.mean(mine))
    if number is None or number == exclude:
        return GateResult(
            "champion",
            True,
            "mean_return",
            value,
            None,
            None,
            spec.gates.champion_margin,
            "There is no champion yet.",
        )
    champion = registry.get(f"{spec.name}@{number}")
    try:
        network, document = load_policy(champion.path)
        if document.get("environment", {}).get("id") != environment.id:
            raise InvalidInputError(f"it acts in {document.get('environment', {}).get('id')}")
        theirs = episode_returns(network_policy(network), environment, seeds)
    except Exception as error:  # an unscorable champion blocks replacement, with the reason
        why = str(error).splitlines()[0] if str(error) else type(error).__name__
        return GateResult(
            "champion",
            False,
            "mean_return",
            value,
            None,
            None,
            spec.gates.champion_margin,
            f"Champion {champion.ref} could not be scored on these evaluation "
            f"seeds ({why}); train under a new model name.",
        )
    return policy_gate(
        "champion", f"champion {champion.ref}", mine, theirs, spec.gates.champion_margin
    )


def _card(
    spec: TrainingSpec,
    number: int,
    run_id: str,
    environment: EnvironmentSpec,
    version: Any,
    steps: Sequence[Any],
    search: Search,
    judged: Judged,
    promoted: str | None,
) -> dict[str, Any]:
    agent = search.best
    scores = return_scores(judged.returns)
    interval = return_interval(judged.returns)
    baseline = {label: return_scores(r)["mean_return"] for label, r in judged.references.items()}
    market = environment.market
    return {
        "model": spec.name,
        "version": number,
        "ref": f"{spec.name}@{number}",
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "task": Task.REINFORCEMENT_LEARNING.value,
        "target": spec.target,
        "metric": "mean_return",
        "family": agent.family,
        "params": {**DEFAULTS[agent.family], **agent.params},
        "features": {"columns": []},
        "reinforcement": {
            "environment": environment.id,
            "timesteps": agent.timesteps,
            "training_seconds": round(agent.seconds, 2),
            "cut_short": any("cut short" in t.message for t in search.trials),
            "evaluation_seeds": evaluation_seeds(spec.episodes),
            "returns": judged.returns,
            "references": judged.references,
            "elasticity": dict(market.elasticity) if market else None,
            "transitions": dict(market.transitions) if market else None,
            "products": {s: len(market.starts(s)) for s in ("train", "validation", "test")}
            if market
            else None,
        },
        "data": {
            "dataset": version.dataset if version else None,
            "version": version.number if version else None,
            "ref": version.ref if version else f"gymnasium:{environment.id}",
            "content_hash": version.content_hash if version else None,
            "rows": version.rows if version else None,
            "days": market.days if market else None,
            "producer": version.producer if version else "gymnasium",
            "lineage": [
                {
                    "ref": s.ref,
                    "producer": s.producer,
                    "content_hash": s.content_hash,
                    "parents": list(s.parents),
                }
                for s in steps
            ],
        },
        "search": {
            "budget_seconds": spec.time_budget,
            "seconds": round(search.seconds, 2),
            "trials": len(search.trials),
            "best": search.best_trial.to_json(),
        },
        "evaluation": {
            "protocol": "evaluation_seeds",
            "summary": f"Mean episode return over {spec.episodes} fixed evaluation seeds "
            + ("on the test products." if market else "apart from the training seeds."),
        },
        "metrics": {
            "test": scores,
            "intervals": {"mean_return": interval.to_json()},
            "validation": {"mean_return": search.best_trial.score},
        },
        "baseline": {
            "family": "random policy",
            "test": {"mean_return": baseline["random policy"]},
            "policies": baseline,
        },
        "gates": [g.to_json() for g in judged.gates],
        "promoted": promoted,
        "plots": [f"plots/{REWARD_CURVE}"],
        "artifact": {"format": "torch state_dict + JSON", "files": [POLICY_FILE, POLICY_JSON]},
        "environment": environment_card("cpu"),
        "intended_use": (
            "Suggest each day's price change for a product like the test products."
            if market
            else f"Act in the Gymnasium environment {environment.id}."
        ),
        "limits": [
            "Judged in a simulated market fitted from scraped prices and stock, not in live use."
            if market
            else "Judged in simulation only.",
            "Not for decisions about people.",
        ],
        "spec": spec.to_json(),
    }


def render_policy_card(card: Mapping[str, Any]) -> str:
    """``MODEL_CARD.md`` of a policy."""
    rl, metrics = card["reinforcement"], card["metrics"]
    interval = metrics["intervals"]["mean_return"]
    lines = [
        f"# Model card: {card['ref']}",
        "",
        f"*reinforcement learning* in `{rl['environment']}` with **{card['family']}**, trained "
        f"{card['created_at'][:19].replace('T', ' ')} UTC (run `{card['run_id']}`).",
        "",
        card["intended_use"],
        "",
        f"- Data: `{card['data']['ref']}`",
        f"- Training: {rl['timesteps']} timesteps in {rl['training_seconds']} s"
        + (" (a trial was cut short by the budget)" if rl["cut_short"] else ""),
        f"- mean_return {metrics['test']['mean_return']:.4g} (95% interval "
        f"{interval['low']:.4g} to {interval['high']:.4g}), std_return "
        f"{metrics['test']['std_return']:.4g}, over {len(rl['evaluation_seeds'])} evaluation seeds",
        *[
            f"- {label}: mean_return {value:.4g}"
            for label, value in card["baseline"]["policies"].items()
        ],
        "",
        "## Gates",
        "",
        *[
            f"- {g['gate']}: {'passed' if g['passed'] else 'FAILED'} — {g['detail']}"
            for g in card["gates"]
        ],
        "",
        f"![reward curve]({card['plots'][0]})",
        "",
    ]
    return "\n".join(lines)


def train_policy(
    spec: TrainingSpec,
    catalog: Catalog,
    *,
    run_id: str | None = None,
    echo: Echo | None = None,
    promote: bool = True,
) -> TrainResult:
    """Train, judge and register a policy for ``spec`` (see the module docstring)."""
    from training.train import TrainResult, _write_json

    say: Echo = echo or (lambda _: None)
    run_id = run_id or new_run_id(spec.name)
    progress = ProgressFile(catalog.workspace, run_id, spec)
    registry = Registry(catalog)
    staging: Path | None = None
    try:
        progress.stage("loading", f"making {spec.environment}")
        environment, version = environment_for(spec, catalog)
        say(
            f"{environment.id}"
            + (f" from {version.ref}" if version else "")
            + f"; {spec.time_budget:g} s budget"
        )
        progress.stage("searching", f"{spec.time_budget:g} s budget")

        def on_trial(trial: TrialRecord) -> None:
            progress.trial(trial.to_json(), None)
            say(
                f"  trial {trial.number:>3} {trial.phase:<9} {trial.family:<6} "
                f"validation mean_return {trial.score:.4g} ({trial.message})"
            )

        search = search_agents(spec, environment, on_trial)
        progress.stage("evaluating", f"{spec.episodes} evaluation seeds")
        judged = judge(spec, environment, search.best.network, registry)
        baseline_passed = all(g.passed for g in judged.gates if g.gate != "champion")
        promoted = None
        if promote and baseline_passed:
            promoted = "champion" if judged.gates[-1].passed else "challenger"
        for gate in judged.gates:
            say(f"gate {gate.gate}: {'passed' if gate.passed else 'FAILED'} - {gate.detail}")
        progress.stage("registering", "writing the policy")
        staging = registry.staging(spec.name)
        meta = {"family": search.best.family, "environment": environment.to_json()}
        save_policy(search.best.network, staging, meta)
        scores = return_scores(judged.returns)
        references = {
            label: return_scores(r)["mean_return"] for label, r in judged.references.items()
        }
        label = f"{search.best.family} (mean of the last {CURVE_WINDOW} training episodes)"
        reward_curve(search.best.curve, label, references, staging / "plots" / REWARD_CURVE)
        _write_json(staging / "leaderboard.json", [t.to_json() for t in search.trials])
        interval = return_interval(judged.returns)
        _write_json(
            staging / "metrics.json",
            {
                "protocol": "evaluation_seeds",
                "test": scores,
                "intervals": {"mean_return": interval.to_json()},
                "baseline": references,
            },
        )
        steps = lineage(catalog, version) if version else ()

        def write_card(number: int, folder: Path) -> None:
            card = _card(
                spec, number, run_id, environment, version, steps, search, judged, promoted
            )
            _write_json(folder / "card.json", card)
            (folder / "MODEL_CARD.md").write_text(render_policy_card(card), encoding="utf-8")

        entry = Registration(
            task=Task.REINFORCEMENT_LEARNING.value,
            target=spec.target,
            family=search.best.family,
            metric="mean_return",
            score=scores["mean_return"],
            baseline=references["random policy"],
            dataset=version.ref if version else f"gymnasium:{environment.id}",
            content_hash=version.content_hash if version else "",
            gates_passed=all(g.passed for g in judged.gates),
            run_id=run_id,
        )
        registered = registry.register(
            spec.name,
            staging,
            entry,
            write_card,
            gates=[g.to_json() for g in judged.gates],
            alias=promoted,
        )
        staging = None
    except BaseException as error:
        progress.failed(str(error) or type(error).__name__)
        if staging is not None:
            remove_staging(staging)
        raise
    say(
        f"registered {registered.ref} (mean_return {scores['mean_return']:.4g}, 95% interval "
        f"{interval.low:.4g} to {interval.high:.4g}); promoted to {promoted or 'nothing'}"
    )
    progress.done(
        {
            "model": registered.model,
            "version": registered.version,
            "ref": registered.ref,
            "metric": "mean_return",
            "score": scores["mean_return"],
            "baseline": references["random policy"],
            "promoted": promoted,
            "path": str(registered.path),
        }
    )
    return TrainResult(
        run_id=run_id,
        version=registered,
        task=Task.REINFORCEMENT_LEARNING,
        metric="mean_return",
        test=scores,
        baseline={"mean_return": references["random policy"]},
        gates=judged.gates,
        promoted=promoted,
        leaderboard=search.trials,
        leakage=Leakage(0, 0),
        intervals={"mean_return": (interval.low, interval.high)},
        protocol="evaluation_seeds",
    )


def policy_gates(
    catalog: Catalog, version: ModelVersion, card: Mapping[str, Any]
) -> tuple[GateResult, ...]:
    """A registered policy's gates judged again on its spec's evaluation seeds."""
    from training.spec import spec_from_mapping

    values = {**card["spec"], "name": version.model}
    if version.dataset and not version.dataset.startswith("gymnasium:"):
        values["dataset"] = version.dataset
    spec = spec_from_mapping(values, origin=f"card of {version.ref}")
    environment, _ = environment_for(spec, catalog)
    network, _ = load_policy(version.path)
    return tuple(
        judge(spec, environment, network, Registry(catalog), exclude=version.version).gates
    )
