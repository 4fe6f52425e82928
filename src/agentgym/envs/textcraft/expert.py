"""The TextCraft expert: a recursive crafting planner.

From the current inventory it plans the whole remaining sequence (``get`` base items, ``craft``
intermediate ones bottom-up) and the expert plays its first action. Ingredients already held are
*reserved* for the recipe that needs them, so crafting a later ingredient never eats an earlier
one. Where an item has several recipes (a stick from planks or from bamboo) or a tag several
members, the planner simulates each and keeps the shortest plan. The game is deterministic and fully
observable, so the plan from any state is exact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from agentgym.envs.textcraft.recipes import Recipe, RecipeGraph

_Option = TypeVar("_Option")  # a tag member (str) or a `Recipe`

_MAX_CHOICES = 4  # alternatives tried per item: enough for every 1.16 recipe, keeps planning fast


class _Planner:
    def __init__(self, graph: RecipeGraph, inventory: Counter[str]) -> None:
        self.g = graph
        self.inv = Counter(inventory)
        self.reserved: Counter[str] = Counter()
        self.actions: list[str] = []

    def fork(self) -> _Planner:
        p = _Planner(self.g, self.inv)
        p.reserved = Counter(self.reserved)
        p.actions = list(self.actions)
        return p

    def free(self, item: str) -> int:
        return self.inv[item] - self.reserved[item]

    def obtain(self, name: str, n: int, depth: int = 0) -> str:
        """Make ``n`` of ``name`` (an item or a tag) free and reserve them; return the item used."""
        if depth > 12:
            raise RecursionError(f"crafting tree of {name} too deep")
        if self.g.is_tag(name):
            members = sorted(self.g.tags[name], key=lambda m: (-self.free(m), self.g.depth.get(m, 99), m))
            options = [members[0]] if self.free(members[0]) >= n else members[:_MAX_CHOICES]
            return self._best(options, lambda p, m: p.obtain(m, n, depth + 1))
        missing = n - self.free(name)
        if missing > 0:
            if self.g.is_base(name):
                self.actions.append(f"get {missing} {name}")
                self.inv[name] += missing
            else:
                recipes = sorted(self.g.recipes[name], key=lambda r: (self._recipe_depth(r), r.command))
                self._best(recipes[:_MAX_CHOICES], lambda p, r: p.craft(r, missing, depth + 1))
        self.reserved[name] += n
        return name

    def _best(self, options: Sequence[_Option], run: Callable[[_Planner, _Option], str]) -> str:
        best: tuple[int, _Planner, str] | None = None
        for opt in options:
            trial = self.fork()
            try:
                used = run(trial, opt)
            except RecursionError:
                continue
            if best is None or len(trial.actions) < best[0]:
                best = (len(trial.actions), trial, used)
        if best is None:
            raise RecursionError("no way to obtain the item")
        _, trial, used = best
        self.inv, self.reserved, self.actions = trial.inv, trial.reserved, trial.actions
        return used

    def _recipe_depth(self, r: Recipe) -> int:
        return 1 + max(self.g.depth.get(n, 99) for n, _ in r.inputs)

    def craft(self, r: Recipe, missing: int, depth: int) -> str:
        times = math.ceil(missing / r.count)
        used = [(self.obtain(name, k * times, depth), k * times) for name, k in r.inputs]
        for item, k in used:
            self.reserved[item] -= k
            self.inv[item] -= k
        self.inv[r.output] += r.count * times
        ins = ", ".join(f"{k} {item}" for item, k in used)
        self.actions.append(f"craft {r.count * times} {r.output} using {ins}")
        return r.output


def plan(graph: RecipeGraph, goal: str, inventory: Counter[str] | dict[str, int]) -> list[str]:
    """The shortest sequence of actions we find that puts ``goal`` in the inventory."""
    p = _Planner(graph, Counter(inventory))
    if p.free(goal) > 0:
        return []
    p.obtain(goal, 1)
    return p.actions


def thought(action: str, goal: str) -> str:
    """A short rationale for the expert's next action."""
    if action.startswith("get "):
        return (
            f"To craft {goal} I need base materials first; {action.split(' ', 2)[2]} can be fetched directly."
        )
    out = action.split(" using ")[0].split(" ", 2)[2]
    if out == goal:
        return f"I have every ingredient for {goal}, so I can craft it now."
    return f"{out} is an ingredient on the way to {goal} and I have what its recipe needs."
