"""ALFWorld: household tasks on TextWorld's PDDL engine (ALFWorld's domain and grammar).

* Task id -> game (`tasks.load_game`): the official ``game.tw-pddl`` when ``$ALFWORLD_DATA`` has
  it, else a game generated offline from the alfworld package's room layouts (`generate`),
  cached on disk.
* Observation: the intro text without TextWorld's "-= Welcome to TextWorld, ALFRED! =-" banner;
  later steps strip a leading "You arrive at loc N. " / "You arrive at cabinet 1. " (as the
  original, so texts match AgentTraj: "On the cabinet 1, you see ...").
* Actions: ALFWorld's commands; `available_actions` = the engine's admissible commands. A command
  that is not admissible leaves the state unchanged ("Nothing happens.") and counts as invalid.
* Reward: 1 when the goal holds (``won``), else 0; the episode ends when won or after 30 rounds.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from agentgym.core.env import Env
from agentgym.core.errors import NoExpert
from agentgym.core.react import format_reply
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.alfworld import tasks
from agentgym.envs.alfworld.prompt import INSTRUCTION

_BANNER = re.compile(r"^\s*-= Welcome to TextWorld, ALFRED! =-\s*")
_ARRIVE = re.compile(r"^You arrive at (?:loc \d+|[a-z]+ \d+)\. (?=\S)")
"""The original strips "You arrive at loc N. " (alfworld 0.3 grammar); alfworld 0.4's grammar says
"You arrive at cabinet 1. " instead - stripped too, so observations read as in AgentTraj."""
NOTHING = "Nothing happens."


def clean_intro(text: str) -> str:
    return _BANNER.sub("", text).strip()


def clean_step(text: str) -> str:
    return _ARRIVE.sub("", text.strip())


class ALFWorldEnv(Env):
    spec: ClassVar[EnvSpec] = EnvSpec(
        id="alfworld",
        version="1",
        max_rounds=30,
        metric="success",
        success_threshold=1.0,
        action_format="react_last",
        splits=tasks.splits(),
        description="ALFWorld on TextWorld's PDDL engine; games generated from the alfworld layouts "
        "(or the official games when $ALFWORLD_DATA has them).",
        blocking=True,
    )

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self._engine = None
        self._state = None
        self._meta: dict[str, Any] = {}
        self._plan: list[str] = []
        self._plan_start = 0
        self._taken: list[str] = []
        self._goal = ""

    def instruction(self) -> str:
        return INSTRUCTION

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        from agentgym.envs.alfworld.generate import make_engine

        game, source = tasks.load_game(task_id)
        if self._engine is None:  # reused across resets: each engine loads its own fast-downward
            self._engine = make_engine()
        self._engine.load(game)
        self._state = self._engine.reset()
        self._meta = dict(game.get("agentgym") or {})
        self._meta.setdefault("task_type", tasks.task_type_of(game, source))
        self._plan, self._plan_start, self._taken = [], 0, []
        text = clean_intro(self._state.feedback)
        self._goal = text.rsplit("Your task is to: ", 1)[-1].rstrip(".")
        info = {"task_type": self._meta["task_type"], "source": source, "goal": self._goal}
        return text, info

    def _step(self, action: str) -> StepResult:
        action = action.strip()
        self._taken.append(action)
        if action not in self._state["admissible_commands"]:
            # What the engine answers to a non-admissible command, with the state unchanged;
            # answered here because the engine would re-derive every admissible command (~0.3 s).
            return StepResult(NOTHING, 0.0, False, False, {"invalid_action": True, "won": False})
        self._state, _, done = self._engine.step(action)
        won = bool(self._state["won"])
        obs = clean_step(self._state.feedback)
        info = {"invalid_action": False, "won": won}
        return StepResult(obs, 1.0 if won else 0.0, bool(done or won), False, info)

    def available_actions(self) -> list[str] | None:
        if self._state is None:
            return None
        return list(self._state["admissible_commands"])

    def expert_reply(self) -> str:
        """Next step of the privileged plan (`expert.plan`); re-planned from the PDDL state when
        the episode left the plan (so the expert also recovers after other actions)."""
        from agentgym.envs.alfworld.expert import plan, read_world, thought

        if self._state is None:
            raise NoExpert("alfworld: reset before asking the expert")
        meta = self._meta
        if "obj" not in meta:
            meta.update(_targets_from_traj(self.task_id))
        k = len(self._taken) - self._plan_start
        if not (self._plan and k < len(self._plan) and self._taken[self._plan_start :] == self._plan[:k]):
            world = read_world(self._engine)
            self._plan = plan(world, meta["task_type"], meta["obj"], meta.get("recep"), meta.get("toggle"))
            self._plan_start, k = len(self._taken), 0
        if not self._plan:
            return format_reply("The task should be complete; let me look around.", "look")
        cmd = self._plan[k]
        return format_reply(thought(cmd, self._goal), cmd)

    def close(self) -> None:
        self._engine = None
        self._state = None
        self._meta = {}


def _targets_from_traj(task_id: int | None) -> dict[str, Any]:
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
