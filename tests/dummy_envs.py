"""Tiny deterministic envs for server/client tests (registered by the ``dummy_envs`` fixture).

* ``counter`` - count from the task's start to start+3 with "inc"/"dec"; each observation carries
  a token drawn from the env's own RNG, so two sessions that got each other's state (cross-talk) or
  a shared RNG would show different observations than an in-process run of the same task and seed.
* ``crashy`` - a counter whose step raises RuntimeError on the action "boom"; it has no expert.
* ``sleepy`` - a blocking counter (``spec.blocking``): "sleep" sleeps 0.3 s in its step, so tests can
  see that the server runs it in a worker thread while other requests are served.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import Field

from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvOptions, EnvSpec, StepResult

CLOSED: list[str] = []  # spec ids of closed envs, in order (reaper / delete tests read it)
_active = {"now": 0, "max": 0}
_active_lock = threading.Lock()


class CounterOptions(EnvOptions):
    start_offset: int = Field(0, ge=-1000, le=1000, description="Added to the task id at reset.")


class CounterEnv(Env):
    options = CounterOptions
    spec = EnvSpec(
        id="counter",
        version="1",
        max_rounds=10,
        metric="success",
        action_format="react_first",
        splits={"train": list(range(0, 10)), "test": list(range(10, 20))},
    )

    def __init__(self, max_rounds: int | None = None, start_offset: int = 0) -> None:
        super().__init__(max_rounds)
        self.start_offset = start_offset
        self.count = 0
        self.target = 0

    def instruction(self) -> str:
        return f"Reach {self.target} by typing inc or dec."

    def _obs(self) -> str:
        return (
            f"task {self.task_id} count {self.count} target {self.target} token {self.rng.randint(0, 10**9)}"
        )

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.count = task_id + self.start_offset
        self.target = self.count + 3
        info = {"score": 0.0, "commands": "inc, dec", "goal": f"reach {self.target}", "task_type": "count"}
        return self._obs(), info

    def _step(self, action: str) -> StepResult:
        if action not in ("inc", "dec"):
            return invalid(f"invalid action {action!r}; {self._obs()}")
        self.count += 1 if action == "inc" else -1
        won = self.count == self.target
        return StepResult(self._obs(), 1.0 if won else 0.0, won, False, {"score": 100.0 if won else 0.0})

    def available_actions(self) -> list[str]:
        return ["inc", "dec"]

    def expert_reply(self) -> str:
        return "Thought: go up.\nAction: " + ("inc" if self.count < self.target else "dec")

    def close(self) -> None:
        CLOSED.append(self.spec.id)


class CrashyEnv(CounterEnv):
    spec = CounterEnv.spec.model_copy(update={"id": "crashy"})

    def _step(self, action: str) -> StepResult:
        if action == "boom":
            raise RuntimeError("kaboom")
        return super()._step(action)

    def expert_reply(self) -> str:
        return Env.expert_reply(self)  # raises NoExpert

    def available_actions(self) -> None:  # so random_action is not supported either
        return None


class SleepyEnv(CounterEnv):
    spec = CounterEnv.spec.model_copy(update={"id": "sleepy", "blocking": True})

    def _step(self, action: str) -> StepResult:
        if action == "sleep":
            with _active_lock:
                _active["now"] += 1
                _active["max"] = max(_active["max"], _active["now"])
            time.sleep(0.3)
            with _active_lock:
                _active["now"] -= 1
            return StepResult(
                f"slept; {self._obs()}", 0.0, False, False, {"thread": threading.current_thread().name}
            )
        return super()._step(action)


def max_concurrent_sleeps(reset: bool = False) -> int:
    """How many "sleep" steps ever ran at the same time (reset with ``reset=True``)."""
    with _active_lock:
        value = _active["max"]
        if reset:
            _active["max"] = 0
    return value


DUMMY = {"counter": CounterEnv, "crashy": CrashyEnv, "sleepy": SleepyEnv}
