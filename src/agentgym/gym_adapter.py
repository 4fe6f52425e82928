"""Gymnasium adapter: every agentgym env as a `gymnasium.Env` with text spaces.

``import agentgym.gym_adapter`` registers ``agentgym/<Name>-v0`` for every registered agentgym env
(``maze`` -> ``agentgym/Maze-v0``, ``babyai`` -> ``agentgym/BabyAI-v0``), so::

    import gymnasium, agentgym.gym_adapter
    env = gymnasium.make("agentgym/Maze-v0")
    obs, info = env.reset(seed=0, options={"task_id": 3})
    obs, reward, terminated, truncated, info = env.step("move up")

Observations and actions are strings (`gymnasium.spaces.Text`). ``reset`` picks the task from
``options["task_id"]``, else draws one from ``options["split"]`` (default ``"test"``) with the
gymnasium RNG, so ``reset(seed=s)`` is reproducible; the seed is also the agentgym episode seed.
Invalid actions are ordinary steps (reward 0, ``info["invalid_action"]``), as in agentgym.
``info`` also carries ``task_id``, ``instruction`` (on reset) and ``available_actions``.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium
from gymnasium import spaces

from agentgym.core.env import Env
from agentgym.core.registry import list_envs, make

MAX_TEXT = 100_000
_CHARSET = string.printable  # what `sample` draws from; `contains` accepts any text up to max_length
_NAMES = {
    "babyai": "BabyAI",
    "sciworld": "SciWorld",
    "alfworld": "ALFWorld",
    "textcraft": "TextCraft",
    "webshop": "WebShop",
    "webarena": "WebArena",
    "bird": "BIRD",
    "todo": "TODOList",
}


class AnyText(spaces.Text):
    """A `Text` space that contains any string up to ``max_length``.

    Env observations are free text (any Unicode: product titles, tool output), which gymnasium's
    fixed charset would reject; sampling still draws from a printable charset.
    """

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"


def gym_id(env_id: str) -> str:
    """``"maze"`` -> ``"agentgym/Maze-v0"``."""
    name = _NAMES.get(env_id) or "".join(p.capitalize() for p in env_id.replace("-", "_").split("_"))
    return f"agentgym/{name}-v0"


class AgentGymEnv(gymnasium.Env):
    """One agentgym env behind the gymnasium API (text in, text out)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, env_id: str, render_mode: str | None = None, **env_kwargs: Any) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.env: Env = make(env_id, **env_kwargs)
        self.env_id = env_id
        self.render_mode = render_mode
        self.observation_space = AnyText(max_length=MAX_TEXT, min_length=0, charset=_CHARSET)
        self.action_space = AnyText(max_length=MAX_TEXT, min_length=0, charset=_CHARSET)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = options.get("task_id")
        if task_id is None:
            ids = self.env.spec.split(options.get("split", "test"))
            task_id = ids[int(self.np_random.integers(len(ids)))]
        obs = self.env.reset(int(task_id), seed)
        info = {**obs.info, "task_id": int(task_id), "instruction": self.env.instruction()}
        info["available_actions"] = self.env.available_actions()
        return obs.text, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        res = self.env.step(str(action))
        info = {**res.info, "task_id": self.env.task_id}
        if not res.done:
            info["available_actions"] = self.env.available_actions()
        return res.observation, res.reward, res.terminated, res.truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return self.env.last_observation if self.env.task_id is not None else ""

    def close(self) -> None:
        self.env.close()


def register_gymnasium_envs() -> list[str]:
    """Register ``agentgym/<Name>-v0`` for every registered agentgym env; returns the ids.

    Idempotent. An env whose engine is missing here is registered all the same and fails only in
    `gymnasium.make` (with the registry's ImportError), as agentgym's own registry does.
    """
    ids = []
    for env_id in list_envs():
        gid = gym_id(env_id)
        if gid not in gymnasium.registry:
            gymnasium.register(id=gid, entry_point=AgentGymEnv, kwargs={"env_id": env_id})
        ids.append(gid)
    return ids


register_gymnasium_envs()
