"""TextCraft tasks: task id -> goal item, and the train/test splits.

As in the original, the candidate goals are the items with a crafting depth of at least 1, sorted by
depth and then by name, and task id ``i`` is goal ``i``. Goals the expert planner cannot finish
within the round limit are left out (none with the 1.16 recipes: the deepest plans take 12
actions), so every task is solvable in 20 rounds. The test split is 100 ids spread evenly over the
depth-sorted list (ids ``round(k * n / 100)``), so it has the same mix of depths as the whole set;
the train split is every other id.
"""

from __future__ import annotations

import functools

from agentgym.envs.textcraft import expert
from agentgym.envs.textcraft.recipes import recipe_graph

MAX_ROUNDS = 20
N_TEST = 100


@functools.cache
def goals() -> tuple[str, ...]:
    g = recipe_graph()
    items = sorted((name for name in g.recipes if g.depth.get(name, 0) >= 1), key=lambda n: (g.depth[n], n))
    return tuple(n for n in items if len(expert.plan(g, n, {})) <= MAX_ROUNDS)


@functools.cache
def splits() -> dict[str, list[int]]:
    n = len(goals())
    test = sorted({round(k * n / N_TEST) for k in range(N_TEST)})
    test_set = set(test)
    return {"train": [i for i in range(n) if i not in test_set], "test": test}


def goal(task_id: int) -> str:
    return goals()[task_id]
