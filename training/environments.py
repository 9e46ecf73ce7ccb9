"""Environments for reinforcement learning: the repricing market built from product data, and Gymnasium's own.

The **repricing market** (:class:`RepricingEnv`) is made from a product dataset's versions,
one version a day (the demo shop's daily scrapes): per product and day its price, list
price, stock and category, in columns a spec may rename (:data:`DEFAULT_COLUMNS`).

What the market assumes, and how it is fitted (:func:`fit_market`):

* A product's **reference price** is the median of its observed prices; its **list price**
  the median of its list prices (its price when it has none).
* **Demand** at price ``p`` is log-linear in price: ``log q = log q0 + e_c log(p / ref)``
  with ``q0`` one unit a day at the reference price and ``e_c`` the category's price
  elasticity, times a log-normal day-to-day noise (sd :data:`DEMAND_NOISE`). ``e_c`` is
  fitted per category over the days: the least-squares slope of the log share of stock
  sold from one day to the next (the stock column's drop, or a sell-out for a yes/no or
  availability column) on the log relative price, shrunk towards the prior
  :data:`PRIOR_ELASTICITY` with the weight of :data:`PRIOR_WEIGHT` observations and
  clipped to :data:`ELASTICITY_RANGE` (elastic demand: without stock limits a lower price
  always earns more). Where prices or stock never move with each other (the demo shop
  moves them independently), the prior decides, and the card says how many transitions
  each category's fit had.
* **Stock** at the start of an episode is the product's stock on the sampled day, as days
  of demand at the reference price: a number relative to the median stock, times
  :data:`HORIZON`; yes/no and schema.org availability map to :data:`STOCK_LEVELS`.
* An **episode** is one product from one day on for :data:`HORIZON` days: each day the
  agent moves the price by one of :data:`PRICE_STEPS` (within :data:`PRICE_BOUNDS` of the
  reference), sells ``min(demand, stock)`` and earns the revenue (in reference prices) as
  reward. It ends after ``HORIZON`` days or when the stock is gone. Keeping the price
  sells out early when stock is short and leaves stock unsold when it is long; the best
  policy sells the stock evenly over the horizon.

Episodes of the training environment sample products and days of the training split
(products are split by a stable hash of their key, :func:`training.splits.key_fractions`);
evaluation uses the test split's products, so a policy is judged on products it never saw.

Gymnasium's registered environments (``CartPole-v1``, ``Acrobot-v1``...) are made by id
(:func:`make_env`). Every environment here passes ``gymnasium.utils.env_checker.check_env``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.errors import InvalidInputError, NotFoundError
from training.splits import key_fractions

REPRICING = "repricing"
DEFAULT_COLUMNS = {
    "product": "sku",
    "price": "price",
    "list_price": "was_price",
    "stock": "in_stock",
    "category": "category",
}
HORIZON = 14  # days an episode lasts
PRICE_STEPS = (0.85, 0.95, 1.0, 1.05, 1.15)  # the actions: multiply today's price by one
KEEP_PRICE = PRICE_STEPS.index(1.0)  # the heuristic policy's action
PRICE_BOUNDS = (0.5, 2.0)  # the price stays within these multiples of the reference price
PRIOR_ELASTICITY = -2.0
PRIOR_WEIGHT = 20.0
ELASTICITY_RANGE = (-4.0, -1.2)
DEMAND_NOISE = 0.15
STOCK_LEVELS = {  # days of demand in stock, as a share of the horizon, for non-numeric stock
    "true": 1.4,
    "false": 0.4,  # out of stock today: a small delivery is due
    "instock": 1.4,
    "limitedavailability": 0.6,
    "preorder": 0.8,
    "outofstock": 0.4,
    "soldout": 0.4,
}
MAX_STOCK = 4.0  # at most this many horizons of demand in stock


@dataclass(frozen=True)
class ProductDay:
    """One product on one day: what an episode starts from."""

    product: str
    category: str
    price: float  # relative to the reference price
    list_price: float  # relative to the reference price
    stock: float  # days of demand at the reference price, as a share of the horizon


@dataclass(frozen=True)
class Market:
    """The fitted market: elasticities per category and the product-days of each split."""

    elasticity: Mapping[str, float]
    transitions: Mapping[str, int]  # the price-and-stock transitions each category's fit had
    train: tuple[ProductDay, ...]
    validation: tuple[ProductDay, ...]
    test: tuple[ProductDay, ...]
    days: int

    def starts(self, split: str) -> tuple[ProductDay, ...]:
        found: tuple[ProductDay, ...] = getattr(self, split)
        return found or self.train

    def to_json(self) -> dict[str, object]:
        """Everything an environment needs, as JSON (the card and the policy's JSON hold it)."""
        return {
            "elasticity": dict(self.elasticity),
            "transitions": dict(self.transitions),
            "days": self.days,
            **{
                split: [asdict(day) for day in getattr(self, split)]
                for split in ("train", "validation", "test")
            },
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Market:
        return cls(
            elasticity=dict(values["elasticity"]),
            transitions=dict(values["transitions"]),
            days=int(values["days"]),
            **{
                split: tuple(ProductDay(**day) for day in values[split])
                for split in ("train", "validation", "test")
            },
        )


def market_columns(given: Mapping[str, str]) -> dict[str, str]:
    """The spec's ``columns`` over :data:`DEFAULT_COLUMNS`; an unknown role is one sentence."""
    unknown = sorted(set(given) - set(DEFAULT_COLUMNS))
    if unknown:
        raise InvalidInputError(
            f"'columns' has no role {unknown[0]!r}; the repricing roles are "
            f"{', '.join(DEFAULT_COLUMNS)}."
        )
    return {**DEFAULT_COLUMNS, **given}


def _stock_levels(values: pd.Series) -> NDArray[np.float64]:
    """Stock as a share of the horizon's demand (see the module docstring)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        typical = float(np.nanmedian(numbers[numbers > 0])) if (numbers > 0).any() else 1.0
        levels = numbers.fillna(typical).clip(lower=0) / typical
    else:
        words = values.astype("string").str.lower().str.replace(r"[^a-z]", "", regex=True)
        levels = words.map(STOCK_LEVELS).astype(float).fillna(1.0)
    return np.clip(levels.to_numpy(dtype=float), 0.05, MAX_STOCK)


def _fit_elasticity(rows: pd.DataFrame) -> tuple[float, int]:
    """The category's elasticity (shrunk and clipped) and how many transitions fitted it."""
    rows = rows.sort_values(["product", "day"])
    following = rows.groupby("product", sort=False).shift(-1)
    usable = following["day"].eq(rows["day"] + 1) & (rows["stock"] > 0)
    sold = ((rows["stock"] - following["stock"]).clip(lower=0) / rows["stock"])[usable]
    x = np.log(rows.loc[usable, "price"].to_numpy(dtype=float))
    y = np.log(sold.to_numpy(dtype=float) + 0.05)
    n = len(x)
    slope = 0.0
    if n >= 3 and float(np.var(x)) > 1e-9:
        slope = float(np.cov(x, y, bias=True)[0, 1] / np.var(x))
    shrunk = (n * slope + PRIOR_WEIGHT * PRIOR_ELASTICITY) / (n + PRIOR_WEIGHT)
    return float(np.clip(shrunk, *ELASTICITY_RANGE)), n


def fit_market(
    days: Sequence[pd.DataFrame],
    columns: Mapping[str, str],
    test: float = 0.15,
    validation: float = 0.15,
    dataset: str = "the dataset",
) -> Market:
    """The market of :class:`RepricingEnv` from one frame per day (a dataset's versions)."""
    names = market_columns(columns)
    frames = []
    for number, frame in enumerate(days, start=1):
        missing = [c for role, c in names.items() if role != "list_price" and c not in frame]
        if missing:
            raise NotFoundError(
                f"{dataset} has no column {missing[0]!r} for the repricing market; name its "
                f"columns in the spec's 'columns' ({', '.join(DEFAULT_COLUMNS)})."
            )
        list_price = frame.get(names["list_price"], np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "product": frame[names["product"]].astype("string"),
                    "category": frame[names["category"]].astype("string").fillna("unknown"),
                    "price": pd.to_numeric(frame[names["price"]], errors="coerce"),
                    "list_price": pd.to_numeric(list_price, errors="coerce"),
                    "stock": _stock_levels(frame[names["stock"]]),
                    "day": number,
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["product"].notna() & (rows["price"] > 0)].drop_duplicates(["product", "day"])
    if rows["product"].nunique() < 3:
        raise InvalidInputError(
            f"{dataset} has {rows['product'].nunique()} product(s) with a price; the repricing "
            "market needs at least 3 (training and test products)."
        )
    reference = rows.groupby("product")["price"].transform("median")
    listed = rows.groupby("product")["list_price"].transform("median").fillna(reference)
    rows = rows.assign(price=rows["price"] / reference, list_price=listed / reference)
    fits = {str(c): _fit_elasticity(part) for c, part in rows.groupby("category")}
    products = pd.DataFrame({"product": sorted(rows["product"].unique())})
    where = dict(zip(products["product"], key_fractions(products, ["product"]), strict=True))
    share = rows["product"].map(where)
    parts = {
        "test": rows[share < test],
        "validation": rows[(share >= test) & (share < test + validation)],
        "train": rows[share >= test + validation],
    }
    return Market(
        elasticity={c: fit[0] for c, fit in fits.items()},
        transitions={c: fit[1] for c, fit in fits.items()},
        days=len(days),
        **{split: _product_days(part) for split, part in parts.items()},
    )


def _product_days(rows: pd.DataFrame) -> tuple[ProductDay, ...]:
    rows = rows.sort_values(["product", "day"])
    prices = np.clip(rows["price"].to_numpy(dtype=float), *PRICE_BOUNDS)
    listed = np.clip(rows["list_price"].to_numpy(dtype=float), 0.0, 3.0)
    return tuple(
        ProductDay(
            str(product),
            str(category),
            round(float(price), 6),
            round(float(lp), 6),
            round(float(stock), 6),
        )
        for product, category, price, lp, stock in zip(
            rows["product"],
            rows["category"],
            prices,
            listed,
            rows["stock"].to_numpy(dtype=float),
            strict=True,
        )
    )


class RepricingEnv(gym.Env[NDArray[np.float32], np.int64]):
    """Set one product's price each day; earn the revenue (see the module docstring).

    The observation is ``[price, list price, stock left, days left, elasticity]``: prices
    relative to the reference price, stock as a share of the horizon's demand at the
    reference price, days left as a share of the horizon.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's own class attribute)

    def __init__(self, market: Market, split: str = "train") -> None:
        self.market = market
        self.split = split
        self.starts = market.starts(split)
        self.observation_space = gym.spaces.Box(
            low=np.array([0.0, 0.0, 0.0, 0.0, -5.0], dtype=np.float32),
            high=np.array([3.0, 3.0, MAX_STOCK, 1.0, 0.0], dtype=np.float32),
            dtype=np.float32,
        )
        self.action_space = gym.spaces.Discrete(len(PRICE_STEPS))
        self._start = self.starts[0]
        self._price = 1.0
        self._stock = 0.0
        self._day = 0

    def _observation(self) -> NDArray[np.float32]:
        return np.array(
            [
                self._price,
                min(self._start.list_price, 3.0),
                min(self._stock, MAX_STOCK),
                (HORIZON - self._day) / HORIZON,
                self.market.elasticity.get(self._start.category, PRIOR_ELASTICITY),
            ],
            dtype=np.float32,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        self._start = self.starts[int(self.np_random.integers(len(self.starts)))]
        self._price = self._start.price
        self._stock = self._start.stock
        self._day = 0
        return self._observation(), {"product": self._start.product}

    def step(
        self, action: np.int64
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        factor = PRICE_STEPS[int(action)]
        self._price = float(np.clip(self._price * factor, *PRICE_BOUNDS))
        elasticity = self.market.elasticity.get(self._start.category, PRIOR_ELASTICITY)
        noise = float(np.exp(self.np_random.normal(0.0, DEMAND_NOISE)))
        demand = self._price**elasticity * noise / HORIZON  # stock is in horizons of demand
        sold = min(demand, self._stock)
        self._stock -= sold
        self._day += 1
        reward = float(self._price * sold * HORIZON)  # in days of revenue at the reference
        ended = self._day >= HORIZON or self._stock <= 1e-9
        return self._observation(), reward, ended, False, {"sold": sold, "price": self._price}


@dataclass(frozen=True)
class EnvironmentSpec:
    """Which environment, and for repricing the fitted market: enough to make it again."""

    id: str
    market: Market | None = None
    dataset: str = ""  # the dataset version the market was fitted on

    def make(self, split: str = "train") -> gym.Env[Any, Any]:
        """A fresh environment (``split``: the products it samples, for repricing)."""
        if self.market is not None:
            return RepricingEnv(self.market, split)
        return gym.make(self.id)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "dataset": self.dataset or None,
            "market": self.market.to_json() if self.market else None,
            "price_steps": list(PRICE_STEPS) if self.market else None,
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> EnvironmentSpec:
        market = values.get("market")
        return cls(
            id=str(values["id"]),
            market=Market.from_json(market) if market else None,
            dataset=str(values.get("dataset") or ""),
        )


def gym_environment(env_id: str) -> EnvironmentSpec:
    """A Gymnasium environment by id; an unknown id is one sentence."""
    if env_id not in gym.registry:
        known = ", ".join(sorted(i for i in gym.registry if "/" not in i)[:8])
        raise NotFoundError(
            f"There is no Gymnasium environment {env_id!r}; try one of {known}... or repricing."
        )
    return EnvironmentSpec(env_id)
