"""`BabyAIEnv`: minigrid's BabyAI levels through our text layer and macro actions.

* Task id ``i`` is level ``LEVELS[i % 40]`` with seed ``i // 40`` (the original's mapping, see
  `tasks`); the level is minigrid's own (generation, mission, verifier, reward).
* An action is one of the available macros (listed at the end of every observation), compiled to
  primitive minigrid steps by path search (`macros`); the primitives run until the sequence ends or
  the level terminates. Anything else is an invalid action: nothing changes, and the observation
  says why (an object out of reach, a locked door without its key, ...) and lists what is possible.
* Reward: minigrid's, ``1 - 0.9 * steps / max_steps`` on success, else 0; ``info["score"]`` is the
  cumulative reward (the original server's ``score``, which its client used as the reward).
  Success is reward > 0. 20 rounds; minigrid's own step limit truncates too.

Speed: the minigrid env is built without gymnasium wrappers and its per-step observation (an
egocentric image we never use) is switched off; the view is computed once per macro, and the macro
table once per view.
"""

from __future__ import annotations

import re
from typing import Any

from agentgym.core.env import Env, invalid
from agentgym.core.react import format_reply
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.babyai import prompt, tasks
from agentgym.envs.babyai.macros import CHECK, compile_macros
from agentgym.envs.babyai.text import View, describe, see

_TARGETED = re.compile(r"(go to|pick up|go through|toggle and go through) (.+)")
_ALIASES = {"pickup ": "pick up ", "go to the ": "go to ", "pick up the ": "pick up "}


def _no_obs() -> None:
    return None


def normalize(action: str) -> str:
    act = " ".join(action.lower().replace("_", " ").split()).rstrip(".")
    for old, new in _ALIASES.items():
        if act.startswith(old):
            act = new + act[len(old) :]
    return act


def _unknown(action: str, act: str) -> str:
    """Why an action that names nothing in sight (or is no action at all) cannot be taken."""
    m = _TARGETED.fullmatch(act)
    if m:  # the object is cut like the action below: an action may be as long as the length cap
        what = m.group(2) if len(m.group(2)) <= 80 else m.group(2)[:80] + "..."
        return f"There is no {what} in sight, so you cannot {m.group(1)} it; see the available actions."
    return f'"{action.strip()[:80]}" is not an action you can take now; see the available actions.'


class BabyAIEnv(Env):
    spec = EnvSpec(
        id="babyai",
        version="1",
        max_rounds=20,
        metric="reward",
        success_threshold=1e-6,
        action_format="react_line",
        splits={"train": tasks.TRAIN_IDS, "test": tasks.TEST_IDS},
        description="minigrid's 40 BabyAI levels (id -> level id % 40, seed id // 40) with macro actions.",
    )

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.game: Any = None
        self.mission = ""
        self.view: View | None = None
        self.macros: dict[str, list[int]] = {}
        self.why_not: dict[str, str] = {}
        self.score = 0.0
        self.primitives: list[int] = []  # every primitive step so far (the expert replays them)
        self._expert: Any = None
        self._areas: dict = {}  # cell -> open area around it (walls and doors never move)

    def instruction(self) -> str:
        return prompt.instruction(self.max_rounds)

    def is_success(self, reward: float) -> bool:
        return reward > 0

    # ------------------------------------------------------------------ episode
    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.game = tasks.make_task(task_id)
        self.game.gen_obs = _no_obs  # minigrid renders an image after every step; we never read it
        self.mission = self.game.mission
        self.score = 0.0
        self.primitives = []
        self._expert = None
        self._areas = {}
        self._look()
        text = prompt.observation(self._describe(), self.available_actions(), goal=self.mission)
        return text, self._info(0.0)

    def _look(self) -> None:
        self.view = see(self.game, self._areas)
        self.macros, self.why_not = compile_macros(self.view)

    def _describe(self) -> str:
        """The current view in words; `Env` only steps after `_reset`, which always looks first."""
        assert self.view is not None, "no view before reset"
        return describe(self.view)

    def _info(self, reward: float) -> dict[str, Any]:
        level, seed = tasks.level_and_seed(self.task_id or 0)
        return {
            "score": self.score,
            "reward": reward,
            "level": level,
            "level_seed": seed,
            "mission": self.mission,
        }

    def _step(self, action: str) -> StepResult:
        act = normalize(action)
        if act == CHECK or act.startswith("check"):
            text = prompt.observation(
                self._describe(), self.available_actions(), note="You can take these actions."
            )
            return StepResult(text, 0.0, False, False, self._info(0.0))
        steps = self.macros.get(act)
        if steps is None:
            reason = self.why_not.get(act) or _unknown(action, act)
            text = prompt.observation(self._describe(), self.available_actions(), note=reason)
            return invalid(text, **self._info(0.0))
        reward, terminated, truncated = 0.0, False, False
        for a in steps:
            _, r, terminated, truncated, _ = self.game.step(a)
            self.primitives.append(a)
            reward += float(r)
            if terminated or truncated:
                break
        self.score += reward
        self._look()
        note = ""
        if terminated:
            note = "You completed the task." if reward > 0 else "The task has failed."
        elif truncated:
            note = "You ran out of time for this task."
        text = prompt.observation(self._describe(), self.available_actions(), note=note)
        info = self._info(reward)
        info["success"] = bool(terminated and reward > 0)
        return StepResult(text, reward, terminated, truncated, info)

    # ------------------------------------------------------------------ helpers
    def available_actions(self) -> list[str]:
        return list(self.macros)

    def expert_reply(self) -> str:
        from agentgym.envs.babyai.expert import BotExpert

        if self._expert is None:
            self._expert = BotExpert(self.task_id or 0)
        thought, action = self._expert.advise(self)
        return format_reply(thought, action)
