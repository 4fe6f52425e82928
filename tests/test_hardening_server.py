"""Regression tests for the adversarial review of the env server (hostile and careless clients).

Each test names the finding it keeps fixed. Everything runs against real uvicorn servers on
127.0.0.1: bad JSON values, lone surrogates, unchecked session kwargs, the answer key, loose ids,
the bearer scheme, the ``Allow`` header, reaped ids on the original routes, and the original
SciWorld / Wordle answers that broke the original clients.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

import dummy_envs as de
from agentgym.core.registry import make, register
from agentgym.core.types import EnvOptions
from agentgym.server.testing import run_server

pytestmark = pytest.mark.usefixtures("dummy_envs")


def expect(r: httpx.Response, status: int, kind: str | None = None, text: str = "") -> dict:
    assert r.status_code == status, f"{r.status_code} != {status}: {r.text}"
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"], body
    if kind:
        assert body["type"] == kind, body
    assert text in body["detail"], body["detail"]
    return body


class PickyOptions(EnvOptions):
    start: int = 0


class PickyCounter(de.CounterEnv):
    """A counter whose options admit a value its constructor then rejects (constructor -> 422)."""

    options = PickyOptions

    def __init__(self, max_rounds: int | None = None, start: int = 0) -> None:
        if start == 13:
            raise ValueError("13 is unlucky")
        super().__init__(max_rounds)


@pytest.fixture(scope="module")
def url():
    register("picky", PickyCounter)
    with run_server(["counter", "maze", "wordle", "picky"], expert=False, ttl_s=None) as u:
        yield u


@pytest.fixture
def http(url):
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def session(http: httpx.Client, env: str = "maze", task: int | None = None) -> str:
    r = http.post("/v1/sessions", json={"env": env})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    if task is not None:
        assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).status_code == 200
    return sid


def raw(http: httpx.Client, path: str, body: str | bytes) -> httpx.Response:
    return http.post(path, content=body, headers={"content-type": "application/json"})


# ------------------------------------------------------------------ 5. bad JSON values
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_422_on_v1_routes(http, value):
    sid = session(http)
    expect(raw(http, f"/v1/sessions/{sid}/reset", f'{{"task_id": {value}}}'), 422, "ValidationError")
    expect(raw(http, f"/v1/sessions/{sid}/reset", f'{{"task_id": 0, "seed": {value}}}'), 422)
    kwargs = f'{{"env": "maze", "kwargs": {{"max_rounds": {value}}}}}'
    expect(raw(http, "/v1/sessions", kwargs), 422, text="max_rounds")


@pytest.mark.parametrize(
    "family,body",
    [
        ("maze", '{"id": %d, "game": NaN}'),
        ("wordle", '{"id": %d, "seed": Infinity}'),
        ("maze", '{"id": NaN, "game": 0}'),
    ],
)
def test_nan_is_422_on_original_reset(http, family, body):
    env_id = http.post(f"/{family}/create").json()["id"]
    text = body.replace("%d", str(env_id))
    expect(raw(http, f"/{family}/reset", text), 422, "ValidationError")


def test_lone_surrogate_is_422_and_changes_nothing(http):
    sid = session(http, task=0)
    before = http.get(f"/v1/sessions/{sid}").json()
    expect(raw(http, f"/v1/sessions/{sid}/step", '{"action": "move up\\ud800"}'), 422)
    assert http.get(f"/v1/sessions/{sid}").json()["rounds"] == before["rounds"] == 0

    env_id = http.post("/maze/create").json()["id"]
    assert http.post("/maze/reset", json={"id": env_id, "game": 0}).status_code == 200
    expect(raw(http, "/maze/step", f'{{"id": {env_id}, "action": "move up\\udfff"}}'), 422, text="surrogate")
    detail = http.get("/maze/detail", params={"id": env_id}).json()
    assert detail["rounds"] == 0, "a request that failed validation must not have been applied"
    ok = http.post("/maze/step", json={"id": env_id, "action": "move up"})
    assert ok.status_code == 200 and http.get("/maze/detail", params={"id": env_id}).json()["rounds"] == 1


def test_body_that_is_not_utf8_is_422(http):
    sid = session(http)
    expect(raw(http, f"/v1/sessions/{sid}/reset", b'{"task_id": "\xff\xfe"}'), 422)
    expect(raw(http, "/v1/sessions", b'{"env": "\xff"}'), 422)
    expect(raw(http, "/v1/sessions", b"{not json"), 422)
    expect(raw(http, "/maze/reset", b'{"id": 0, "game": \xff}'), 422)


# ------------------------------------------------------------------ 6. the answer key
def test_expert_route_is_off_by_default(http):
    sid = session(http, task=0)
    expect(http.get(f"/v1/sessions/{sid}/expert"), 403, "ExpertDisabled", "--expert")


def test_expert_route_on_when_asked():
    with run_server(["maze"], expert=True) as u, httpx.Client(base_url=u, timeout=30) as c:
        sid = session(c, task=0)
        local = make("maze")
        local.reset(0)
        assert c.get(f"/v1/sessions/{sid}/expert").json() == {"reply": local.expert_reply()}


# ------------------------------------------------------------------ 7. validation
@pytest.mark.parametrize(
    "kwargs",
    [
        '{"max_rounds": "x"}',
        '{"max_rounds": NaN}',
        '{"max_rounds": -1}',
        '{"max_rounds": 0}',
        '{"max_rounds": 9223372036854775808}',
        '{"max_rounds": 1.5}',
        '{"max_rounds": true}',
        '{"rounds": 3}',
        "[1, 2]",
    ],
)
def test_session_kwargs_are_checked(http, kwargs):
    before = http.get("/v1/health").json()["envs"]["maze"]["sessions"]
    body = expect(raw(http, "/v1/sessions", f'{{"env": "maze", "kwargs": {kwargs}}}'), 422)
    if kwargs.startswith("{"):
        assert "max_rounds" in body["detail"], "the error names the allowed keys"
    assert http.get("/v1/health").json()["envs"]["maze"]["sessions"] == before, "no session was made"


def test_rejected_kwargs_take_no_slot(http):
    before = http.get("/v1/health").json()["envs"]["wordle"]["sessions"]
    for bad in ({"guesses": -5}, {"guesses": 0}, {"guesses": "6"}, {"data_path": "/etc"}):
        body = expect(http.post("/v1/sessions", json={"env": "wordle", "kwargs": bad}), 422, "BadEnvArgs")
        assert "guesses" in body["detail"] and "max_rounds" in body["detail"], body["detail"]
    assert http.get("/v1/health").json()["envs"]["wordle"]["sessions"] == before
    r = http.post("/v1/sessions", json={"env": "wordle", "kwargs": {"guesses": 3, "max_rounds": 4}})
    assert r.status_code == 201
    sid = r.json()["session_id"]
    http.post(f"/v1/sessions/{sid}/reset", json={"task_id": make("wordle").spec.split("test")[0]})
    assert "3" in http.get(f"/v1/sessions/{sid}/instruction").json()["instruction"]


def test_constructor_rejection_is_422_not_500(http):
    expect(http.post("/v1/sessions", json={"env": "picky", "kwargs": {"start": 13}}), 422, text="unlucky")
    assert http.post("/v1/sessions", json={"env": "picky", "kwargs": {"start": 2}}).status_code == 201


def test_env_description_lists_options(http):
    spec = http.get("/v1/envs/wordle").json()
    assert set(spec["options"]["properties"]) == {"max_rounds", "guesses"}


@pytest.mark.parametrize("bad_id", ["false", "true", '"0"', "0.5", "-1", "null", "NaN", str(2**53)])
def test_original_ids_are_strict(http, bad_id):
    env_id = http.post("/maze/create").json()["id"]
    assert env_id >= 0
    expect(raw(http, "/maze/reset", f'{{"id": {bad_id}, "game": 0}}'), 422)
    expect(raw(http, "/maze/step", f'{{"id": {bad_id}, "action": "move up"}}'), 422)


def test_reset_seed_and_task_bounds(http):
    sid = session(http)
    expect(raw(http, f"/v1/sessions/{sid}/reset", '{"task_id": 1.5}'), 422)
    assert (
        raw(http, f"/v1/sessions/{sid}/reset", '{"task_id": 2.0}').status_code == 200
    )  # JSON Schema: an int
    expect(raw(http, f"/v1/sessions/{sid}/reset", '{"task_id": "3"}'), 422)
    expect(raw(http, f"/v1/sessions/{sid}/reset", f'{{"task_id": {2**70}}}'), 422)
    expect(raw(http, f"/v1/sessions/{sid}/reset", f'{{"task_id": 0, "seed": {2**64}}}'), 422)
    expect(raw(http, f"/v1/sessions/{sid}/reset", f'{{"task_id": 0, "seed": {2**53}}}'), 422)
    expect(http.post(f"/v1/sessions/{sid}/reset", json={"task_id": 10**9}), 404, "UnknownTask")


# ------------------------------------------------------------------ 9 (part). Allow header
def test_405_allow_lists_every_method(http):
    sid = session(http)
    r = http.put(f"/v1/sessions/{sid}")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "DELETE"}
    r = http.get(f"/v1/sessions/{sid}/step")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


# ------------------------------------------------------------------ 10. --token
def test_token_public_routes_and_case_insensitive_scheme():
    with run_server(["maze"], token="s3cret") as u, httpx.Client(base_url=u, timeout=30) as c:
        for path in ("/v1/health", "/docs", "/redoc", "/openapi.json"):
            assert c.get(path).status_code == 200, path
        expect(c.post("/v1/sessions", json={"env": "maze"}), 401)
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            r = c.post("/v1/sessions", json={"env": "maze"}, headers={"Authorization": f"{scheme} s3cret"})
            assert r.status_code == 201, (scheme, r.text)
        for header in ("Bearer wrong", "Basic s3cret", "s3cret", "Bearer", "Bearers3cret"):
            expect(c.post("/v1/sessions", json={"env": "maze"}, headers={"Authorization": header}), 401)
        expect(c.get("/maze/observation", params={"id": 0}), 401)


# ------------------------------------------------------------------ 12. original clients
def test_reaped_id_is_revived_by_original_reset():
    with run_server(["maze"], ttl_s=0.3, reap_interval_s=0.05) as u, httpx.Client(base_url=u) as c:
        env_id = c.post("/maze/create").json()["id"]
        deleted = c.post("/maze/create").json()["id"]
        assert c.post("/maze/close", json={"id": deleted}).json() is True
        deadline = time.monotonic() + 30
        while c.get("/v1/health").json()["sessions"]:  # (polling the session would keep it alive)
            assert time.monotonic() < deadline, "the reaper never closed the idle session"
            time.sleep(0.05)
        r = c.post("/maze/reset", json={"id": env_id, "game": 0})
        assert r.status_code == 200, r.text
        local = make("maze")
        assert r.json() == {"observation": local.reset(0).text}
        step = c.post("/maze/step", json={"id": env_id, "action": "move up"})
        assert step.status_code == 200 and step.json()["observation"] == local.step("move up").observation
        # an id closed on purpose is not revived, and ids are never shared
        expect(c.post("/maze/reset", json={"id": deleted, "game": 0}), 404)
        assert c.post("/maze/create").json()["id"] not in (env_id, deleted)


def test_serve_help_documents_ttl_and_public_routes():
    out = subprocess.run(
        [sys.executable, "-m", "agentgym.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    ).stdout
    assert "--expert" in out and "/v1/health" in out and "never" in out


def test_serve_command_has_expert_off_by_default(tmp_path):
    """`agentgym serve` itself (not only create_app) keeps the answer key closed unless --expert."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    cmd = [sys.executable, "-m", "agentgym.cli", "serve", "maze", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        sid = httpx.post(f"{base}/v1/sessions", json={"env": "maze"}).json()["session_id"]
        httpx.post(f"{base}/v1/sessions/{sid}/reset", json={"task_id": 0})
        expect(httpx.get(f"{base}/v1/sessions/{sid}/expert"), 403, "ExpertDisabled")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.heavy
def test_sciworld_original_reset_is_the_look_around_alone():
    pytest.importorskip("scienceworld")
    with run_server(["sciworld"]) as u, httpx.Client(base_url=u, timeout=120) as c:
        env_id = c.post("/sciworld/create").json()["id"]
        task = make("sciworld").spec.split("test")[0]
        r = c.post("/sciworld/reset", json={"id": env_id, "data_idx": task}).json()
        desc, obs = r["task_description"], r["observation"]
        assert desc and desc not in obs, "the original client prepends the description itself"
        assert " is called " in obs and "Here you see" in obs
        # what the original client shows the model: the description exactly once
        shown = f"{desc}\n{obs}"
        assert shown.count(desc) == 1
        sid = c.post("/v1/sessions", json={"env": "sciworld"}).json()["session_id"]
        v1 = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).json()["observation"]
        assert v1 == shown, "our own route keeps description + look in one observation"


GATE = threading.Event()


class GatedEnv(de.CounterEnv):
    """A blocking env whose "wait" step holds its worker thread until the test opens the gate."""

    spec = de.CounterEnv.spec.model_copy(update={"id": "gated", "blocking": True})

    def _step(self, action: str) -> Any:
        if action == "wait":
            assert GATE.wait(120), "the test never opened the gate"
        return super()._step(action)


async def test_a_blocking_env_with_every_thread_busy_does_not_starve_another():
    """Slow calls of one blocking env (BIRD queries, ALFWorld resets) hold at most its own threads."""
    register("gated", GatedEnv)
    GATE.clear()
    with run_server(["gated", "sleepy"], max_workers=2) as u:
        async with httpx.AsyncClient(base_url=u, timeout=120) as c:

            async def opened(env: str) -> str:
                sid = (await c.post("/v1/sessions", json={"env": env})).json()["session_id"]
                assert (await c.post(f"/v1/sessions/{sid}/reset", json={"task_id": 10})).status_code == 200
                return sid

            held = [await opened("gated") for _ in range(3)]  # more waiting steps than threads
            other = await opened("sleepy")
            waits = [
                asyncio.create_task(c.post(f"/v1/sessions/{s}/step", json={"action": "wait"})) for s in held
            ]
            try:
                r = await c.post(f"/v1/sessions/{other}/step", json={"action": "inc"})
                assert r.status_code == 200, r.text
                assert not any(w.done() for w in waits), "the gated steps were still waiting"
            finally:
                GATE.set()
            assert all(w.status_code == 200 for w in await asyncio.gather(*waits))
