"""SciWorld task ids: the original AgentGym indexing, and our train/test splits.

**Indexing** (as the original server): every ScienceWorld task except the excluded ones, in the
simulator's task order, flattened as ``[(task, variation) for task ... for variation ...]``; a task
id indexes that list. The original excluded ``5-1 5-2 9-1 9-2 9-3 10-1 10-2``; its published data
(AgentTraj-L ``sciworld_train.json``, AgentEval) only line up when ``2-3`` is excluded too (issue
#49: with the code as written, 61 eval items were training items). We exclude ``2-3`` as the
published data implies, so ids match the published files: 4,339 ids in all.

**Splits**, disjoint by construction: ScienceWorld partitions each task's variations into train /
dev / test. Our ``train`` split is every id whose variation is a train variation; ``dev`` the dev
variations; ``test`` 200 ids drawn only from test variations (see `build_test_split`), so no
(task, variation) pair can be in two splits; ``heldout`` the other test-variation ids (never
trained on, not in AgentEval), so every original id can be reset, as with the original server.

The variation table below was read from scienceworld 1.2 (``getVariationsTrain/Dev/Test``; each is a
contiguous range); ``tests/test_sciworld.py`` checks it against the installed simulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from agentgym.core.seeding import make_rng

EXCLUDED = frozenset({"5-1", "5-2", "9-1", "9-2", "9-3", "10-1", "10-2", "2-3"})
"""The original exclusion set plus 2-3 (see the module docstring)."""

TEST_SIZE = 200

SLOW_TASK_TRIES = {"1-1": 4, "1-2": 4, "1-3": 4, "1-4": 4}
"""The change-of-state tasks have 70-190-step gold paths that take ~80 s each to generate and
shorten (most still exceed 30 rounds), so the split build tries only 4 of their variations."""

# (task id, simulator task name, number of variations, first dev variation, first test variation);
# train variations are [0, first dev), dev [first dev, first test), test [first test, n).
_TABLE: tuple[tuple[str, str, int, int, int], ...] = (
    ("1-1", "boil", 30, 14, 21),
    ("1-2", "melt", 30, 14, 21),
    ("1-3", "freeze", 30, 14, 21),
    ("1-4", "change-the-state-of-matter-of", 30, 14, 21),
    ("2-1", "use-thermometer", 540, 270, 405),
    ("2-2", "measure-melting-point-known-substance", 436, 218, 327),
    ("2-3", "measure-melting-point-unknown-substance", 300, 150, 225),
    ("3-1", "power-component", 20, 10, 15),
    ("3-2", "power-component-renewable-vs-nonrenewable-energy", 20, 10, 15),
    ("3-3", "test-conductivity", 900, 450, 675),
    ("3-4", "test-conductivity-of-unknown-substances", 600, 300, 450),
    ("4-1", "find-living-thing", 300, 150, 225),
    ("4-2", "find-non-living-thing", 300, 150, 225),
    ("4-3", "find-plant", 300, 150, 225),
    ("4-4", "find-animal", 300, 150, 225),
    ("5-1", "grow-plant", 126, 62, 93),
    ("5-2", "grow-fruit", 126, 62, 93),
    ("6-1", "chemistry-mix", 32, 16, 24),
    ("6-2", "chemistry-mix-paint-secondary-color", 36, 18, 27),
    ("6-3", "chemistry-mix-paint-tertiary-color", 36, 18, 27),
    ("7-1", "lifespan-longest-lived", 125, 62, 93),
    ("7-2", "lifespan-shortest-lived", 125, 62, 93),
    ("7-3", "lifespan-longest-lived-then-shortest-lived", 125, 62, 93),
    ("8-1", "identify-life-stages-1", 14, 6, 9),
    ("8-2", "identify-life-stages-2", 10, 4, 6),
    ("9-1", "inclined-plane-determine-angle", 168, 84, 126),
    ("9-2", "inclined-plane-friction-named-surfaces", 1386, 692, 1038),
    ("9-3", "inclined-plane-friction-unnamed-surfaces", 162, 80, 120),
    ("10-1", "mendelian-genetics-known-plant", 120, 60, 90),
    ("10-2", "mendelian-genetics-unknown-plant", 480, 240, 360),
)


@dataclass(frozen=True, slots=True)
class SciTask:
    """One (task, variation) pair: what a task id stands for."""

    task_id: int
    code: str  # ScienceWorld task number, e.g. "1-1"
    name: str  # simulator task name, e.g. "boil"
    variation: int
    split: str  # "train" | "dev" | "test" (ScienceWorld's own variation split)


@cache
def all_tasks() -> tuple[SciTask, ...]:
    """The flattened (task, variation) list in the original order."""
    out: list[SciTask] = []
    for code, name, n, dev0, test0 in _TABLE:
        if code in EXCLUDED:
            continue
        for var in range(n):
            split = "train" if var < dev0 else "dev" if var < test0 else "test"
            out.append(SciTask(len(out), code, name, var, split))
    return tuple(out)


def task(task_id: int) -> SciTask:
    return all_tasks()[task_id]


def variation_table() -> tuple[tuple[str, str, int, int, int], ...]:
    return _TABLE


@cache
def test_ids() -> tuple[int, ...]:
    """The 200 test ids, built once by `build_test_split` and shipped as ``test_ids.json``."""
    data = json.loads(resources.files(__package__).joinpath("test_ids.json").read_text())
    return tuple(data["ids"])


@cache
def splits() -> dict[str, list[int]]:
    tasks = all_tasks()
    return {
        "train": [t.task_id for t in tasks if t.split == "train"],
        "dev": [t.task_id for t in tasks if t.split == "dev"],
        "test": list(test_ids()),
        "heldout": [t.task_id for t in tasks if t.split == "test" and t.task_id not in set(test_ids())],
    }


def build_test_split(
    plan_length,
    size: int = TEST_SIZE,
    max_rounds: int = 30,
    tries_per_task: int = 40,
    tries: dict[str, int] | None = None,
    log=print,
) -> dict:
    """Choose the test ids: round-robin over the task types, each taking its ScienceWorld test
    variations in a fixed seeded shuffle, keeping a variation only when
    ``plan_length(task)`` - the length of the expert's verified plan, None if it fails - fits in
    ``max_rounds``. Tasks whose plans never fit drop out (reported in the result)."""
    by_code: dict[str, list[SciTask]] = {}
    for t in all_tasks():
        if t.split == "test":
            by_code.setdefault(t.code, []).append(t)
    tries = {**SLOW_TASK_TRIES, **(tries or {})}
    queues = {code: _spread(code, ts)[: tries.get(code, tries_per_task)] for code, ts in by_code.items()}
    chosen: list[int] = []
    rejected: dict[str, list[tuple[int, int | None]]] = {code: [] for code in queues}
    while len(chosen) < size and any(queues.values()):
        for code, queue in queues.items():
            while queue and len(chosen) < size:
                t = queue.pop(0)
                n = plan_length(t)
                if n is not None and n <= max_rounds:
                    chosen.append(t.task_id)
                    log(f"{code} var {t.variation}: plan {n} -> test ({len(chosen)})")
                    break
                rejected[code].append((t.variation, n))
                log(f"{code} var {t.variation}: plan {n} rejected")
    counts: dict[str, int] = {}
    for i in chosen:
        counts[task(i).code] = counts.get(task(i).code, 0) + 1
    return {"ids": sorted(chosen), "per_task": counts, "rejected": rejected, "max_rounds": max_rounds}


def _spread(code: str, items: list[SciTask]) -> list[SciTask]:
    """Items in a fixed pseudo-random order (seeded by the task code), so any prefix is spread
    over the whole variation range."""
    out = list(items)
    make_rng("sciworld-test-split", code).shuffle(out)
    return out


def _main() -> None:  # pragma: no cover - run once to (re)build test_ids.json
    """``python -m agentgym.envs.sciworld.tasks OUT.json``: build the test split with the expert."""
    import sys
    import time

    from agentgym.envs.sciworld.expert import PlanCache
    from agentgym.envs.sciworld.pool import SimulatorPool

    out = sys.argv[1] if len(sys.argv) > 1 else str(resources.files(__package__).joinpath("test_ids.json"))
    pool = SimulatorPool()
    plans = PlanCache(pool)
    start = time.time()

    def plan_length(t: SciTask) -> int | None:
        plan = plans.plan(t)
        return None if plan is None else len(plan)

    result = build_test_split(
        plan_length, log=lambda m: print(f"[{time.time() - start:7.1f}s] {m}", flush=True)
    )
    result["note"] = (
        "SciWorld test split: ScienceWorld test variations only, round-robin over task types, "
        "kept when the verified expert plan fits in 30 rounds (see tasks.build_test_split)."
    )
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    pool.close()
    print(f"{len(result['ids'])} ids -> {out}; per task {result['per_task']}")


if __name__ == "__main__":  # pragma: no cover
    _main()
