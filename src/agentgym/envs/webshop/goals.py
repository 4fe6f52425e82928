"""Shopping goals: an instruction naming a product type, attributes, options and a price bound.

Like the original's synthetic goals, a goal is drawn from one product (so it is always
satisfiable) but any product that meets it earns the full reward. For the generated catalog, goal
ids are laid out so that the splits are known without building anything:

* test ids ``0..199``: one goal for each of 200 "test products";
* train ids ``200..``: two goals for each other product (so test and train never share a product).

Goal ``g`` is a pure function of ``(catalog seed, g)`` and is built on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agentgym.core.seeding import make_rng
from agentgym.envs.webshop.catalog import Catalog, Product

TEST_SIZE = 200
TRAIN_GOALS_PER_PRODUCT = 2
NO_PRICE_BOUND = 1_000_000.0

_TEMPLATES = (
    "i am looking for {query} that is {attrs}",
    "i need {query} which is {attrs}",
    "find me {query}, {attrs}",
    "i want to buy {query} that is {attrs}",
    "i'd like {query} that is {attrs}",
)


@dataclass(frozen=True, slots=True)
class Goal:
    asin: str  # the product the goal was drawn from (one of possibly many that satisfy it)
    category: str
    query: str
    title: str
    instruction: str
    attributes: tuple[str, ...]
    options: dict[str, str] = field(hash=False, compare=False)
    price_upper: float = NO_PRICE_BOUND
    product_category: str = ""

    @property
    def search_keywords(self) -> str:
        """What the expert types first: the product type and the wanted attributes."""
        return " ".join([self.query, *self.attributes])


def split_ids(num_products: int) -> dict[str, list[int]]:
    """The splits of the generated catalog with ``num_products`` products."""
    n_train = TRAIN_GOALS_PER_PRODUCT * (num_products - TEST_SIZE)
    return {"train": list(range(TEST_SIZE, TEST_SIZE + n_train)), "test": list(range(TEST_SIZE))}


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def option_text(options: dict[str, str]) -> str:
    return (" with " + ", and ".join(f"{k}: {v}" for k, v in options.items())) if options else ""


def price_text(price_upper: float) -> str:
    return "" if price_upper >= NO_PRICE_BOUND else f", and price lower than {price_upper:.2f} dollars"


class GeneratedGoals:
    """Goals over a generated catalog (see the module docstring for the id layout)."""

    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.catalog = catalog
        self.seed = seed
        order = list(range(len(catalog)))
        make_rng("webshop-goal-split", seed, len(catalog)).shuffle(order)
        self._order = order
        self.splits = split_ids(len(catalog))
        self._cache: dict[int, Goal] = {}

    def __len__(self) -> int:
        return TEST_SIZE + TRAIN_GOALS_PER_PRODUCT * (len(self.catalog) - TEST_SIZE)

    def product_of(self, goal_id: int) -> Product:
        if goal_id < TEST_SIZE:
            pos = self._order[goal_id]
        else:
            pos = self._order[TEST_SIZE + (goal_id - TEST_SIZE) // TRAIN_GOALS_PER_PRODUCT]
        return self.catalog.products[pos]

    def __getitem__(self, goal_id: int) -> Goal:
        if not 0 <= goal_id < len(self):
            raise IndexError(goal_id)
        goal = self._cache.get(goal_id)
        if goal is None:
            goal = self._cache[goal_id] = self._make(goal_id)
        return goal

    def _make(self, goal_id: int) -> Goal:
        p = self.product_of(goal_id)
        rng = make_rng("webshop-goal", self.seed, goal_id)
        attrs = rng.sample(p.attributes, rng.randint(1, min(3, len(p.attributes))))
        options = {group: rng.choice(values) for group, values in p.options.items()}
        bound = p.price * rng.uniform(1.1, 1.9)
        step = 10 if bound < 100 else 50
        price_upper = float(math.ceil(bound / step) * step)
        text = rng.choice(_TEMPLATES).format(query=p.query, attrs=_join(attrs))
        text += option_text(options) + price_text(price_upper)
        return Goal(
            p.asin, p.category, p.query, p.title, text, tuple(attrs), options, price_upper, p.product_category
        )
