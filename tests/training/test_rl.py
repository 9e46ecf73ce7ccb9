"""Reinforcement learning: environments pass Gymnasium's checker, seeded runs repeat, policies are
saved as weights only, predict acts, and the gates judge on the same evaluation seeds."""

from __future__ import annotations

import json
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from catalog import Catalog
from core.errors import InvalidInputError, NotFoundError
from core.workspace import Workspace
from harvest.cli import main
from training.environments import (
    ELASTICITY_RANGE,
    KEEP_PRICE,
    EnvironmentSpec,
    RepricingEnv,
    fit_market,
    gym_environment,
)
from training.predict import predict_record
from training.registry import Registry
from training.reinforcement import (
    POLICY_FILE,
    episode_returns,
    evaluation_seeds,
    keep_price,
    load_policy,
    network_policy,
    policy_gate,
    random_policy,
    train_agent,
)
from training.spec import spec_from_mapping
from training.train import TrainResult, train

TINY = {"timesteps": 512, "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 2}


def shop_day(day: int, products: int = 45) -> pd.DataFrame:
    """One day of a small shop: prices move around a fixed reference, stock comes and goes."""
    rng = np.random.default_rng(day)
    reference = np.random.default_rng(0).uniform(5, 100, products)
    return pd.DataFrame(
        {
            "sku": [f"p{i}" for i in range(products)],
            "category": [("garden", "kitchen", "toys")[i % 3] for i in range(products)],
            "price": np.round(reference * rng.uniform(0.85, 1.15, products), 2),
            "was_price": np.where(rng.random(products) < 0.3, np.round(reference * 1.2, 2), np.nan),
            "in_stock": rng.random(products) < 0.6,
        }
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A workspace whose imports.products has three versions, one a day."""
    home = tmp_path_factory.mktemp("rl") / "home"
    catalog = Catalog.open(Workspace.at(home).ensure())
    for day in (1, 2, 3):
        catalog.commit("imports.products", shop_day(day), producer="user:test", key=("sku",))
    return catalog


def cartpole_spec(**changes: object) -> dict[str, object]:
    return {
        "task": "reinforcement_learning",
        "environment": "CartPole-v1",
        "families": ["ppo"],
        "trials": 0,
        "episodes": 5,
        "params": {"ppo": TINY},
        **changes,
    }


@pytest.fixture(scope="module")
def cartpole(shop: Catalog) -> TrainResult:
    """A PPO policy for CartPole trained for a few hundred steps and registered."""
    return train(spec_from_mapping(cartpole_spec()), shop)


def test_the_repricing_market_and_a_gym_env_pass_the_env_checker() -> None:
    market = fit_market([shop_day(d) for d in (1, 2, 3)], {})
    for split in ("train", "test"):
        check_env(RepricingEnv(market, split), skip_render_check=True)
    check_env(gym_environment("CartPole-v1").make().unwrapped, skip_render_check=True)


def test_the_market_fits_an_elasticity_per_category_and_keeps_test_products_apart() -> None:
    days = [shop_day(d).rename(columns={"price": "cost"}) for d in (1, 2, 3)]
    market = fit_market(days, {"price": "cost"})
    assert set(market.elasticity) == {"garden", "kitchen", "toys"}
    assert all(ELASTICITY_RANGE[0] <= e <= ELASTICITY_RANGE[1] for e in market.elasticity.values())
    assert market.transitions == {"garden": 30, "kitchen": 30, "toys": 30}  # 15 products x 2
    train_products = {d.product for d in market.train}
    test_products = {d.product for d in market.test}
    assert test_products and train_products and not train_products & test_products
    assert len(market.train) + len(market.validation) + len(market.test) == 3 * 45
    with pytest.raises(NotFoundError, match="no column 'price' for the repricing market"):
        fit_market(days, {})
    with pytest.raises(InvalidInputError, match="no role 'cost'"):
        fit_market(days, {"cost": "price"})


def test_keeping_the_price_is_beaten_by_selling_stock_evenly() -> None:
    """The market rewards pricing for the stock: the heuristic is not the best policy."""
    market = fit_market([shop_day(d) for d in (1, 2, 3)], {})
    environment = EnvironmentSpec("repricing", market)

    def even(env: object, observation: np.ndarray) -> np.int64:
        """Move towards the price at which the stock left sells out on the last day."""
        price, _, stock, days_left, elasticity = (float(v) for v in observation)
        target = float(np.clip((max(stock, 1e-6) / days_left) ** (1 / elasticity), 0.5, 2.0))
        step = 4 if price < target / 1.1 else 0 if price > target * 1.1 else 2
        return np.int64(step)

    seeds = evaluation_seeds(30)
    kept = episode_returns(keep_price, environment, seeds)
    assert np.mean(episode_returns(even, environment, seeds)) > 1.05 * np.mean(kept)
    assert KEEP_PRICE == 2


def test_the_same_spec_data_and_seed_give_the_same_returns(shop: Catalog) -> None:
    market = fit_market([shop_day(d) for d in (1, 2, 3)], {})
    environment = EnvironmentSpec("repricing", market)
    runs = [train_agent("ppo", TINY, environment, seed, 60.0) for seed in (3, 3, 4)]
    seeds = evaluation_seeds(8)
    returns = [episode_returns(network_policy(run.network), environment, seeds) for run in runs]
    assert returns[0] == returns[1] and runs[0].curve == runs[1].curve
    states = [run.network.state_dict() for run in runs]
    assert all(np.array_equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(np.array_equal(states[0][k], states[2][k]) for k in states[0])


def test_the_extracted_network_acts_as_the_trained_agent() -> None:
    from stable_baselines3 import DQN

    from training.reinforcement import extract_policy

    environment = gym_environment("CartPole-v1")
    model = DQN("MlpPolicy", environment.make(), learning_starts=10, seed=0, device="cpu")
    model.learn(64)
    network = extract_policy("dqn", model)
    observations = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    expected, _ = model.predict(observations, deterministic=True)
    assert np.array_equal(network.act(observations), expected)


def test_the_policy_artifact_is_weights_only_with_no_pickled_objects(cartpole: TrainResult) -> None:
    import torch

    folder = cartpole.version.path
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "MODEL_CARD.md", "card.json", "leaderboard.json", "metrics.json", "policy.json", "policy.pt",
    ]  # fmt: skip
    state = torch.load(folder / POLICY_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    with zipfile.ZipFile(folder / POLICY_FILE) as archive:
        pickled = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        ops = list(pickletools.genops(archive.read(pickled)))
    # the only objects the pickle names are torch's tensor rebuilders and an OrderedDict
    named, strings = set(), []
    for op, arg, _ in ops:
        if "UNICODE" in op.name:
            strings.append(str(arg))
        elif op.name == "GLOBAL":
            named.add(str(arg))
        elif op.name == "STACK_GLOBAL":
            named.add(" ".join(strings[-2:]))
    assert named and all(n.startswith(("torch", "collections OrderedDict")) for n in named), named
    document = json.loads((folder / "policy.json").read_text())
    assert document["environment"]["id"] == "CartPole-v1" and document["network"]["sizes"] == [
        4,
        64,
        64,
        2,
    ]
    card = json.loads((folder / "card.json").read_text())
    assert card["artifact"]["files"] == ["policy.pt", "policy.json"]
    assert card["data"]["ref"] == "gymnasium:CartPole-v1" and card["reinforcement"][
        "evaluation_seeds"
    ] == evaluation_seeds(5)
    network, _ = load_policy(folder)
    assert network.act([0.0, 0.0, 0.0, 0.0]).shape == ()
    Registry(Catalog.open(folder.parents[2])).verify(cartpole.version)


def test_a_tampered_policy_is_refused_with_one_sentence(
    cartpole: TrainResult, tmp_path: Path
) -> None:
    import torch

    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "policy.json").write_text((cartpole.version.path / "policy.json").read_text())
    from fractions import Fraction

    for hostile in ({"layers.0.weight": [1, 2, 3]}, {"evil": Fraction(1, 3)}):
        torch.save(hostile, folder / POLICY_FILE)
        with pytest.raises(InvalidInputError, match="holds a policy that could not be read"):
            load_policy(folder)


def test_evaluation_reports_mean_std_and_an_interval_over_the_seeds(cartpole: TrainResult) -> None:
    low, high = cartpole.intervals["mean_return"]
    assert low <= cartpole.test["mean_return"] <= high and cartpole.test["std_return"] >= 0
    assert cartpole.protocol == "evaluation_seeds" and cartpole.metric == "mean_return"
    assert (cartpole.version.path / "plots" / "reward_curve.png").stat().st_size > 1000


def test_predict_returns_the_action_and_for_repricing_the_price(
    cartpole: TrainResult, shop: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = predict_record(shop, cartpole.version.ref, {"observation": [0.0, 0.1, 0.02, -0.1]})
    assert answer["model"] == cartpole.version.ref and answer["action"] in (0, 1)
    with pytest.raises(InvalidInputError, match="a list of 4 finite numbers"):
        predict_record(shop, cartpole.version.ref, {"observation": [1.0, "x"]})
    home = shop.workspace.home
    try:
        main(
            [
                "--home",
                str(home),
                "predict",
                cartpole.version.ref,
                "--record",
                '{"observation": [0, 0, 0, 0]}',
            ]
        )
    except SystemExit as exit_:
        assert not exit_.code
    assert json.loads(capsys.readouterr().out)["action"] in (0, 1)
    spec = {"environment": "repricing", "dataset": "imports.products", "episodes": 4}
    priced = train(spec_from_mapping(cartpole_spec(**spec)), shop)
    answer = predict_record(
        shop, priced.version.ref, {"observation": [1.0, 1.2, 0.5, 1.0, -2.0], "price": 20.0}
    )
    assert answer["price_change"] in (0.85, 0.95, 1.0, 1.05, 1.15)
    assert answer["price"] == round(20.0 * answer["price_change"], 2)
    assert [g.gate for g in priced.gates] == ["baseline", "heuristic", "champion"]
    card = json.loads((priced.version.path / "card.json").read_text())
    assert (
        card["data"]["ref"] == "imports.products@3"
        and card["reinforcement"]["products"]["test"] > 0
    )


def test_the_gates_compare_with_a_random_policy_on_the_same_seeds(cartpole: TrainResult) -> None:
    baseline = cartpole.gates[0]
    assert baseline.gate == "baseline" and baseline.passed, baseline.detail
    assert "random policy" in baseline.detail and baseline.value > baseline.reference  # type: ignore[operator]
    seeds = evaluation_seeds(10)
    environment = gym_environment("CartPole-v1")
    randomly = episode_returns(random_policy, environment, seeds)
    assert randomly == episode_returns(random_policy, environment, seeds)  # seeded
    tie = policy_gate("baseline", "a random policy", randomly, randomly, 0.05)
    assert not tie.passed and "does not beat" in tie.detail
    noisy = policy_gate("baseline", "x", [r + 0.5 for r in randomly], randomly, 0.0)
    assert noisy.passed and noisy.sure == 1.0
    close = policy_gate(
        "baseline", "x", [r + (1 if i % 2 else -0.8) for i, r in enumerate(randomly)], randomly, 0.0
    )
    assert not close.passed and "sure" in close.detail  # a small gain within noise


def test_specs_for_reinforcement_learning_are_checked() -> None:
    spec = spec_from_mapping(cartpole_spec())
    assert spec.name == "cartpole-v1-policy" and spec.target == "return" and spec.dataset == ""
    assert spec_from_mapping(spec.to_json()) == spec
    with pytest.raises(InvalidInputError, match="needs 'environment'"):
        spec_from_mapping({"task": "reinforcement_learning"})
    with pytest.raises(InvalidInputError, match="repricing environment needs 'dataset'"):
        spec_from_mapping({"task": "reinforcement_learning", "environment": "repricing"})
    with pytest.raises(InvalidInputError, match="Family 'forest' cannot do reinforcement_learning"):
        from training.families import families_for

        families_for(spec.task, ["forest"])  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no Gymnasium environment 'Nope-v0'"):
        gym_environment("Nope-v0")


def test_promote_rejudges_a_policy_on_the_same_seeds_and_refuses_a_tie(
    cartpole: TrainResult, shop: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.train import promote

    again = train(spec_from_mapping(cartpole_spec()), shop, promote=False)
    assert again.promoted is None and again.test == cartpole.test  # same spec, data and seed
    verdict = promote(shop, again.version.ref)
    assert not verdict.promoted and [g.gate for g in verdict.gates] == ["baseline", "champion"]
    assert "does not beat champion" in verdict.message  # a tie within noise replaces nothing
    assert promote(shop, cartpole.version.ref).message.endswith("is already the champion.")
    with pytest.raises(SystemExit) as exit_:
        main(["--home", str(shop.workspace.home), "train", "--environment", "Nope-v0"])
    assert exit_.value.code == 1
    assert "There is no Gymnasium environment 'Nope-v0'" in capsys.readouterr().err
