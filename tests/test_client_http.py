"""EnvClient / AsyncEnvClient against real servers: the client interface, error mapping, retries on
503, a pool of servers (spread, pinning, a dead server), tokens, 64 concurrent async sessions."""

from __future__ import annotations

import asyncio
import random
import socket
import threading

import pytest

from agentgym.client import AsyncEnvClient, AsyncLocalClient, EnvClient, ServerError
from agentgym.client.http import BadRequest, ServerUnavailable, Unauthorized
from agentgym.core.errors import EpisodeOver, NoExpert, NotReset, UnknownEnv, UnknownTask
from agentgym.core.registry import make
from agentgym.core.types import EnvSpec, Observation, StepResult
from agentgym.server.sessions import AtCapacity, NotSupported, UnknownSession
from agentgym.server.testing import run_server
from conftest import light_envs


@pytest.fixture(scope="module")
def url(dummy_envs):
    with run_server(["counter", "crashy", *light_envs()]) as u:
        yield u


def dead_url() -> str:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_sync_client_session(url):
    with EnvClient(url) as client:
        assert {"counter", "crashy"} <= set(client.list_envs())
        assert isinstance(client.spec("counter"), EnvSpec) and client.spec("counter").id == "counter"
        local = make("counter")
        with client.session("counter") as s:
            obs = s.reset(11, seed=2)
            assert isinstance(obs, Observation) and obs == local.reset(11, 2)
            assert s.available_actions() == ["inc", "dec"]
            assert s.instruction() == local.instruction() and s.expert_reply() == local.expert_reply()
            assert s.random_action(5) == local.random_action(random.Random(5))
            res = s.step("inc")
            assert isinstance(res, StepResult) and res == local.step("inc")
            assert s.observation() == res.observation
            assert s.info()["rounds"] == 1
        with pytest.raises(UnknownSession):  # closed by the context manager
            client.request(None, "GET", s.url)
        s.close()  # closing twice is harmless


def test_sync_client_errors(url):
    with EnvClient(url, retries=0) as client:
        with pytest.raises(UnknownEnv, match="nosuch"):
            client.session("nosuch")
        with pytest.raises(UnknownEnv):
            client.spec("nosuch")
        with pytest.raises(BadRequest, match="nope"):
            client.session("counter", nope=1)
        s = client.session("counter")
        with pytest.raises(NotReset):
            s.step("inc")
        with pytest.raises(UnknownTask, match="4242"):
            s.reset(4242)
        s.reset(10)
        for _ in range(3):
            last = s.step("inc")
        assert last.done and last.reward == 1.0
        with pytest.raises(EpisodeOver):
            s.step("inc")
        c = client.session("crashy")
        c.reset(10)
        with pytest.raises(NoExpert):
            c.expert_reply()
        with pytest.raises(NotSupported):
            c.random_action(0)
        with pytest.raises(ServerError, match="crashy.*kaboom"):
            c.step("boom")
        assert "count 11" in c.step("inc").observation  # still usable after the crash
        client.request(None, "DELETE", s.url)  # gone behind the client's back
        with pytest.raises(UnknownSession):
            s.step("inc")
        s.close()  # an already-deleted session closes quietly
        c.close()


async def test_async_client_session(url):
    async with AsyncEnvClient(url) as client:
        assert "counter" in await client.list_envs()
        assert (await client.spec("counter")).max_rounds == 10
        local = make("counter")
        async with await client.session("counter") as s:
            assert await s.reset(12) == local.reset(12)
            assert await s.step("dec") == local.step("dec")
            assert await s.observation() == local.observation()
            assert await s.available_actions() == ["inc", "dec"]
            assert await s.instruction() == local.instruction()
            assert await s.expert_reply() == local.expert_reply()
            assert await s.random_action(1) == local.random_action(random.Random(1))
        c = await client.session("crashy")
        await c.reset(10)
        with pytest.raises(ServerError, match="kaboom"):
            await c.step("boom")
        with pytest.raises(UnknownEnv):
            await client.session("nosuch")
        await c.close()


async def _episode(client, env_id: str, task: int, seed: int, steps: int) -> list[str]:
    s = await client.session(env_id)
    try:
        seen = [(await s.reset(task, seed)).text]
        for k in range(steps):
            res = await s.step(await s.random_action(seed * 100 + k))
            seen.append(res.observation)
            if res.done:
                break
        return seen
    finally:
        await s.close()


@pytest.mark.parametrize("env_id", ["counter", *light_envs()[:1]])
async def test_64_async_sessions_match_in_process(url, env_id):
    """64 concurrent HTTP sessions see exactly what AsyncLocalClient sessions see."""
    tasks = make(env_id).spec.split("test")
    jobs = [(tasks[i % len(tasks)], i) for i in range(64)]
    local = AsyncLocalClient()
    want = await asyncio.gather(*(_episode(local, env_id, t, s, 3) for t, s in jobs))
    async with AsyncEnvClient(url) as client:
        got = await asyncio.gather(*(_episode(client, env_id, t, s, 3) for t, s in jobs))
    assert got == want


def test_capacity_retry_succeeds_once_a_slot_frees(dummy_envs):
    with run_server(["counter"], capacity=1, retry_after_s=1) as u:
        holder = EnvClient(u).session("counter")
        with EnvClient(u, capacity_wait_s=0) as impatient, pytest.raises(AtCapacity) as exc:
            impatient.session("counter")
        assert exc.value.retry_after == 1.0
        timer = threading.Timer(0.5, holder.close)
        timer.start()
        with EnvClient(u, retries=5, backoff_s=0.05) as patient:
            s = patient.session("counter")  # 503 (Retry-After: 1) until the holder closes
            assert not holder._open, "the only slot was the holder's"
            s.reset(10)
            assert "count 10" in s.observation()
            s.close()
        timer.join()
        holder.client.close()


async def test_async_capacity_retry(dummy_envs):
    with run_server(["counter"], capacity=1, retry_after_s=1) as u:
        async with AsyncEnvClient(u, retries=5, backoff_s=0.05) as client:
            first = await client.session("counter")
            pending = asyncio.create_task(client.session("counter"))
            for _ in range(6000):  # until it got its 503 and waits for a slot (bounded wait)
                if client._waiters.get("counter") or pending.done():
                    break
                await asyncio.sleep(0.01)
            assert not pending.done(), "the only slot is taken: the second session must wait"
            assert client._waiters.get("counter"), "the refused request waits for a slot"
            await first.close()  # frees the slot and wakes the waiter
            second = await pending
            assert second.session_id != first.session_id
            assert "count 10" in (await second.reset(10)).text
            (health,) = (await client.health()).values()
            assert health["envs"]["counter"]["sessions"] == 1
            await second.close()


def test_pool_spreads_sessions_and_pins_them(dummy_envs):
    with run_server(["counter"]) as a, run_server(["counter"]) as b, EnvClient([a, b]) as client:
        sessions = [client.session("counter") for _ in range(4)]
        assert sorted(s.base_url for s in sessions) == sorted([a, a, b, b])  # least-loaded, round-robin
        for i, s in enumerate(sessions):
            s.reset(10 + i)
            assert f"task {10 + i}" in s.step("inc").observation  # each stays on its own server
        with EnvClient(a) as only_a:
            assert only_a.request(None, "GET", f"{a}/v1/health")["sessions"] == 2
        sessions[0].close()
        assert client.session("counter").base_url == sessions[0].base_url  # the emptier server
        for s in sessions[1:]:
            s.close()


def test_pool_skips_a_dead_server(url):
    down = dead_url()
    with EnvClient([down, url], retries=1, backoff_s=0.01) as client:
        sessions = [client.session("counter") for _ in range(3)]
        assert all(s.base_url == url for s in sessions)
        assert client.pool.order()[-1] == down, "a server that refused connections is tried last"
        assert "counter" in client.list_envs()
        for s in sessions:
            s.close()
    with EnvClient(down, retries=1, backoff_s=0.01) as client:
        with pytest.raises(ServerUnavailable, match="connection refused"):
            client.session("counter")


async def test_async_pool_skips_a_dead_server(url):
    async with AsyncEnvClient([dead_url(), url], retries=1, backoff_s=0.01) as client:
        s = await client.session("counter")
        assert s.base_url == url
        await s.reset(10)
        await s.close()


def test_token(dummy_envs):
    with run_server(["counter"], token="t0k") as u:
        with EnvClient(u, token="t0k") as good:
            good.session("counter").close()
        with EnvClient(u) as anonymous, pytest.raises(Unauthorized, match="bearer"):
            anonymous.session("counter")


@pytest.mark.timeout(120)
async def test_more_sessions_than_capacity_wait_for_slots(dummy_envs):
    """16 episodes at once against capacity 2: the creates past capacity wait (503 + Retry-After,
    or woken when one of our sessions closes) instead of failing after a few tries."""
    with run_server(["counter"], capacity=2, retry_after_s=1) as u:
        async with AsyncEnvClient(u, retries=1, capacity_wait_s=120) as client:
            live = {"now": 0, "max": 0}

            async def episode(i: int) -> str:
                s = await client.session("counter")
                live["now"] += 1
                live["max"] = max(live["max"], live["now"])
                try:
                    await s.reset(10 + i % 10)
                    return (await s.step("inc")).observation
                finally:
                    live["now"] -= 1
                    await s.close()

            seen = await asyncio.gather(*(episode(i) for i in range(16)))
            health = await client.request(None, "GET", f"{u}/v1/health")
    assert len(seen) == 16 and all("count" in o for o in seen)
    assert live["max"] <= 2 and health["sessions"] == 0


def test_capacity_wait_zero_raises_at_once_and_names_the_option(dummy_envs):
    with run_server(["counter"], capacity=1) as u, EnvClient(u, capacity_wait_s=0) as client:
        held = client.session("counter")
        with pytest.raises(AtCapacity, match="capacity-wait"):
            client.session("counter")
        held.close()
        client.session("counter").close()  # the freed slot is usable


async def test_a_refused_first_contact_fails_at_once_naming_the_url():
    down = dead_url()
    async with AsyncEnvClient(down, retries=50, backoff_s=10) as client:  # no retry would ever end
        for call in (client.list_envs(), client.spec("maze"), client.session("maze")):
            with pytest.raises(ServerUnavailable) as exc:
                await call
            assert down in str(exc.value) and "connection refused" in str(exc.value)
            assert "agentgym serve" in str(exc.value)
        health = await client.health()
        assert isinstance(health[down], ServerUnavailable)


def test_a_server_lost_after_contact_gets_a_bounded_retry_then_fails_fast(dummy_envs):
    """Once the server has answered, a refused connection is retried ``retries`` times; after one call
    gave up, the others fail without the backoff (a dead server must not cost minutes per episode)."""
    with run_server(["counter"]) as u:
        client = EnvClient(u, retries=2, backoff_s=0.01)
        s = client.session("counter")
        s.reset(10)
        assert u in client.pool.reached
    try:  # the server is gone (its port closed); the session is pinned to it
        with pytest.raises(ServerUnavailable, match="lost the env server"):
            s.step("inc")
        assert client.pool.is_down(u)
        with pytest.raises(ServerUnavailable, match="lost the env server"):
            client.session("counter")
    finally:
        client.close()
