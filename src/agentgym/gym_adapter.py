"""Gymnasium adapter: every agentgym env as a `gymnasium.Env` with text spaces.

``import agentgym.gym_adapter`` registers ``agentgym/<Name>-v0`` for every registered agentgym env
(``maze`` -> ``agentgym/Maze-v0``, ``babyai`` -> ``agentgym/BabyAI-v0``), so::

    import gymnasium, agentgym.gym_adapter
    env = gymnasium.make("agentgym/Maze-v0")                  # draws test tasks; split="train" to train
    obs, info = env.reset(seed=0, options={"task_id": 3})     # a given task: the same episode each time
    obs, info = env.reset(seed=0)                             # a task drawn from the split, see below
    obs, reward, terminated, truncated, info = env.step("move up")

**Which task** ``reset`` plays: ``options["task_id"]`` when given (any task id of the env, a
global id as in agentgym); otherwise one drawn uniformly from a split - ``options["split"]``, else
the ``split`` given to ``gymnasium.make`` (default ``"test"``, the AgentEval items) - with the
gymnasium RNG, so ``reset(seed=s)`` is reproducible: the same seed draws the same task. The seed is
also the agentgym episode seed. ``info["task_id"]`` and ``info["split"]`` say what was played
(``split`` is None for an explicit ``task_id``). Other option keys are an error, not ignored: a
typo such as ``{"task": 3}`` would otherwise silently play a random task.

**Spaces**: text (`gymnasium.spaces.Text`). Actions are any text up to the env's
``spec.max_action_chars`` (a longer action is refused by the env as invalid); ``action_space.sample()``
draws one of the env's ``available_actions()`` where the env can list them, otherwise a short
random printable string - a useful random agent instead of thousands of random characters.
Invalid actions are ordinary steps (reward 0, ``info["invalid_action"]``), as in agentgym.
``info`` also carries ``instruction`` (on reset) and ``available_actions``.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import gymnasium
from gymnasium import spaces

from agentgym.core.env import Env
from agentgym.core.registry import list_envs, make

MAX_TEXT = 100_000
"""Longest observation the observation space admits."""
SAMPLE_CHARS = 32
"""Longest random action `ActionText.sample` makes when the env cannot list its actions."""
RESET_OPTIONS = frozenset({"task_id", "split"})
_CHARSET = string.printable  # what `sample` draws from; `contains` accepts any text up to max_length
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "  # no \t \n \x0b \x0c
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


class ActionText(AnyText):
    """The action space: any text up to ``max_length`` (the env's ``max_action_chars``).

    `sample` asks ``actions()`` (the env's ``available_actions``, None when it cannot list them)
    and draws one of them; otherwise a random printable string of 1 to `SAMPLE_CHARS` characters.
    The callback is dropped when the space is pickled or copied (vector envs copy spaces; an env
    engine must not travel with them): such a copy samples random text.
    """

    def __init__(self, max_length: int, actions: Callable[[], list[str] | None] | None = None) -> None:
        super().__init__(max_length=max_length, min_length=0, charset=_SAMPLE_CHARSET)
        self._actions = actions

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        actions = self._listed()
        if actions:
            return actions[int(self.np_random.integers(len(actions)))]
        length = int(self.np_random.integers(1, min(self.max_length, SAMPLE_CHARS) + 1))
        return super().sample(mask=(length, None))

    def _listed(self) -> list[str] | None:
        if self._actions is None:
            return None
        try:
            return self._actions()
        except Exception:  # before the first reset an env may have no state to list actions from
            return None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_actions"] = None
        return state

    def __repr__(self) -> str:
        return f"ActionText({self.min_length}, {self.max_length})"


def gym_id(env_id: str) -> str:
    """``"maze"`` -> ``"agentgym/Maze-v0"``."""
    name = _NAMES.get(env_id) or "".join(p.capitalize() for p in env_id.replace("-", "_").split("_"))
    return f"agentgym/{name}-v0"


class AgentGymEnv(gymnasium.Env):
    """One agentgym env behind the gymnasium API (text in, text out)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self, env_id: str, render_mode: str | None = None, split: str = "test", **env_kwargs: Any
    ) -> None:
        """``split``: where ``reset`` draws tasks from when no ``options["task_id"]`` is given."""
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.env: Env = make(env_id, **env_kwargs)
        self.env_id = env_id
        self.render_mode = render_mode
        self.env.spec.split(split)  # an unknown split fails here, naming the env's splits
        self.split = split
        self.observation_space = AnyText(max_length=MAX_TEXT, min_length=0, charset=_CHARSET)
        self.action_space = ActionText(self.env.spec.max_action_chars, self.env.available_actions)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``options["task_id"]``, or on a task drawn from ``options["split"]``
        (default: the ``split`` given to ``make``) with the RNG seeded by ``seed``."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - RESET_OPTIONS
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(unknown)}; options are task_id (play that task) "
                f"and split (draw a task from it; default {self.split!r})"
            )
        task_id = options.get("task_id")
        split: str | None = None
        if task_id is None:
            split = options.get("split") or self.split
            ids = self.env.spec.split(split)
            task_id = ids[int(self.np_random.integers(len(ids)))]
        obs = self.env.reset(int(task_id), seed)
        info = {**obs.info, "task_id": int(task_id), "split": split, "instruction": self.env.instruction()}
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
            # gymnasium types an entry point as taking only **kwargs; it passes env_id as one.
            gymnasium.register(id=gid, entry_point=AgentGymEnv, kwargs={"env_id": env_id})  # type: ignore[arg-type]
        ids.append(gid)
    return ids


register_gymnasium_envs()
