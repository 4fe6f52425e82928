"""SciWorld: ScienceWorld's Scala simulator, pooled in shared JVMs.

* Task ids index the original (task, variation) list (`tasks`); reset loads that variation and
  returns ``task description + "\\n" + look around`` as the original server did.
* Reward = the ScienceWorld score (0-100; a failed task's negative score is reported as 0, the raw
  value is ``info["score"]``); success = 100. The episode ends when the simulator says completed
  (goal reached or failed) or after 30 rounds.
* Speed: a step is the simulator's raw ``step`` plus score/completion - the valid-action list
  (which the ScienceWorld Python wrapper computes on every step, ~190 ms) is only computed when
  `available_actions` is called.
* The simulator comes from a `SimulatorPool` (many simulators per JVM) and goes back on `close`.
* Determinism: the pool's JVMs run with a constant identity hash (see `pool.DETERMINISTIC`), so the
  same task gives the same episode on any simulator; ScienceWorld itself has no seed, so the
  ``seed`` argument of `reset` changes nothing.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from agentgym.core.env import Env
from agentgym.core.errors import NoExpert
from agentgym.core.react import format_reply
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.sciworld import tasks
from agentgym.envs.sciworld.expert import PlanCache, start_episode, thought
from agentgym.envs.sciworld.pool import Simulator, SimulatorPool, shared_pool
from agentgym.envs.sciworld.prompt import INSTRUCTION

NO_MATCH = "No known action matches that input."

_plan_caches: dict[int, PlanCache] = {}


def _plans_for(pool: SimulatorPool) -> PlanCache:
    cache = _plan_caches.get(id(pool))
    if cache is None or cache.pool is not pool:
        cache = _plan_caches[id(pool)] = PlanCache(pool)
    return cache


class SciWorldEnv(Env):
    spec: ClassVar[EnvSpec] = EnvSpec(
        id="sciworld",
        version="1",
        max_rounds=30,
        metric="score",
        success_threshold=100.0,
        action_format="react_last",
        splits=tasks.splits(),
        description="ScienceWorld (scienceworld 1.2 simulator): 22 science task types, score 0-100.",
        blocking=True,
    )

    def __init__(self, max_rounds: int | None = None, pool: SimulatorPool | None = None) -> None:
        super().__init__(max_rounds)
        self.pool = pool or shared_pool()
        self._sim: Simulator | None = None
        self._task: tasks.SciTask | None = None
        self._actions: list[str] = []
        self.score = 0

    # ------------------------------------------------------------------ hooks
    def instruction(self) -> str:
        return INSTRUCTION

    def _server(self):
        if self._sim is None:
            self._sim = self.pool.acquire()
        return self._sim.server

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        t = tasks.task(task_id)
        server = self._server()
        look = start_episode(server, t)
        desc = str(server.getTaskDescription())
        self._task, self._actions, self.score = t, [], 0
        info = {
            "task_name": t.name,
            "var_num": t.variation,
            "task_description": desc,
            "task_code": t.code,
            "score": 0,
            "look": look,  # the original route's reset observation (its client prepends the description)
        }
        return f"{desc}\n{look}", info

    def _step(self, action: str) -> StepResult:
        server = self._server()
        action = action.strip()
        obs = str(server.step(action))
        self._actions.append(action)
        score = int(round(100 * server.getScore()))
        completed = bool(server.getCompleted()) or score < 0 or score >= 100
        self.score = score
        info = {"score": score, "invalid_action": obs.startswith(NO_MATCH)}
        return StepResult(obs, float(max(score, 0)), completed, False, info)

    def available_actions(self) -> list[str] | None:
        if self._task is None:
            return None
        return [str(a) for a in self._server().getValidActionObjectCombinations()]

    def random_action(self, rng: random.Random) -> str:
        """A random valid action (sorted first: the simulator's list order is not guaranteed)."""
        acts = self.available_actions() or ["look around"]
        return rng.choice(sorted(acts))

    def expert_reply(self) -> str:
        """The next step of the verified plan (`expert`); only meaningful on an episode that has
        followed the expert from the start."""
        if self._task is None:
            raise NoExpert("sciworld: reset before asking the expert")
        plan = _plans_for(self.pool).plan(self._task)
        if not plan:
            raise NoExpert(f"sciworld: no gold path reaches 100 for task {self.task_id}")
        k = len(self._actions)
        action = plan[k] if k < len(plan) else "look around"
        return format_reply(thought(action), action)

    def close(self) -> None:
        if self._sim is not None:
            self.pool.release(self._sim)
            self._sim = None
        self._task = None
