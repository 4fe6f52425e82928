"""The SciWorld expert: ScienceWorld's own gold action sequence, shortened and verified.

ScienceWorld generates a gold path per (task, variation) (``load(..., generateGoldPath=True)``).
Those paths are written for a 100-step budget: they explore every room, look around after each
move and read a thermometer every tick while something heats (boiling paths run 80-190 steps).
With AgentGym's 30 rounds we shorten them, keeping a rewrite only if a replay on a scratch
simulator still reaches score 100:

1. drop exploration round trips (leave a room and come back with only doors / moves / looks between);
2. drop observation-only actions (look, examine, inventory; then also thermometer readings),
   replacing each run of them and of ``wait1`` by ``wait`` (10 ticks) - rounded up, or keeping
   the exact clock with ``wait1`` where timing matters;
3. drop opening containers that the rest of the plan never mentions;
4. cut the plan where the score first reaches 100;
5. only if the plan is still over the round budget (`ROUND_BUDGET`): drop single actions, last
   first, wherever the replay still reaches 100 (e.g. a try of a broken stove before the furnace).

The result is cached on disk (``$AGENTGYM_CACHE/sciworld/plans``), keyed by task and variation:
with the JVM's constant identity hash (see `pool`), the simulator is deterministic, so a plan
verified once stays valid. Plans that never reach 100 are cached as failures.

ScienceWorld's *gold path* is not a function of the task alone, though: it depends on what the JVM
loaded before (melt variation 27 gave 54, 60, 66 or 78 gold steps in JVMs that had loaded other
tasks first), so a plan generated in one process can come out longer than in another - over 30
rounds for a few change-of-state tasks. Step 5 brings such plans under the budget, and a cached
plan over it that predates step 5 is shortened when read.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from agentgym.envs.sciworld.pool import Simulator, SimulatorPool
from agentgym.envs.sciworld.tasks import SciTask

PLAN_VERSION = 1
ROUND_BUDGET = 30  # SciWorldEnv.spec.max_rounds: an expert plan must end within it

_NAV = re.compile(r"^(open door to .+|close door to .+|go to .+|look around|look at .+)$")
_LOOK = re.compile(r"^(look around|look at .+|look in .+|examine .+|inventory|wait1)$")
_LOOK_THERMO = re.compile(
    r"^(look around|look at .+|look in .+|examine .+|inventory|wait1|use thermometer .+)$"
)
_OPEN = re.compile(r"^open (?!door to )(.+)$")
_GOTO = re.compile(r"^go to (.+)$")


def cache_dir() -> Path:
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "sciworld" / "plans"


def start_episode(server, t: SciTask) -> str:
    """Load ``t`` fresh and take the first "look around" (what `SciWorldEnv.reset` does)."""
    server.load(t.name, t.variation, "", False)
    return server.step("look around")


def replay(server, t: SciTask, plan: list[str]) -> int | None:
    """Play ``plan`` from the start; the number of steps at which the score reaches 100, or None."""
    start_episode(server, t)
    for i, action in enumerate(plan):
        server.step(action)
        score = round(100 * server.getScore())
        if score >= 100:
            return i + 1
        if score < 0 or server.getCompleted():
            return None
    return None


def gold_path(server, t: SciTask) -> list[str]:
    server.load(t.name, t.variation, "", True)
    return [str(a) for a in server.getGoldActionSequence()]


def _drop_round_trips(plan: list[str]) -> list[str]:
    """Remove stretches that start and end in the same room with only navigation between."""
    while True:
        before: list[str] = []  # the room the agent is in before each action
        room = "<start>"
        for a in plan:
            before.append(room)
            m = _GOTO.match(a)
            room = m.group(1) if m else room
        cut = None
        for j, a in enumerate(plan):
            m = _GOTO.match(a)
            if not m:
                continue
            i = j
            while i > 0 and _NAV.match(plan[i - 1]):
                i -= 1
            # the earliest start of an all-navigation stretch ending at j that began in this room
            starts = [k for k in range(i, j) if before[k] == m.group(1)]
            if starts:
                cut = (starts[0], j)
                break
        if cut is None:
            return plan
        plan = plan[: cut[0]] + plan[cut[1] + 1 :]


def _compress_waits(plan: list[str], idle: re.Pattern[str], exact: bool = False) -> list[str]:
    """Replace each run of idle actions (``idle`` matches) lasting n ticks by ceil(n/10) ``wait``
    (a run under 3 ticks is dropped), or with ``exact`` by n//10 ``wait`` + n%10 ``wait1`` (the
    same clock, for tasks where timing matters, e.g. life stages)."""
    out: list[str] = []
    run = 0
    for a in [*plan, None]:
        if a is not None and idle.match(a):
            run += 1
            continue
        if exact:
            out.extend(["wait"] * (run // 10) + ["wait1"] * (run % 10))
        elif run >= 3:
            out.extend(["wait"] * -(-run // 10))
        run = 0
        if a is not None:
            out.append(a)
    return out


def _drop_unused_opens(plan: list[str]) -> list[str]:
    out = []
    for i, a in enumerate(plan):
        m = _OPEN.match(a)
        if m and not any(m.group(1) in later for later in plan[i + 1 :]):
            continue
        out.append(a)
    return out


def shorten(server, t: SciTask, gold: list[str]) -> list[str] | None:
    """The shortest verified rewrite of ``gold`` (None if even ``gold`` fails)."""
    n = replay(server, t, gold)
    if n is None:
        return None
    best = gold[:n]
    rewrites: list[Callable[[list[str]], list[str]]] = [
        _drop_round_trips,
        lambda p: _compress_waits(p, _LOOK),
        lambda p: _compress_waits(p, _LOOK, exact=True),
        lambda p: _compress_waits(p, _LOOK_THERMO),
        lambda p: _compress_waits(p, _LOOK_THERMO, exact=True),
        _drop_unused_opens,
    ]
    for rewrite in rewrites:
        candidate = rewrite(best)
        if len(candidate) >= len(best):
            continue
        n = replay(server, t, candidate)
        if n is not None:
            best = candidate[:n]
    return _drop_single_steps(server, t, best)


def _drop_single_steps(server, t: SciTask, plan: list[str], budget: int = ROUND_BUDGET) -> list[str]:
    """While ``plan`` is over ``budget``: drop single actions, last first, keeping each drop whose
    replay still reaches 100 (one replay per action tried; plans within the budget are returned as
    they are)."""
    i = len(plan) - 1
    while i >= 0 and len(plan) > budget:
        candidate = plan[:i] + plan[i + 1 :]
        n = replay(server, t, candidate)
        if n is not None:
            plan = candidate[:n]
        i = min(i, len(plan)) - 1
    return plan


class PlanCache:
    """Verified expert plans per (task, variation), on disk and in memory; thread-safe."""

    def __init__(self, pool: SimulatorPool, directory: Path | None = None) -> None:
        self.pool = pool
        self.dir = directory or cache_dir()
        self._mem: dict[tuple[str, int], list[str] | None] = {}
        self._lock = threading.Lock()

    def _path(self, t: SciTask) -> Path:
        return self.dir / f"v{PLAN_VERSION}-{t.name}-{t.variation}.json"

    def plan(self, t: SciTask) -> list[str] | None:
        key = (t.name, t.variation)
        with self._lock:
            if key in self._mem:
                return self._mem[key]
        path = self._path(t)
        data = json.loads(path.read_text()) if path.exists() else None
        if data is None or (
            data["plan"] and len(data["plan"]) > ROUND_BUDGET and data.get("budget") != ROUND_BUDGET
        ):
            sim: Simulator = self.pool.acquire()
            try:
                if data is None:
                    gold = gold_path(sim.server, t)
                    plan = shorten(sim.server, t, gold)
                    data = {"task": t.name, "variation": t.variation, "gold_len": len(gold), "plan": plan}
                else:  # cached before step 5 existed
                    data["plan"] = _drop_single_steps(sim.server, t, data["plan"])
                data["budget"] = ROUND_BUDGET  # step 5 done: a longer plan stays as it is
            finally:
                self.pool.release(sim)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        with self._lock:
            self._mem[key] = data["plan"]
        return data["plan"]


def thought(action: str) -> str:
    """A short rationale for a plan step (the expert's "Thought:")."""
    verb = action.split(" ", 1)[0]
    rest = action[len(verb) :].strip()
    if action.startswith("focus on"):
        return f"The task is about the {action[9:]}, so I should focus on it."
    if action.startswith("open door to"):
        return f"I need to get to the {action[13:]}; first I open the door."
    if verb == "go":
        return f"The door is open, so I can go to the {action[6:]}."
    if verb in ("wait", "wait1"):
        return "Nothing more to do right now; I will wait for the process to go on."
    if verb == "pick":
        return f"I will need the {action[8:]}, so I pick it up."
    if verb == "move":
        return f"Next I {action}."
    if verb in ("activate", "deactivate"):
        return f"I should {verb} the {rest}."
    if verb == "connect":
        return f"To build the circuit, I connect {rest}."
    if verb == "use":
        return f"I will {action} to check it."
    return f"The next step is to {action}."
