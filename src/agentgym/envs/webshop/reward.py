"""WebShop's purchase reward (reference §3.1), with rapidfuzz and without spaCy.

    reward = r_type x (attributes matched + options matched + price ok) / (n_attributes + n_options + 1)

* an attribute of the goal matches when a product attribute is a fuzzy match
  (``token_set_ratio`` > 85) or the attribute text occurs in the title, features or description;
* a goal option matches when a selected option value is a fuzzy match (> 85), both after colour
  normalisation ("navy blue" -> "blue", as the original);
* price ok: the product's price is at most the goal's bound;
* ``r_type`` says whether the right *kind* of product was bought, by the original's rule: with
  ``title_score`` = the share of the goal title's words found in the bought title,
  r_type = 1, lowered to 0.5 when neither the search query, nor the category path (>= 2 shared
  levels of ``product_category``), nor the titles (> 0.2) agree; to 0.1 when title_score < 0.1;
  to 0 when no title word is shared. The original takes the titles' nouns with spaCy; we take
  their content words (no stop words), which needs no model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz

from agentgym.envs.webshop.catalog import Product
from agentgym.envs.webshop.goals import Goal
from agentgym.envs.webshop.words import ADJECTIVES

FUZZY_THRESHOLD = 85
COLOR_WORDS = tuple(
    sorted(
        "beige black blue brown burgundy camo charcoal cream crimson gold gray green grey ivory khaki "
        "lavender lemon navy olive orange pink purple red rose silver tan teal terracotta white yellow".split()
    )
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# stop words, plus our title adjectives: the original counts only the titles' nouns
_STOP = frozenset(
    "a an and the of for with in on to by from new edition model pack value gift ready bestseller".split()
) | frozenset(ADJECTIVES)


@dataclass(frozen=True, slots=True)
class RewardBreakdown:
    reward: float
    r_type: float
    attributes_matched: int
    options_matched: int
    price_ok: bool
    n_attributes: int
    n_options: int

    def as_info(self) -> dict[str, object]:
        return {
            "r_type": self.r_type,
            "attributes_matched": self.attributes_matched,
            "n_attributes": self.n_attributes,
            "options_matched": self.options_matched,
            "n_options": self.n_options,
            "price_ok": self.price_ok,
        }


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def content_words(title: str) -> set[str]:
    return {w for w in _WORD.findall(title.lower()) if w not in _STOP}


def title_score(goal_title: str, bought_title: str) -> float:
    wanted = content_words(goal_title)
    if not wanted:
        return 0.2  # the original's value when the goal title has no nouns
    return len(wanted & content_words(bought_title)) / len(wanted)


def _category_levels(path: str) -> set[str]:
    return {x.strip().lower() for x in path.split("›") if x.strip()}


def type_reward(goal: Goal, product: Product) -> float:
    query_match = _norm(goal.query) == _norm(product.query)
    category_match = (
        len(_category_levels(goal.product_category) & _category_levels(product.product_category)) >= 2
    )
    score = title_score(goal.title, product.title)
    r_type = 1.0
    if not (query_match or category_match or score > 0.2):
        r_type = 0.5
    if score < 0.1:
        r_type = 0.1
    if score == 0.0:
        r_type = 0.0
    return r_type


def attribute_matches(goal_attr: str, product: Product) -> bool:
    if any(fuzz.token_set_ratio(a.lower(), goal_attr.lower()) > FUZZY_THRESHOLD for a in product.attributes):
        return True
    needle = _norm(goal_attr)
    haystacks = (product.title, " ".join(product.features), product.description)
    return any(needle in _norm(h) for h in haystacks)


def normalize_color(value: str) -> str:
    """The first colour word (in `COLOR_WORDS` order) inside ``value``, else ``value``."""
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


def option_matches(goal_value: str, selected: Mapping[str, str]) -> bool:
    g = normalize_color(_norm(goal_value))
    return any(
        fuzz.token_set_ratio(normalize_color(_norm(v)), g) > FUZZY_THRESHOLD for v in selected.values()
    )


def purchase_reward(goal: Goal, product: Product, selected: Mapping[str, str]) -> RewardBreakdown:
    """The reward of buying ``product`` with the ``selected`` options (group -> value) for ``goal``."""
    r_type = type_reward(goal, product)
    n_attr = sum(attribute_matches(a, product) for a in goal.attributes)
    n_opt = sum(option_matches(v, selected) for v in goal.options.values())
    price_ok = product.price <= goal.price_upper
    total = (n_attr + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardBreakdown(
        round(r_type * total, 6), r_type, n_attr, n_opt, price_ok, len(goal.attributes), len(goal.options)
    )


def best_selection(goal: Goal, product: Product) -> dict[str, str]:
    """For each goal option, a value of ``product`` that matches it (the expert's choice)."""
    chosen: dict[str, str] = {}
    for want in goal.options.values():
        for group, values in product.options.items():
            if group in chosen:
                continue
            hit = next((v for v in values if option_matches(want, {group: v})), None)
            if hit is not None:
                chosen[group] = hit
                break
    return chosen
