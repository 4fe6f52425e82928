"""BabyAI tasks: task id -> (level, seed) as in the original, and the splits.

The original served 40 BabyAI levels, from ``GoToRedBallGrey`` to ``BossLevelNoUnlock``, in the
order minigrid registers them (a subsequence of its registry), and mapped task id ``i`` to level
``LEVELS[i % 40]`` (its ``all_levels[i % 40 + 1]``, a 1-based table) and seed ``i // 40``; 900
items (810 trajectories + 90 eval). minigrid 3.x renamed one of them: ``GoToObjS6-v0`` is
``GoToObjS6-v1`` (v1 fixed the room size). Splits: **test = ids 810..899** (90 ids: seeds 20-22,
each level 2-3 times), **train = ids 0..809**.

Levels are built straight from their registered entry points, without gymnasium's wrappers (no
env-checker warnings, no wrapper cost on every step); minigrid's "Sampling rejected" prints are
silenced by shadowing ``print`` in that one module.
"""

from __future__ import annotations

import functools
from typing import Any

LEVELS: tuple[str, ...] = (
    "BabyAI-GoToRedBallGrey-v0",
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToRedBallNoDists-v0",
    "BabyAI-GoToObjS6-v1",
    "BabyAI-GoToLocalS8N7-v0",
    "BabyAI-GoToObjMazeS7-v0",
    "BabyAI-GoToImpUnlock-v0",
    "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0",
    "BabyAI-GoToDoor-v0",
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-OpenDoorLoc-v0",
    "BabyAI-OpenRedBlueDoorsDebug-v0",
    "BabyAI-OpenDoorsOrderN4Debug-v0",
    "BabyAI-Pickup-v0",
    "BabyAI-UnblockPickup-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0",
    "BabyAI-PickupAbove-v0",
    "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0",
    "BabyAI-Unlock-v0",
    "BabyAI-UnlockLocalDist-v0",
    "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0",
    "BabyAI-BlockedUnlockPickup-v0",
    "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0",
    "BabyAI-FindObjS7-v0",
    "BabyAI-KeyCorridorS6R3-v0",
    "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0",
    "BabyAI-SynthS5R2-v0",
    "BabyAI-SynthLoc-v0",
    "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0",
    "BabyAI-BossLevel-v0",
    "BabyAI-BossLevelNoUnlock-v0",
)
N_ITEMS = 900
TEST_IDS = list(range(810, 900))
TRAIN_IDS = list(range(0, 810))


def level_and_seed(task_id: int) -> tuple[str, int]:
    return LEVELS[task_id % len(LEVELS)], task_id // len(LEVELS)


@functools.cache
def _creator(level: str) -> tuple[Any, dict[str, Any]]:
    import gymnasium
    import minigrid  # noqa: F401 - registers the BabyAI ids
    import minigrid.envs.babyai.core.roomgrid_level as rgl
    from gymnasium.envs.registration import load_env_creator

    rgl.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]  # "Sampling rejected: ..."
    spec = gymnasium.spec(level)
    assert isinstance(spec.entry_point, str), spec.entry_point  # minigrid registers "module:Class"
    return load_env_creator(spec.entry_point), dict(spec.kwargs)


def make_level(level: str) -> Any:
    """A fresh, unwrapped minigrid env of ``level`` (call ``reset(seed=...)`` on it)."""
    creator, kwargs = _creator(level)
    return creator(**kwargs)


def make_task(task_id: int) -> Any:
    """The minigrid env of ``task_id``, reset with its seed (the same episode every time)."""
    level, seed = level_and_seed(task_id)
    env = make_level(level)
    env.reset(seed=seed)
    return env
