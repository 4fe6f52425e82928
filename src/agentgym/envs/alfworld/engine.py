"""The ALFWorld engine side: one game in play, hosted in a worker process (`agentgym.envs.worker_pool`).

`ALFWorldEnv` (env.py) is a thin proxy; everything that touches TextWorld runs here, inside a
worker: game generation (the ~11 s first use of a task id), loading the game into TextWorld's PDDL
engine, steps, admissible commands and the expert's planner (which reads the PDDL state). TextWorld
is not thread-safe, and a worker runs one request at a time, so no two calls ever meet in one engine
or in TextWorld's shared parser state.

* The TextWorld engines (`generate.make_engine`) are kept on a per-process free list and reused
  across episodes and sessions: each one loads its own copy of fast-downward's 34 MB shared library,
  never unloaded, so a worker makes as many as it ever had sessions at once, not one per session.
* Data paths are the parent's: every reset carries the parent's ``$AGENTGYM_CACHE`` /
  ``$ALFWORLD_DATA`` (`settings`), applied here before the game is loaded, so a worker started
  before those changed (a test fixture, a server setting) reads the same files as an in-process env.
* Replies are plain tuples / lists / dicts (cheap to pickle); `ALFWorldEnv` builds the `StepResult`.

The workers preload this module, so textworld and alfworld are imported once, in the forkserver
(~1.3 s on this machine), and every worker forks from there ready to play (see `worker_pool`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import textworld  # noqa: F401  (imported when the worker starts: the heavy part of its start-up)
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler  # noqa: F401

from agentgym.core.errors import NoExpert
from agentgym.core.react import format_reply
from agentgym.envs.alfworld import tasks
from agentgym.envs.alfworld.env import NOTHING, SETTINGS, clean_intro, clean_step
from agentgym.envs.alfworld.expert import plan, read_world, thought
from agentgym.envs.alfworld.generate import make_engine

_spare: list[Any] = []  # TextWorld engines of closed sessions, reused (see the module docstring)
_spare_lock = threading.Lock()  # workers are single-threaded; this keeps in-process use correct too


def apply_settings(values: dict[str, str | None]) -> None:
    """Make this process's data-path settings ``values`` (a no-op when they already are)."""
    changed = False
    for k in SETTINGS:
        v = values.get(k)
        if os.environ.get(k) != v:
            changed = True
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if changed:
        tasks.official_games.cache_clear()


class ALFWorldEngine:
    """One ALFWorld episode on a TextWorld PDDL engine (the state behind one `ALFWorldEnv`)."""

    def __init__(self) -> None:
        self._tw: Any = None
        self._state: Any = None
        self._task_id: int | None = None
        self._meta: dict[str, Any] = {}
        self._plan: list[str] = []
        self._plan_start = 0
        self._taken: list[str] = []
        self._goal = ""

    def reset(self, task_id: int, env: dict[str, str | None] | None = None) -> tuple[str, dict, list[str]]:
        """Load the game of ``task_id`` (generating it on first use): (intro text, info, admissible)."""
        if env is not None:
            apply_settings(env)
        game, source = tasks.load_game(task_id)
        if self._tw is None:
            with _spare_lock:
                self._tw = _spare.pop() if _spare else None
            if self._tw is None:
                self._tw = make_engine()
        self._tw.load(game)
        self._state = self._tw.reset()
        self._task_id = task_id
        self._meta = dict(game.get("agentgym") or {})
        self._meta.setdefault("task_type", tasks.task_type_of(game, source))
        self._plan, self._plan_start, self._taken = [], 0, []
        text = clean_intro(self._state.feedback)
        self._goal = text.rsplit("Your task is to: ", 1)[-1].rstrip(".")
        info = {"task_type": self._meta["task_type"], "source": source, "goal": self._goal}
        return text, info, list(self._state["admissible_commands"])

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any], list[str]]:
        """Apply ``action``: (observation, reward, terminated, info, admissible commands)."""
        action = action.strip()
        self._taken.append(action)
        admissible = self._state["admissible_commands"]
        if action not in admissible:
            # What the engine answers to a non-admissible command, with the state unchanged;
            # answered here because the engine would re-derive every admissible command (~0.3 s).
            return NOTHING, 0.0, False, {"invalid_action": True, "won": False}, list(admissible)
        self._state, _, done = self._tw.step(action)
        won = bool(self._state["won"])
        obs = clean_step(self._state.feedback)
        info = {"invalid_action": False, "won": won}
        return obs, 1.0 if won else 0.0, bool(done or won), info, list(self._state["admissible_commands"])

    def expert_reply(self) -> str:
        """Next step of the privileged plan (`expert.plan`); re-planned from the PDDL state when
        the episode left the plan (so the expert also recovers after other actions)."""
        if self._state is None:
            raise NoExpert("alfworld: reset before asking the expert")
        meta = self._meta
        if "obj" not in meta:
            meta.update(targets_from_traj(self._task_id))
        k = len(self._taken) - self._plan_start
        if not (self._plan and k < len(self._plan) and self._taken[self._plan_start :] == self._plan[:k]):
            world = read_world(self._tw)
            self._plan = plan(world, meta["task_type"], meta["obj"], meta.get("recep"), meta.get("toggle"))
            self._plan_start, k = len(self._taken), 0
        if not self._plan:
            return format_reply("The task should be complete; let me look around.", "look")
        cmd = self._plan[k]
        return format_reply(thought(cmd, self._goal), cmd)

    def close(self) -> None:
        """Give the TextWorld engine back to the free list (the next session's reset reuses it)."""
        if self._tw is not None:
            with _spare_lock:
                _spare.append(self._tw)
        self._tw = None
        self._state = None
        self._meta = {}


def targets_from_traj(task_id: int | None) -> dict[str, Any]:
    """Targets of an official game from the ``traj_data.json`` next to it (ALFRED pddl_params)."""
    import json
    from pathlib import Path

    root = tasks.official_root()
    if root is None or task_id is None:
        raise NoExpert("alfworld: game has no target metadata")
    path = tasks.official_games(str(root))[task_id].parent / "traj_data.json"
    if not path.exists():
        raise NoExpert(f"alfworld: {path} not found (needed by the expert)")
    p = json.loads(Path(path).read_text())["pddl_params"]
    return {
        "obj": p["object_target"],
        "recep": p.get("parent_target") or None,
        "toggle": p.get("toggle_target") or None,
    }
