"""SessionManager on its own: ids, capacity, locks, worker threads, errors, reaping, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import dummy_envs as de
from agentgym.core.errors import NotReset, UnknownEnv, UnknownTask
from agentgym.core.registry import register
from agentgym.core.types import StepResult
from agentgym.server.sessions import (
    AtCapacity,
    BadEnvArgs,
    EnvFailure,
    NotSupported,
    SessionManager,
    UnknownSession,
)


@pytest.fixture
def mgr(dummy_envs):
    return SessionManager(["counter", "crashy", "sleepy"], capacity={"counter": 3}, ttl_s=None)


class GateEnv(de.SleepyEnv):
    """A blocking env driven by events, not sleeps: "meet" returns only once two "meet" steps are
    inside at the same time; "hold" sets ``entered`` and returns once the test sets ``release``."""

    spec = de.SleepyEnv.spec.model_copy(update={"id": "gate"})
    meeting = threading.Barrier(2, timeout=60)
    entered = threading.Event()
    release = threading.Event()
    log: list[str] = []

    def _step(self, action: str) -> StepResult:
        if action == "meet":
            GateEnv.meeting.wait()  # BrokenBarrierError (an EnvFailure) if the other never comes
        elif action == "hold":
            GateEnv.entered.set()
            if not GateEnv.release.wait(60):
                raise RuntimeError("the test never released the step")
            GateEnv.log.append("step returns")
        else:
            return super()._step(action)
        return StepResult(action, 0.0, False, False, {"thread": threading.current_thread().name})

    def close(self) -> None:
        GateEnv.log.append("close")
        super().close()


@pytest.fixture
def gate(dummy_envs):
    register("gate", GateEnv)
    GateEnv.meeting.reset()
    GateEnv.entered.clear()
    GateEnv.release.clear()
    GateEnv.log.clear()
    yield GateEnv
    GateEnv.release.set()  # never leave a worker thread waiting


async def test_ids_are_unique_and_never_reused(mgr):
    seen, nums = set(), []
    for _ in range(5):
        s = await mgr.create("counter")
        assert s.id not in seen
        seen.add(s.id)
        nums.append(s.num)
        await mgr.close(s.id)
    assert nums == sorted(set(nums)), "compat ids must only grow"
    with pytest.raises(UnknownSession, match="closed"):
        mgr.get(next(iter(seen)))
    with pytest.raises(UnknownSession, match="unknown session"):
        mgr.get("nope")


async def test_capacity_is_per_env_and_freed_on_close(mgr):
    sessions = [await mgr.create("counter") for _ in range(3)]
    with pytest.raises(AtCapacity) as exc:
        await mgr.create("counter")
    assert exc.value.status == 503 and exc.value.retry_after > 0
    other = await mgr.create("crashy")  # other envs are unaffected
    assert mgr.counts() == {"counter": 3, "crashy": 1, "sleepy": 0}
    await mgr.close(sessions[0].id)
    assert (await mgr.create("counter")).env_id == "counter"
    await mgr.close(other.id)


async def test_unknown_env_and_bad_kwargs(mgr):
    with pytest.raises(UnknownEnv):
        await mgr.create("maze-not-hosted")
    with pytest.raises(BadEnvArgs, match="no_such_kwarg"):
        await mgr.create("counter", {"no_such_kwarg": 1})
    assert mgr.counts()["counter"] == 0, "a failed create must release its slot"
    s = await mgr.create("counter", {"start_offset": 100})
    obs = await mgr.call(s, s.env.reset, 10)
    assert "count 110" in obs.text


def test_bad_configuration(dummy_envs):
    with pytest.raises(ValueError, match="capacity"):
        SessionManager(["counter"], capacity=0)
    with pytest.raises(UnknownEnv):
        SessionManager(["no-such-env"])
    with pytest.raises(ValueError):
        SessionManager([])


async def test_api_errors_pass_through_and_crashes_are_wrapped(mgr):
    s = await mgr.create("crashy")
    with pytest.raises(NotReset):
        await mgr.call(s, s.env.step, "inc")
    with pytest.raises(UnknownTask):
        await mgr.call(s, s.env.reset, 12345)
    await mgr.call(s, s.env.reset, 10)
    with pytest.raises(EnvFailure, match="crashy.*RuntimeError: kaboom"):
        await mgr.call(s, s.env.step, "boom")
    res = await mgr.call(s, s.env.step, "inc")  # the session is still usable
    assert "count 11" in res.observation
    with pytest.raises(NotSupported):  # crashy cannot enumerate actions
        import random

        await mgr.call(s, s.env.random_action, random.Random(0))


async def test_blocking_env_runs_in_worker_threads_serialised_per_session(gate):
    mgr = SessionManager(["counter", "sleepy", "gate"], ttl_s=None)
    a, b = await mgr.create("gate"), await mgr.create("gate")
    assert a.threaded and not (await mgr.create("counter")).threaded
    for s in (a, b):
        await mgr.call(s, s.env.reset, 10)
    # each "meet" returns only when the other is inside too: different sessions run in parallel
    results = await asyncio.gather(*(mgr.call(s, s.env.step, "meet") for s in (a, b)))
    assert [r.observation for r in results] == ["meet", "meet"]
    assert all(r.info["thread"].startswith("agentgym-env") for r in results)
    c = await mgr.create("sleepy")
    await mgr.call(c, c.env.reset, 10)
    de.max_concurrent_sleeps(reset=True)
    await asyncio.gather(mgr.call(c, c.env.step, "sleep"), mgr.call(c, c.env.step, "sleep"))
    assert de.max_concurrent_sleeps(reset=True) == 1, "calls on one session must be serialised"
    assert c.env.rounds == 2
    await mgr.stop()


async def test_reap_once_closes_idle_sessions_but_not_busy_ones(gate):
    mgr = SessionManager(["counter", "gate"], ttl_s=5.0)
    idle = await mgr.create("counter")
    busy = await mgr.create("gate")
    await mgr.call(busy, busy.env.reset, 10)
    n_closed = len(de.CLOSED)
    task = asyncio.create_task(mgr.call(busy, busy.env.step, "hold"))
    assert await asyncio.to_thread(gate.entered.wait, 60), "the step never started"  # holds the lock
    reaped = await mgr.reap_once(now=time.monotonic() + 60)
    assert reaped == [idle.id]
    assert de.CLOSED[n_closed:] == ["counter"], "env.close() must run on reap"
    with pytest.raises(UnknownSession, match="reaped after 5 s idle"):
        mgr.get(idle.id)
    gate.release.set()
    await task
    assert mgr.get(busy.id) is busy
    await mgr.stop()
    assert len(mgr) == 0 and de.CLOSED[-1] == "gate", "stop() must close every env"


async def test_reaper_task_runs_with_a_short_ttl(dummy_envs):
    mgr = SessionManager(["counter"], ttl_s=0.1, reap_interval_s=0.02)
    await mgr.start()
    s = await mgr.create("counter")
    for _ in range(200):  # bounded wait, no timing assertion
        if len(mgr) == 0:
            break
        await asyncio.sleep(0.02)
    assert len(mgr) == 0 and mgr.counts()["counter"] == 0
    with pytest.raises(UnknownSession):
        mgr.get_num(s.num, "counter")
    await mgr.stop()


async def test_delete_during_a_call_waits_for_it(gate):
    mgr = SessionManager(["gate"], ttl_s=None)
    s = await mgr.create("gate")
    await mgr.call(s, s.env.reset, 10)
    step = asyncio.create_task(mgr.call(s, s.env.step, "hold"))
    assert await asyncio.to_thread(gate.entered.wait, 60), "the step never started"
    closing = asyncio.create_task(mgr.close(s.id))  # must wait for the in-flight step
    done, _ = await asyncio.wait({closing}, timeout=0.2)  # a close that did not wait could end here
    assert not done and gate.log == []
    gate.release.set()
    await closing
    assert gate.log == ["step returns", "close"]  # the env closed only after its step returned
    assert step.done() and step.result().observation == "hold"
    with pytest.raises(UnknownSession):
        await mgr.call(s, s.env.step, "inc")
    await mgr.stop()
