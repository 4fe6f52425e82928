"""ALFWorld under concurrency: engines in worker processes (`agentgym.envs.worker_pool`).

TextWorld is not thread-safe; before the engines moved to worker processes, 4 episodes played at
once in threads all ended in ``FailedToken: expecting ';'``. Here: 16 concurrent sessions over HTTP
against a real server, the in-process runner with 8 episodes in flight, a worker SIGKILLed in the
middle of a session, and the generic pool on its own (with stdlib objects as engines, no TextWorld).

Games come from the machine's game cache (``~/.cache/agentgym`` or ``$AGENTGYM_CACHE``); the first
run generates the 4 games used (~11 s each, on the pool's workers).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import pickle
import signal

import httpx
import pytest

from agentgym.envs.alfworld.env import engine_pool
from agentgym.envs.worker_pool import EnginePool, WorkerCrashed

TASKS = [2420, 2421, 2422, 2423]  # four of the six task types: clean, heat, cool, pick two


def _action(reply: str) -> str:
    return reply.rsplit("Action:", 1)[1].strip()


# ------------------------------------------------------------------------ the generic pool
@pytest.fixture
def pool():
    p = EnginePool("test", 2)
    yield p
    p.shutdown()


def test_pool_spreads_engines_and_keeps_error_types(pool: EnginePool) -> None:
    a = pool.create("builtins:dict", {"x": 1})
    b = pool.create("builtins:dict")
    assert a.pid != b.pid and a.pid != os.getpid()  # two engines, two workers: they run in parallel
    c = pool.create("builtins:dict")  # both busy: the least-loaded worker takes it
    assert pool.workers() == {a.pid: 2, b.pid: 1} or pool.workers() == {a.pid: 1, b.pid: 2}
    assert a.call("get", "x") == 1 and b.call("get", "x") is None
    b.call("update", {"y": 2})
    assert b.call("copy") == {"y": 2} and c.call("copy") == {}  # each engine has its own state
    with pytest.raises(KeyError) as e:  # the engine's exception, re-raised with its type
        a.call("pop", "missing")
    assert "in the worker process" in str(e.value.__cause__)
    with pytest.raises(AttributeError):
        a.call("no_such_method")
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        a.call("update", {"f": lambda: 0})  # refused before sending: the worker never sees it
    assert a.call("get", "x") == 1 and pool.crashes == 0  # errors do not hurt the worker


def test_pool_frees_closed_and_dropped_engines(pool: EnginePool) -> None:
    a = pool.create("builtins:dict")
    b = pool.create("builtins:dict")
    a.close()
    assert a.id not in pool.engines() and not a.alive
    with pytest.raises(RuntimeError, match="closed"):
        a.call("copy")
    hid = b.id
    del b
    gc.collect()  # dropped without close: queued, freed with the worker's next request
    assert hid not in pool.engines()
    c = pool.create("builtins:dict")
    assert c.call("copy") == {}
    assert sum(pool.hosted().values()) == 1  # only c is left in the workers


def test_pool_replaces_a_dead_worker(pool: EnginePool) -> None:
    a = pool.create("builtins:dict", {"k": "a"})
    b = pool.create("builtins:dict", {"k": "b"})
    os.kill(a.pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashed, match=r"died \(killed by SIGKILL\)") as e:
        a.call("get", "k")
    assert isinstance(e.value, RuntimeError) and f"pid {a.pid}" in str(e.value)
    assert not a.alive and a.pid not in pool.workers() and pool.crashes == 1
    with pytest.raises(WorkerCrashed):  # later calls fail at once, they do not hang
        a.call("get", "k")
    a.close()  # closing a dead engine is a no-op
    assert b.call("get", "k") == "b"  # the other worker is untouched
    c = pool.create("builtins:dict", {"k": "c"})  # a fresh worker took the slot
    assert c.call("get", "k") == "c" and len(pool.workers()) == 2


def test_pool_create_skips_a_worker_that_died_idle(pool: EnginePool) -> None:
    a = pool.create("builtins:dict")
    pid = a.pid
    a.close()  # worker a is idle: the next create goes there
    os.kill(pid, signal.SIGKILL)
    b = pool.create("builtins:dict", {"k": "b"})  # finds it dead, builds on its replacement
    assert b.pid != pid and b.call("get", "k") == "b" and pool.crashes == 1
    assert pool.hosted() == {b.pid: 1, **{p: 0 for p in pool.workers() if p != b.pid}}


def test_pool_kills_a_worker_that_times_out(pool: EnginePool) -> None:
    ev = pool.create("threading:Event")
    with pytest.raises(WorkerCrashed, match="TimeoutError"):
        ev.call("wait", 600, timeout_s=0.5)
    assert pool.create("threading:Event").call("is_set") is False


# ---------------------------------------------------------------------------------- ALFWorld
alfworld = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("alfworld", "textworld")), reason="alfworld not installed"
)


@pytest.fixture(scope="module")
def url():
    from agentgym.server.testing import run_server

    with run_server(["alfworld"], expert=True) as u:  # the /expert route (the answer key) on
        yield u


async def _play_http(http: httpx.AsyncClient, task_id: int, live: asyncio.Barrier | None) -> dict:
    """One whole expert episode over HTTP; waits at ``live`` until every session has its engine."""
    r = await http.post("/v1/sessions", json={"env": "alfworld"})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    r = await http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task_id})
    assert r.status_code == 200, r.text
    transcript = [r.json()["observation"]]
    if live is not None:
        await live.wait()
    workers = engine_pool().workers()
    step: dict = {}
    for _ in range(30):
        r = await http.get(f"/v1/sessions/{sid}/expert")
        assert r.status_code == 200, r.text
        action = _action(r.json()["reply"])
        r = await http.post(f"/v1/sessions/{sid}/step", json={"action": action})
        assert r.status_code == 200, r.text
        step = r.json()
        transcript += [action, step["observation"]]
        if step["done"]:
            break
    assert (await http.delete(f"/v1/sessions/{sid}")).status_code == 204
    return {"task": task_id, "step": step, "transcript": transcript, "workers": workers}


@pytest.mark.heavy
@alfworld
def test_sixteen_concurrent_http_sessions(url: str) -> None:
    async def main() -> list[dict]:
        live = asyncio.Barrier(16)
        async with httpx.AsyncClient(base_url=url, timeout=900) as http:
            return await asyncio.gather(*(_play_http(http, TASKS[i % 4], live) for i in range(16)))

    before = engine_pool().crashes
    results = asyncio.run(main())
    for res in results:
        assert res["step"]["reward"] == 1.0 and res["step"]["info"]["success"], res
        assert not res["step"]["info"]["invalid_action"]
    # same task, same episode - whichever worker played it
    for tid in TASKS:
        same = [r["transcript"] for r in results if r["task"] == tid]
        assert len(same) == 4 and all(t == same[0] for t in same)
    # while all 16 were live, every worker hosted some of them (so their steps ran in parallel)
    workers = results[0]["workers"]
    assert sum(workers.values()) >= 16 and len(workers) == engine_pool().size
    assert all(n >= 1 for n in workers.values())
    assert engine_pool().crashes == before
    assert not engine_pool().engines()  # every session's engine was freed by its DELETE ...
    assert set(engine_pool().hosted().values()) == {0}  # ... in the workers too


@pytest.mark.heavy
@alfworld
def test_in_process_runner_with_concurrency_8() -> None:
    from agentgym.agents.expert import ExpertAgent
    from agentgym.client.local import AsyncLocalClient
    from agentgym.rollout.runner import EpisodeItem, run_episodes

    items = [EpisodeItem("alfworld", tid, sample=s) for s in range(2) for tid in TASKS]
    trajs = asyncio.run(run_episodes(items, ExpertAgent(), AsyncLocalClient(), concurrency=8))
    assert len(trajs) == 8
    for t in trajs:
        assert t.stop == "done" and t.success and t.reward == 1.0, (t.task_id, t.stop, t.conversations[-1])
    by_task: dict[int, list] = {}
    for t in trajs:
        by_task.setdefault(t.task_id, []).append([c.value for c in t.conversations])
    assert all(a == b for a, b in by_task.values())  # deterministic across samples and workers
    assert not engine_pool().engines()


@pytest.mark.heavy
@alfworld
def test_killed_worker_fails_its_session_only(url: str) -> None:
    with httpx.Client(base_url=url, timeout=900) as http:

        def new_session(task_id: int) -> str:
            r = http.post("/v1/sessions", json={"env": "alfworld"})
            assert r.status_code == 201, r.text
            sid = r.json()["session_id"]
            assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task_id}).status_code == 200
            return sid

        def expert_step(sid: str) -> dict:
            r = http.get(f"/v1/sessions/{sid}/expert")
            assert r.status_code == 200, r.text
            r = http.post(f"/v1/sessions/{sid}/step", json={"action": _action(r.json()["reply"])})
            assert r.status_code == 200, r.text
            return r.json()

        known = set(engine_pool().engines())
        victim = new_session(TASKS[0])
        mine = {h: pid for h, pid in engine_pool().engines().items() if h not in known}
        assert len(mine) == 1
        (pid,) = mine.values()
        other = new_session(TASKS[1])  # lands on another worker (when there are two or more)
        expert_step(victim)
        os.kill(pid, signal.SIGKILL)

        r = http.post(f"/v1/sessions/{victim}/step", json={"action": "look"})
        assert r.status_code == 500, r.text
        detail = r.json()["detail"]
        assert f"worker process (pid {pid}) died (killed by SIGKILL)" in detail, detail
        assert "reset the session" in detail
        r = http.get(f"/v1/sessions/{victim}/expert")  # the engine is gone: a clear error, no hang
        assert r.status_code == 500 and "engine is gone" in r.json()["detail"], r.text

        # the server goes on: other sessions, new sessions, and the victim after a reset
        if engine_pool().size > 1:
            assert expert_step(other)["observation"]
        fresh = new_session(TASKS[2])
        step: dict = {}
        for _ in range(30):
            step = expert_step(fresh)
            if step["done"]:
                break
        assert step["reward"] == 1.0 and step["info"]["success"]
        assert http.post(f"/v1/sessions/{victim}/reset", json={"task_id": TASKS[0]}).status_code == 200
        assert not expert_step(victim)["info"]["invalid_action"]
        assert pid not in engine_pool().workers()
        for sid in (victim, other, fresh):
            assert http.delete(f"/v1/sessions/{sid}").status_code == 204


@pytest.mark.heavy
@alfworld
def test_reset_recovers_from_a_worker_that_died_unnoticed() -> None:
    from agentgym.core.registry import make

    env = make("alfworld")
    first = env.reset(TASKS[3])
    pid = env.worker_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # nothing asks that worker anything before the reset below
    again = env.reset(TASKS[3])  # a reset needs no old state: it goes to a fresh engine
    assert again.text == first.text and env.worker_pid not in (None, pid)
    assert not env.step(_action(env.expert_reply())).info["invalid_action"]
    env.close()
