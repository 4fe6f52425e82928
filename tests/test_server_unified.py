"""The unified v1 routes over real HTTP (uvicorn on a free loopback port): shapes, every status code,
isolation of 64 concurrent sessions, crashes, blocking envs, the reaper, capacity, tokens."""

from __future__ import annotations

import asyncio
import random
import threading

import httpx
import pytest

import dummy_envs as de
from agentgym.core.registry import make, register
from agentgym.core.types import EnvSpec, StepResult
from agentgym.server.testing import run_server
from conftest import light_envs

ENVS = ["counter", "crashy", "sleepy", *light_envs()]


@pytest.fixture(scope="module")
def url(dummy_envs):
    with run_server(ENVS) as u:
        yield u


@pytest.fixture
def http(url):
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def new_session(http: httpx.Client, env: str = "counter", task: int | None = 10) -> str:
    r = http.post("/v1/sessions", json={"env": env})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    if task is not None:
        assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).status_code == 200
    return sid


def expect(r: httpx.Response, status: int, kind: str | None = None, text: str = "") -> dict:
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"], "errors carry a readable detail"
    if kind:
        assert body["type"] == kind, body
    assert text in body["detail"], body["detail"]
    return body


def test_health_and_env_specs(http):
    h = http.get("/v1/health").json()
    assert h["status"] == "ok" and set(h["envs"]) == set(ENVS)
    assert h["envs"]["counter"]["capacity"] == 256
    assert h["sessions"] == sum(e["sessions"] for e in h["envs"].values())
    n = h["envs"]["counter"]["sessions"]
    sid = new_session(http, task=None)  # the counts follow sessions opened and closed
    assert http.get("/v1/health").json()["envs"]["counter"] == {"sessions": n + 1, "capacity": 256}
    assert http.delete(f"/v1/sessions/{sid}").status_code == 204
    assert http.get("/v1/health").json()["envs"]["counter"]["sessions"] == n
    specs = [EnvSpec.model_validate(s) for s in http.get("/v1/envs").json()]
    assert [s.id for s in specs] == [make(e).spec.id for e in ENVS]
    assert EnvSpec.model_validate(http.get("/v1/envs/sleepy").json()).blocking is True
    expect(http.get("/v1/envs/nosuch"), 404, "UnknownEnv", "nosuch")
    assert "/v1/sessions/{sid}/step" in http.get("/openapi.json").json()["paths"]
    assert http.get("/docs").status_code == 200


def test_session_lifecycle(http):
    r = http.post("/v1/sessions", json={"env": "counter", "kwargs": {}})
    assert r.status_code == 201 and r.json()["env"] == "counter"
    sid = r.json()["session_id"]
    assert http.get("/v1/health").json()["envs"]["counter"]["sessions"] >= 1
    reset = http.post(f"/v1/sessions/{sid}/reset", json={"task_id": 12, "seed": 4}).json()
    local = make("counter")
    assert reset == {"observation": local.reset(12, 4).text, "info": local.reset(12, 4).info}
    local.reset(12, 4)
    info = http.get(f"/v1/sessions/{sid}").json()
    assert (info["task_id"], info["seed"], info["rounds"], info["done"]) == (12, 4, 0, False)
    assert http.get(f"/v1/sessions/{sid}/observation").json() == {"observation": reset["observation"]}
    assert http.get(f"/v1/sessions/{sid}/available_actions").json() == {"actions": ["inc", "dec"]}
    assert http.get(f"/v1/sessions/{sid}/instruction").json() == {"instruction": local.instruction()}
    assert http.get(f"/v1/sessions/{sid}/expert").json() == {"reply": local.expert_reply()}
    assert http.get(f"/v1/sessions/{sid}/random_action", params={"seed": 3}).json() == {
        "action": local.random_action(random.Random(3))
    }
    for _ in range(3):
        step = http.post(f"/v1/sessions/{sid}/step", json={"action": "inc"}).json()
        want = local.step("inc")
        assert step == {
            "observation": want.observation,
            "reward": want.reward,
            "terminated": want.terminated,
            "truncated": want.truncated,
            "done": want.done,
            "info": want.info,
        }
    assert step["done"] and step["reward"] == 1.0 and step["info"]["success"] is True
    expect(http.post(f"/v1/sessions/{sid}/step", json={"action": "inc"}), 409, "EpisodeOver", "reset")
    assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": 10}).status_code == 200  # reset again
    r = http.delete(f"/v1/sessions/{sid}")
    assert r.status_code == 204 and r.content == b""
    expect(http.get(f"/v1/sessions/{sid}"), 404, "UnknownSession", "closed (deleted)")
    expect(http.delete(f"/v1/sessions/{sid}"), 404, "UnknownSession")


def test_not_found_and_conflict_codes(http):
    expect(http.post("/v1/sessions", json={"env": "nosuch"}), 404, "UnknownEnv", "hosted envs")
    expect(http.post("/v1/sessions/deadbeef/step", json={"action": "inc"}), 404, "UnknownSession")
    expect(http.get("/v1/sessions/deadbeef/observation"), 404, "UnknownSession")
    sid = new_session(http, task=None)
    expect(http.post(f"/v1/sessions/{sid}/step", json={"action": "inc"}), 409, "NotReset", "reset")
    expect(http.get(f"/v1/sessions/{sid}/observation"), 409, "NotReset")
    expect(http.get(f"/v1/sessions/{sid}/expert"), 409, "NotReset")
    expect(http.post(f"/v1/sessions/{sid}/reset", json={"task_id": 999}), 404, "UnknownTask", "999")
    crashy = new_session(http, "crashy")
    expect(http.get(f"/v1/sessions/{crashy}/expert"), 501, "NoExpert")
    expect(http.get(f"/v1/sessions/{crashy}/random_action", params={"seed": 1}), 501, "NotSupported")
    assert http.get(f"/v1/sessions/{crashy}/available_actions").json() == {"actions": None}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/step", b'{"action": '),  # malformed JSON
        ("/step", b'{"action": 3}'),  # wrong type
        ("/step", b'["inc"]'),  # not an object
        ("/step", b"{}"),  # missing field
        ("/step", b'{"action": "inc", "extra": 1}'),  # unknown field (a typo must not pass silently)
        ("/reset", b'{"task_id": "10"}'),  # strings are not ints
        ("/reset", b'{"task_id": 10.5}'),
        ("/reset", b'{"task_id": 10, "seed": "x"}'),
    ],
)
def test_malformed_bodies_are_422(http, path, body):
    sid = new_session(http)
    r = http.post(f"/v1/sessions/{sid}{path}", content=body, headers={"content-type": "application/json"})
    out = expect(r, 422, "ValidationError", "invalid request")
    assert out["errors"], "the structured errors are kept for programs"


def test_bad_create_requests_are_422(http):
    expect(http.post("/v1/sessions", json={"env": 3}), 422, "ValidationError")
    expect(
        http.post("/v1/sessions", json={"env": "counter", "kwargs": {"nope": 1}}), 422, "BadEnvArgs", "nope"
    )
    expect(http.get("/v1/sessions/x/random_action"), 422, "ValidationError", "seed")


def test_oversized_bodies_are_413(http):
    sid = new_session(http)
    big = b'{"action": "' + b"x" * (1 << 20) + b'"}'
    expect(http.post(f"/v1/sessions/{sid}/step", content=big), 413, None, "limit")

    def chunks(data: bytes, n: int = 65536):
        for i in range(0, len(data), n):
            yield data[i : i + n]

    expect(http.post(f"/v1/sessions/{sid}/step", content=chunks(big)), 413, None, "limit")
    small = chunks(b'{"action": "inc"}', 4)
    ok = http.post(f"/v1/sessions/{sid}/step", content=small, headers={"content-type": "application/json"})
    assert ok.status_code == 200 and "count 11" in ok.json()["observation"]


def test_env_crash_is_500_and_isolated(http):
    bad, good = new_session(http, "crashy"), new_session(http, "crashy")
    body = expect(http.post(f"/v1/sessions/{bad}/step", json={"action": "boom"}), 500, "EnvFailure")
    assert "crashy" in body["detail"] and "RuntimeError: kaboom" in body["detail"]
    assert http.post(f"/v1/sessions/{good}/step", json={"action": "inc"}).status_code == 200
    assert http.get("/v1/health").status_code == 200
    # documented choice: the crashed session stays open and can be reset
    assert http.post(f"/v1/sessions/{bad}/reset", json={"task_id": 11}).status_code == 200
    assert "count 12" in http.post(f"/v1/sessions/{bad}/step", json={"action": "inc"}).json()["observation"]


class HeldEnv(de.SleepyEnv):
    """A blocking env whose "hold" step stays in its worker thread until the test releases it."""

    spec = de.SleepyEnv.spec.model_copy(update={"id": "held"})
    entered = threading.Event()
    release = threading.Event()

    def _step(self, action: str) -> StepResult:
        if action != "hold":
            return super()._step(action)
        HeldEnv.entered.set()
        if not HeldEnv.release.wait(120):
            raise RuntimeError("the test never released the step")
        return StepResult("held", 0.0, False, False, {"thread": threading.current_thread().name})


async def test_blocking_env_does_not_block_the_loop(dummy_envs):
    register("held", HeldEnv)
    HeldEnv.entered.clear()
    HeldEnv.release.clear()
    with run_server(["held"]) as u:
        async with httpx.AsyncClient(base_url=u, timeout=60) as c:
            sid = (await c.post("/v1/sessions", json={"env": "held"})).json()["session_id"]
            assert (await c.post(f"/v1/sessions/{sid}/reset", json={"task_id": 10})).status_code == 200
            step = asyncio.create_task(c.post(f"/v1/sessions/{sid}/step", json={"action": "hold"}))
            try:
                assert await asyncio.to_thread(HeldEnv.entered.wait, 60), "the step never started"
                # the step holds a worker thread until released: the event loop must still serve
                # (a blocked loop would leave this request unanswered until the client times out)
                health = await c.get("/v1/health")
                assert health.json()["envs"]["held"]["sessions"] == 1
                assert not step.done()
            finally:
                HeldEnv.release.set()
            r = await step
    assert r.status_code == 200 and r.json()["observation"] == "held"
    assert r.json()["info"]["thread"].startswith("agentgym-env")


def _play_local(env_id: str, task: int, seed: int, steps: int) -> tuple[list[str], list[str]]:
    """One in-process episode with seeded random actions: (actions, observations)."""
    env = make(env_id)
    seen, actions = [env.reset(task, seed).text], []
    for k in range(steps):
        actions.append(env.random_action(random.Random(seed * 100 + k)))
        res = env.step(actions[-1])
        seen.append(res.observation)
        if res.done:
            break
    return actions, seen


async def _play_http(c: httpx.AsyncClient, env: str, task: int, seed: int, actions: list[str]) -> list[str]:
    """The same episode over HTTP."""
    sid = (await c.post("/v1/sessions", json={"env": env})).json()["session_id"]
    seen = [
        (await c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task, "seed": seed})).json()[
            "observation"
        ]
    ]
    for act in actions:
        seen.append((await c.post(f"/v1/sessions/{sid}/step", json={"action": act})).json()["observation"])
    assert (await c.delete(f"/v1/sessions/{sid}")).status_code == 204
    return seen


@pytest.mark.slow  # ~6 s each idle, > 10 s under load: out of `make test-fast`
@pytest.mark.parametrize("env_id", ["counter", *light_envs()])
async def test_64_concurrent_sessions_no_cross_talk(url, env_id):
    test_ids = make(env_id).spec.split("test")
    jobs = [(test_ids[i % len(test_ids)], i) for i in range(64)]
    local = [_play_local(env_id, task, seed, 5) for task, seed in jobs]
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64)) as c:
        got = await asyncio.gather(
            *(
                _play_http(c, env_id, task, seed, acts)
                for (task, seed), (acts, _) in zip(jobs, local, strict=True)
            )
        )
    for (task, seed), (_, want), seen in zip(jobs, local, got, strict=True):
        assert seen == want, f"session task={task} seed={seed} saw another session's episode"


def test_token_required_when_set(dummy_envs):
    with run_server(["counter"], token="s3cret") as u, httpx.Client(base_url=u) as c:
        expect(c.post("/v1/sessions", json={"env": "counter"}), 401, None, "bearer token")
        bad = {"Authorization": "Bearer wrong"}
        expect(c.post("/v1/sessions", json={"env": "counter"}, headers=bad), 401)
        assert c.get("/v1/health").status_code == 200  # probes stay public
        good = {"Authorization": "Bearer s3cret"}
        assert c.post("/v1/sessions", json={"env": "counter"}, headers=good).status_code == 201


def test_capacity_503_with_retry_after(dummy_envs):
    with run_server(["counter"], capacity=2, retry_after_s=2) as u, httpx.Client(base_url=u) as c:
        a, _ = new_session(c), new_session(c)
        r = c.post("/v1/sessions", json={"env": "counter"})
        expect(r, 503, "AtCapacity", "capacity")
        assert r.headers["retry-after"] == "2"
        assert c.get("/v1/health").json()["envs"]["counter"] == {"sessions": 2, "capacity": 2}
        assert c.delete(f"/v1/sessions/{a}").status_code == 204
        assert c.post("/v1/sessions", json={"env": "counter"}).status_code == 201


def test_reaper_closes_idle_sessions(dummy_envs):
    n_closed = len(de.CLOSED)
    with run_server(["counter"], ttl_s=0.3, reap_interval_s=0.05) as u, httpx.Client(base_url=u) as c:
        sid = new_session(c)
        for _ in range(200):  # bounded wait; no timing assertion
            if c.get("/v1/health").json()["sessions"] == 0:
                break
            import time

            time.sleep(0.05)
        expect(c.get(f"/v1/sessions/{sid}"), 404, "UnknownSession", "reaped after 0.3 s idle")
    assert "counter" in de.CLOSED[n_closed:], "the reaped env must be closed"


def test_shutdown_closes_every_env(dummy_envs):
    n_closed = len(de.CLOSED)
    with run_server(["counter"]) as u, httpx.Client(base_url=u) as c:
        for _ in range(3):
            new_session(c)
    assert de.CLOSED[n_closed:] == ["counter"] * 3
