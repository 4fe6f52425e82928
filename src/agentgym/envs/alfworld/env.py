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

**The engine runs in a worker process.** TextWorld is not thread-safe: it keeps one module-global
tatsu parser for PDDL and one for its text grammar (``textworld.envs.pddl.logic._PARSER``,
``...textgen._PARSER``), and games loaded or stepped in two threads at once corrupt them
(``FailedToken: expecting ';'``, ``IndexError: pop from empty list``; 4 episodes at once all
failed). Both the server and the in-process runner run blocking envs in threads. So `ALFWorldEnv` is a thin
proxy: its episode state - the TextWorld engine, the game, the expert's plan - lives in an
`engine.ALFWorldEngine` hosted by a process-wide `worker_pool.EnginePool` (``engine_pool()``; size
``$AGENTGYM_ALFWORLD_WORKERS``, default the number of cores). Game generation runs there too. The
engine is created at the first reset, on the least-loaded worker, so concurrent sessions step in
parallel on different workers; `close` frees it. The admissible commands come back with every
reset/step, so `available_actions` needs no round trip. If the worker dies, the call in flight and
later calls raise `worker_pool.WorkerCrashed` (a RuntimeError: HTTP 500 for this session only); the
next `reset` starts the episode on a fresh engine.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from agentgym.core.env import Env
from agentgym.core.errors import NoExpert
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.alfworld import tasks
from agentgym.envs.alfworld.prompt import INSTRUCTION
from agentgym.envs.worker_pool import EngineHandle, EnginePool, WorkerCrashed, shared_pool

_BANNER = re.compile(r"^\s*-= Welcome to TextWorld, ALFRED! =-\s*")
_ARRIVE = re.compile(r"^You arrive at (?:loc \d+|[a-z]+ \d+)\. (?=\S)")
"""The original strips "You arrive at loc N. " (alfworld 0.3 grammar); alfworld 0.4's grammar says
"You arrive at cabinet 1. " instead - stripped too, so observations read as in AgentTraj."""
NOTHING = "Nothing happens."
ENGINE = "agentgym.envs.alfworld.engine:ALFWorldEngine"
WORKERS_ENV = "AGENTGYM_ALFWORLD_WORKERS"
SETTINGS = ("AGENTGYM_CACHE", "ALFWORLD_DATA")
"""Environment variables that choose data paths: sent with every reset, so the worker reads the
same files as this process would (see `engine.apply_settings`)."""


def engine_pool() -> EnginePool:
    """The process-wide pool of ALFWorld engine workers (started lazily, one worker per session
    until ``$AGENTGYM_ALFWORLD_WORKERS`` - default: the cores - are running)."""
    return shared_pool("alfworld", env_var=WORKERS_ENV, preload=["agentgym.envs.alfworld.engine"])


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

    def __init__(self, max_rounds: int | None = None, pool: EnginePool | None = None) -> None:
        """``pool``: the engine pool to use (default: the process-wide `engine_pool()`)."""
        super().__init__(max_rounds)
        self._pool = pool
        self._engine: EngineHandle | None = None
        self._admissible: list[str] | None = None
        self._lost = ""  # why the engine is gone (its worker died): said by calls until the next reset

    def instruction(self) -> str:
        return INSTRUCTION

    @property
    def worker_pid(self) -> int | None:
        """The worker process hosting this env's engine (None before the first reset)."""
        return self._engine.pid if self._engine is not None else None

    def _call(self, method: str, *args: Any) -> Any:
        if self._engine is None:
            raise RuntimeError(
                f"alfworld: this env's engine is gone ({self._lost}); reset it to start the episode again"
            )
        try:
            return self._engine.call(method, *args)
        except RuntimeError as e:
            if not self._engine.alive:  # the worker died: drop the handle, the next reset makes a new one
                self._lost = str(e)
                self._engine, self._admissible = None, None
            raise

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        settings = {k: os.environ.get(k) for k in SETTINGS}
        for attempt in range(2):
            fresh = self._engine is None or not self._engine.alive
            if fresh:
                self._engine = (self._pool or engine_pool()).create(ENGINE)
                self._lost = ""
            try:
                text, info, self._admissible = self._call("reset", task_id, settings)
                return text, info
            except WorkerCrashed:
                # A reset needs no earlier state: if the old engine's worker had died unnoticed,
                # start over on a fresh engine instead of failing the reset too.
                if fresh or attempt:
                    raise
        raise AssertionError("unreachable")

    def _step(self, action: str) -> StepResult:
        obs, reward, terminated, info, self._admissible = self._call("step", action)
        return StepResult(obs, reward, terminated, False, info)

    def available_actions(self) -> list[str] | None:
        return None if self._admissible is None else list(self._admissible)

    def expert_reply(self) -> str:
        """Next step of the privileged plan, computed in the worker (see `engine.ALFWorldEngine`)."""
        if self.task_id is None:
            raise NoExpert("alfworld: reset before asking the expert")
        return self._call("expert_reply")

    def close(self) -> None:
        engine, self._engine, self._admissible = self._engine, None, None
        self._lost = "the env was closed"
        if engine is not None:
            engine.close()
