"""The `Env` base class: one text environment, one episode at a time.

A subclass implements four small hooks (`_reset`, `_step`, `instruction`, and optionally
`available_actions` / `expert_reply`); the public `reset` / `step` wrap them with the contract every
env shares, so no env re-implements it:

* task ids are global ints; `reset` rejects one outside every split with `UnknownTask`;
* the env's RNG (`self.rng`) is re-derived from (id, version, task id, seed) on every reset, so the
  same version + task + seed gives the same episode;
* `step` before `reset` raises `NotReset`, after the end raises `EpisodeOver`;
* the episode is truncated after ``max_rounds`` steps (the original per-env limits);
* ``info`` always carries ``invalid_action``, ``success`` and ``rounds``.

Example::

    env = agentgym.make("maze")
    obs = env.reset(task_id=3)
    res = env.step("move up")
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from agentgym.core.errors import EpisodeOver, NoExpert, NotReset, UnknownTask
from agentgym.core.seeding import make_rng
from agentgym.core.types import EnvOptions, EnvSpec, Observation, StepResult


class Env(ABC):
    """Base class of every agentgym environment. Subclasses set ``spec`` and the hooks."""

    spec: ClassVar[EnvSpec]
    options: ClassVar[type[EnvOptions]] = EnvOptions
    """The constructor kwargs a remote client may set (see `EnvOptions`); subclasses extend it."""

    def __init__(self, max_rounds: int | None = None) -> None:
        if max_rounds is not None and (
            isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1
        ):
            raise ValueError(f"{self.spec.id}: max_rounds must be an int >= 1, got {max_rounds!r}")
        self.max_rounds = max_rounds or self.spec.max_rounds
        self.rng: random.Random = random.Random(0)
        self.task_id: int | None = None
        self.seed: int = 0
        self.rounds = 0
        self.done = False
        self.last_observation = ""

    # ----------------------------------------------------------------- public API
    def reset(self, task_id: int, seed: int | None = None) -> Observation:
        """Start the episode of ``task_id`` (a global id from ``spec.splits``)."""
        if not self.is_valid_task(task_id):
            raise UnknownTask(f"{self.spec.id}: task {task_id} is not in any split ({self._split_summary()})")
        self.seed = 0 if seed is None else int(seed)
        self.task_id = int(task_id)
        self.rng = make_rng(self.spec.id, self.spec.version, self.task_id, self.seed)
        self.rounds = 0
        self.done = False
        text, info = self._split(self._reset(self.task_id))
        self.last_observation = text
        return Observation(text, info)

    def step(self, action: str) -> StepResult:
        """Apply one action; an invalid action is an observation, never an exception."""
        if self.task_id is None:
            raise NotReset(f"{self.spec.id}: call reset(task_id) before step()")
        if self.done:
            raise EpisodeOver(f"{self.spec.id}: the episode of task {self.task_id} is over; reset it")
        action = str(action)
        cap = self.spec.max_action_chars
        if len(action) > cap:  # before any parser: a hostile action must cost O(1), not a regex scan
            res = invalid(
                f"Your action is {len(action):,} characters long; {self.spec.id} accepts at most "
                f"{cap:,}. Reply with one short action."
            )
        else:
            res = self._step(action)
        self.rounds += 1
        info = dict(res.info)
        info.setdefault("invalid_action", False)
        info.setdefault("success", bool(res.terminated and self.is_success(res.reward)))
        info["rounds"] = self.rounds
        truncated = res.truncated or (not res.terminated and self.rounds >= self.max_rounds)
        self.done = res.terminated or truncated
        self.last_observation = res.observation
        return StepResult(res.observation, float(res.reward), res.terminated, truncated, info)

    def observation(self) -> str:
        """The latest observation text (what `reset` or the last `step` returned)."""
        if self.task_id is None:
            raise NotReset(f"{self.spec.id}: call reset(task_id) first")
        return self.last_observation

    @abstractmethod
    def instruction(self) -> str:
        """The task prompt: the first human turn of a conversation for this env."""

    def available_actions(self) -> list[str] | None:
        """The valid actions in the current state, where the env can enumerate them."""
        return None

    def expert_reply(self) -> str:
        """The expert's next full reply ("Thought: ...\\nAction: ...") from privileged state."""
        raise NoExpert(f"{self.spec.id} has no expert")

    def random_action(self, rng: random.Random) -> str:
        """A uniformly random action (the random baseline); ``rng`` is the caller's, so drawing
        actions never disturbs the episode's own RNG. Envs without `available_actions` override."""
        acts = self.available_actions()
        if not acts:
            raise NotImplementedError(f"{self.spec.id} cannot enumerate actions; override random_action")
        return rng.choice(acts)

    def is_success(self, reward: float) -> bool:
        """Whether a terminal ``reward`` counts as solving the task (``info["success"]``)."""
        return reward >= self.spec.success_threshold

    def close(self) -> None:
        """Release engine resources (processes, JVM handles, files)."""

    def is_valid_task(self, task_id: int) -> bool:
        """Whether ``task_id`` is in one of the spec's splits (what `reset` accepts)."""
        return isinstance(task_id, int) and task_id in _task_ids(self.spec)

    # ------------------------------------------------------------------ the hooks
    @abstractmethod
    def _reset(self, task_id: int) -> str | tuple[str, dict[str, Any]]:
        """Set up the episode; return the first observation (optionally with info)."""

    @abstractmethod
    def _step(self, action: str) -> StepResult:
        """Apply ``action``; ``truncated`` may stay False (the base class applies max_rounds)."""

    # ------------------------------------------------------------------- helpers
    @staticmethod
    def _split(value: str | tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        return (value, {}) if isinstance(value, str) else (value[0], dict(value[1]))

    def _split_summary(self) -> str:
        parts = []
        for name, ids in self.spec.splits.items():
            parts.append(f"{name}: {len(ids)} ids" + (f" {min(ids)}..{max(ids)}" if ids else ""))
        return "; ".join(parts)

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.id} v{self.spec.version} task={self.task_id}>"


_TASK_IDS: dict[int, tuple[EnvSpec, frozenset[int]]] = {}


def _task_ids(spec: EnvSpec) -> frozenset[int]:
    """All task ids of a spec, built once per spec (not per session: a set of 10k ids is ~0.5 MB).

    Keyed by ``id(spec)`` but holding the spec itself: an id alone could be reused by a later spec
    once the first is freed, which handed that spec the wrong task set."""
    entry = _TASK_IDS.get(id(spec))
    if entry is None or entry[0] is not spec:
        entry = _TASK_IDS[id(spec)] = (spec, frozenset(i for split in spec.splits.values() for i in split))
    return entry[1]


def invalid(observation: str, **info: Any) -> StepResult:
    """An invalid-action step: the state is unchanged, reward 0, counted as invalid."""
    return StepResult(observation, 0.0, False, False, {"invalid_action": True, **info})
