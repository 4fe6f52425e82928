"""`WebShopEnv`: buy the product an instruction describes, in a generated (or original) shop.

* actions ``search[keywords]`` (only where the page has a search bar) and ``click[label]`` (label
  must be one of the page's clickables, case-insensitive); anything else is an invalid action:
  the page is unchanged and the observation says why;
* ``click[Buy Now]`` ends the episode with WebShop's reward (`agentgym.envs.webshop.reward`);
  success = reward 1; 10 rounds;
* the catalog, the tantivy index and the goals are shared by every session of the process
  (`agentgym.envs.webshop.world`, a bounded cache); configure with ``num_products`` / ``seed``,
  or load the original files with ``$WEBSHOP_DATA`` (``data_path=`` in Python).

Remote clients may set only what `WebShopOptions` allows (``max_rounds``, a bounded
``num_products`` and ``seed``): a 60,000-product catalog took 15.9 s to build, and where the
server reads data from is the operator's choice, never a client's - ``data_path`` stays a
constructor argument for in-process use.
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import Field

from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvOptions, EnvSpec, StepResult
from agentgym.envs.webshop import expert, prompt
from agentgym.envs.webshop.catalog import DEFAULT_NUM_PRODUCTS, MIN_NUM_PRODUCTS
from agentgym.envs.webshop.goals import Goal, split_ids
from agentgym.envs.webshop.pages import Browser
from agentgym.envs.webshop.reward import purchase_reward
from agentgym.envs.webshop.world import World, data_path_from_env, get_world

_VERB = re.compile(r"\s*+(search|click)\s*+\[", re.IGNORECASE)


def parse_action(action: str) -> tuple[str, str] | None:
    r"""``(verb, text between the brackets)`` of ``search[...]`` / ``click[...]``, else None.

    Exactly the groups of the original ``^\s*(search|click)\s*\[(.*)\]\s*\.?\s*$`` (DOTALL,
    any case): the closing bracket is the last one, which only blanks and one full stop may
    follow. The original was quadratic - after a ``]`` its two ``\s*`` around the optional full
    stop could share a run of blanks in every possible way before failing (``"search[]" + " " *
    32_000 + "x"`` held the server for seconds) - and even made linear, its greedy ``(.*)``
    backed off one character at a time, trying every ``]`` (50 ms for a megabyte of ``"] "``).
    Here: one anchored match for the verb, then `str.rstrip` from the end.
    """
    head = _VERB.match(action)
    if head is None:
        return None
    tail = action.rstrip()  # \s*+$
    if tail.endswith("."):  # \.?  then  \s*+
        tail = tail[:-1].rstrip()
    if not tail.endswith("]") or len(tail) - 1 < head.end():
        return None
    return head.group(1), action[head.end() : len(tail) - 1]


VERSION = "1"
MAX_OPTION_PRODUCTS = 10_000
"""The largest catalog a remote client may ask for (about a second to build here, ~48 MB)."""
MAX_OPTION_SEED = 2**31 - 1


class WebShopOptions(EnvOptions):
    """What ``POST /v1/sessions {"env": "webshop", "kwargs": ...}`` may set.

    Each new ``(num_products, seed)`` builds a world (catalog, index, goals); the bounds keep one
    build to seconds, and the world cache's byte bound (``$AGENTGYM_WEBSHOP_CACHE_MB``, see
    `agentgym.envs.webshop.world`) keeps many of them from piling up.
    """

    num_products: int = Field(
        DEFAULT_NUM_PRODUCTS,
        ge=MIN_NUM_PRODUCTS,
        le=MAX_OPTION_PRODUCTS,
        description="Products in the generated catalog (more products: more goals, slower build).",
    )
    seed: int = Field(0, ge=0, le=MAX_OPTION_SEED, description="Seed of the generated catalog and goals.")


def _spec(splits: dict[str, list[int]], description: str) -> EnvSpec:
    return EnvSpec(
        id="webshop",
        version=VERSION,
        max_rounds=10,
        metric="success",
        action_format="react_last",
        ack="Ok.",
        splits=splits,
        description=description,
    )


def _class_spec() -> EnvSpec:
    path = data_path_from_env()
    if path:
        world = get_world(data_path=path)
        return _spec(world.splits, f"WebShop on the original data in {path}")
    return _spec(
        split_ids(DEFAULT_NUM_PRODUCTS), "WebShop on a generated 2,000-product catalog (tantivy BM25)"
    )


class WebShopEnv(Env):
    spec = _class_spec()
    options = WebShopOptions

    def __init__(
        self,
        max_rounds: int | None = None,
        num_products: int | None = None,
        seed: int = 0,
        data_path: str | None = None,
    ) -> None:
        super().__init__(max_rounds)
        self.data_path = data_path or data_path_from_env()
        self.world: World = get_world(num_products, seed, self.data_path)
        if self.world.splits != type(self).spec.splits:  # another catalog size or data folder
            src = self.world.catalog.source
            self.spec = _spec(self.world.splits, f"WebShop on {src}")  # type: ignore[misc]
        self.goal: Goal | None = None
        self.browser: Browser | None = None

    def is_valid_task(self, task_id: int) -> bool:
        """Membership in the world's shared id set (the base class would build one per session)."""
        return isinstance(task_id, int) and task_id in self.world.valid_ids

    # ------------------------------------------------------------------ API
    def instruction(self) -> str:
        return prompt.instruction(self.max_rounds)

    def instruction_text(self) -> str:
        """The shopping instruction of the current goal (the original's /instruction_text)."""
        assert self.goal is not None, "reset first"
        return self.goal.instruction

    def has_search_bar(self) -> bool:
        return self.browser is not None and self.browser.has_search_bar()

    def clickables(self) -> list[str]:
        return self.browser.clickables() if self.browser is not None else []

    def available_actions(self) -> list[str] | None:
        if self.browser is None:
            return None
        acts = ["search[<keywords>]"] if self.browser.has_search_bar() else []
        return acts + [f"click[{c}]" for c in self.browser.clickables() if c != "search"]

    def random_action(self, rng: random.Random) -> str:
        if self.browser is not None and self.browser.has_search_bar():
            words = rng.sample(
                self.world.catalog.products[rng.randrange(len(self.world.catalog))].title.split(), 2
            )
            return f"search[{' '.join(words)}]"
        return super().random_action(rng)

    def expert_reply(self) -> str:
        assert self.browser is not None and self.goal is not None, "reset first"
        return expert.expert_reply(self.browser, self.goal)

    # ------------------------------------------------------------------ hooks
    def _info(self) -> dict[str, Any]:
        assert self.browser is not None
        b = self.browser
        return {
            "page": b.state.kind,
            "asin": b.state.asin,
            "has_search_bar": b.has_search_bar(),
            "clickables": b.clickables(),
        }

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.goal = self.world.goals[task_id]
        self.browser = Browser(self.world.catalog, self.world.engine, self.goal.instruction)
        return self.browser.render(), {
            **self._info(),
            "instruction_text": self.goal.instruction,
            "goal": {
                "asin": self.goal.asin,
                "attributes": list(self.goal.attributes),
                "options": dict(self.goal.options),
                "price_upper": self.goal.price_upper,
            },
        }

    def _step(self, action: str) -> StepResult:
        assert self.browser is not None and self.goal is not None
        b = self.browser
        parsed = parse_action(action)
        if parsed is None:
            return self._invalid('an action is "search[keywords]" or "click[label]"')
        verb, arg = parsed[0].lower(), parsed[1].strip()
        if verb == "search":
            if not b.has_search_bar():
                return self._invalid('there is no search bar on this page; click "Back to Search" first')
            if not arg:
                return self._invalid("search keywords must not be empty")
            b.search(arg)
            return StepResult(b.render(), 0.0, False, False, self._info())
        if arg.lower() == "buy now" and b.state.kind == "item":
            product = b.product
            assert product is not None
            br = purchase_reward(self.goal, product, b.selected)
            text = f"Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] {br.reward}"
            info = {**self._info(), "purchased": product.asin, "selected": dict(b.selected), **br.as_info()}
            return StepResult(text, br.reward, True, False, info)
        if not b.click(arg):
            shown = ", ".join(b.clickables())
            return self._invalid(f'"{arg[:80]}" is not clickable here; clickables: {shown}')
        return StepResult(b.render(), 0.0, False, False, self._info())

    def _invalid(self, why: str) -> StepResult:
        assert self.browser is not None
        return invalid(f"Invalid action: {why}. [SEP] {self.browser.render()}", **self._info())
