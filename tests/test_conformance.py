"""`agentgym check --server URL ENV [--original]`: the conformance checker over real HTTP.

It must pass against our server (a separate process on a free loopback port, so the checker and
the server do not share a GIL) and fail - naming the right check - against a deliberately broken
server built here as a tiny FastAPI app: one that shares one env between all sessions and answers
200 for unknown sessions, as the original servers did.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from typer.testing import CliRunner

from agentgym import cli_envs
from agentgym.server.conformance import Episode, Step, diff_episodes
from agentgym.server.testing import run_server

ENVS = ["maze", "wordle", "textcraft", "weather"]
CAPACITY = 80  # <= 128, so the capacity check fills it; >= 64, so 64 sessions fit for isolation
runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    cli_envs.register(app)
    return app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with run_server(ENVS, process=True, capacity=CAPACITY) as u:
        yield u


def check(app: typer.Typer, *args: str) -> tuple[int, str, dict[str, str]]:
    """Run ``agentgym check``; the exit code, the output and {check: status} from the plain lines."""
    res = runner.invoke(app, ["check", *args], env={"COLUMNS": "200"})
    statuses = {}
    for line in res.output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("PASS", "FAIL", "SKIP"):
            statuses[parts[1]] = parts[0]
    return res.exit_code, res.output, statuses


# ------------------------------------------------------------------------- our server
@pytest.mark.slow  # 3-5 s each idle, > 10 s under load: out of `make test-fast`
@pytest.mark.parametrize("env", ENVS)
def test_v1_checks_pass_against_our_server(app: typer.Typer, url: str, env: str) -> None:
    code, out, st = check(app, "--server", url, env, "--episodes", "30")
    assert code == 0, out
    expected = {
        "spec", "determinism", "isolation", "unknown_session", "unknown_env", "unknown_task",
        "malformed_json", "wrong_types", "bad_kwargs", "step_before_reset", "step_after_end",
        "body_limit", "capacity", "expert_route", "error_bodies", "close_frees", "no_leak",
    }  # fmt: skip
    assert set(st) == expected, out
    assert all(s == "PASS" for s in st.values()), out  # incl. 503 at capacity and 413 on 2 MB
    assert "64 concurrent sessions" in out and "30 episodes, sessions back to 0" in out
    assert f"passed, 0 failed, 0 skipped (v1 routes of {env} at {url})" in out


@pytest.mark.parametrize("env", ["maze", "weather"])
def test_original_checks_pass_against_our_server(app: typer.Typer, url: str, env: str) -> None:
    code, out, st = check(app, "--server", f"{url}/{env}", env, "--original", "--sessions", "32")
    assert code == 0, out
    assert st == dict.fromkeys(["protocol", "determinism", "isolation", "unknown_id", "close_frees"], "PASS")
    assert "32 concurrent sessions" in out and "/v1/health back to 0" in out


def test_json_report(app: typer.Typer, url: str) -> None:
    res = runner.invoke(
        app, ["check", "--server", f"{url}/maze", "maze", "--original", "--json", "--sessions", "8"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["ok"] is True and report["protocol"] == "original" and report["env"] == "maze"
    assert report["counts"] == {"pass": 5, "fail": 0, "skip": 0}
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["isolation"]["data"] == {"sessions": 8}
    assert by_name["determinism"]["data"]["tasks"] == [0, 1, 2]


def test_server_options_need_server(app: typer.Typer) -> None:
    res = runner.invoke(app, ["check", "maze", "--original"])
    assert res.exit_code == 2 and "need --server" in res.output


def test_unreachable_server_fails_cleanly(app: typer.Typer) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, st = check(app, "--server", f"http://127.0.0.1:{port}", "maze")
    assert code == 1 and st["spec"] == "FAIL" and "ConnectError" in out
    assert st["determinism"] == "SKIP" and st["no_leak"] == "SKIP"


def test_diff_names_the_first_difference() -> None:
    a = Episode(3, 0, "start", [Step("up", "wall", 0.0, False), Step("left", "goal", 1.0, True)])
    b = Episode(3, 0, "start", [Step("up", "wall", 0.0, False), Step("left", "goal", 0.0, True)])
    assert diff_episodes(a, a) is None
    assert diff_episodes(a, b) == "step 2 ('left'): reward differs: '1.0' vs '0.0'"
    assert "lengths differ" in str(diff_episodes(a, Episode(3, 0, "start", a.steps[:1])))


# ------------------------------------------------------------------ a broken server
def broken_app() -> FastAPI:
    """A toy 'maze' with two classic server bugs: every session steps one shared position, and an
    unknown session id gets 200 ``{"error": ...}`` (v1 routes, and the original routes at /maze)."""
    api = FastAPI()
    shared = {"pos": 0}  # bug 1: one env state for every session
    sessions: dict[str, int] = {}  # id -> rounds

    def unknown(sid: Any) -> JSONResponse:  # bug 2: an error inside a 200
        return JSONResponse({"error": f"unknown session {sid}"}, 200)

    def act(rounds: int, action: str) -> dict[str, Any]:
        shared["pos"] += len(action)
        return {"observation": f"at {shared['pos']}", "reward": 0.0, "done": rounds >= 5}

    @api.get("/v1/health")
    async def health() -> dict[str, Any]:
        n = len(sessions)
        return {"status": "ok", "sessions": n, "envs": {"maze": {"sessions": n, "capacity": 256}}}

    @api.get("/v1/envs/{env}")
    async def spec(env: str) -> JSONResponse:
        if env != "maze":
            return JSONResponse({"detail": f"no env {env}"}, 404)
        return JSONResponse({"id": "maze", "version": "0", "max_rounds": 5, "splits": {"test": [0, 1, 2]}})

    @api.post("/v1/sessions")
    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("env") != "maze":
            return JSONResponse({"detail": "unknown env"}, 404)
        sid = f"s{len(sessions)}-{id(body)}"
        sessions[sid] = 0
        return JSONResponse({"session_id": sid, "env": "maze"}, 201)

    @api.post("/v1/sessions/{sid}/reset")
    async def reset(sid: str, request: Request) -> JSONResponse:
        if sid not in sessions:
            return unknown(sid)
        body = await request.json()
        sessions[sid] = 0
        shared["pos"] = 10 * body["task_id"]
        return JSONResponse({"observation": f"at {shared['pos']}", "info": {}})

    @api.post("/v1/sessions/{sid}/step")
    async def step(sid: str, request: Request) -> JSONResponse:
        if sid not in sessions:
            return unknown(sid)
        body = await request.json()
        sessions[sid] += 1
        return JSONResponse({**act(sessions[sid], body["action"]), "terminated": False, "truncated": False})

    @api.get("/v1/sessions/{sid}")
    async def info(sid: str) -> JSONResponse:
        return unknown(sid) if sid not in sessions else JSONResponse({"session_id": sid})

    @api.get("/v1/sessions/{sid}/available_actions")
    async def actions(sid: str) -> JSONResponse:
        return unknown(sid) if sid not in sessions else JSONResponse({"actions": ["a", "bb", "ccc"]})

    @api.delete("/v1/sessions/{sid}")
    async def delete(sid: str) -> JSONResponse:
        if sessions.pop(sid, None) is None:
            return unknown(sid)
        return Response(status_code=204)

    # The original routes (no /close, as the original WebShop, SQLGym and tool servers).
    nums: dict[int, int] = {}

    @api.post("/maze/create")
    async def o_create() -> dict[str, int]:
        nums[len(nums)] = 0
        return {"id": len(nums) - 1}

    @api.post("/maze/reset")
    async def o_reset(request: Request) -> JSONResponse:
        body = await request.json()
        if body["id"] not in nums:
            return unknown(body["id"])
        nums[body["id"]] = 0
        shared["pos"] = 10 * body["game"]
        return JSONResponse({"observation": f"at {shared['pos']}"})

    @api.post("/maze/step")
    async def o_step(request: Request) -> JSONResponse:
        body = await request.json()
        if body["id"] not in nums:
            return unknown(body["id"])
        nums[body["id"]] += 1
        return JSONResponse(act(nums[body["id"]], body["action"]))

    @api.get("/maze/observation")
    async def o_observation(id: int) -> JSONResponse:  # the original query name
        return unknown(id) if id not in nums else JSONResponse(f"at {shared['pos']}")

    return api


@contextmanager
def serve(api: FastAPI) -> Iterator[str]:
    """Run ``api`` on uvicorn in a thread on a free loopback port (bound before the server starts)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the test server died during startup"
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def broken_url() -> Iterator[str]:
    with serve(broken_app()) as u:
        yield u


def test_v1_checks_fail_against_a_broken_server(app: typer.Typer, broken_url: str) -> None:
    code, out, st = check(app, "--server", broken_url, "maze", "--sessions", "16", "--episodes", "10")
    assert code == 1, out
    assert st["determinism"] == "PASS", out  # alone, each session replays the same episode
    assert st["isolation"] == "FAIL" and "concurrent sessions differ from the lone play" in out
    assert st["unknown_session"] == "FAIL"
    assert "GET /v1/sessions/{unknown}: got 200" in out and "(expected 404)" in out
    assert st["unknown_env"] == "PASS" and st["malformed_json"] == "FAIL"  # a 500 from request.json()
    assert " failed, " in out.splitlines()[-1]


def test_original_checks_fail_against_a_broken_server(app: typer.Typer, broken_url: str) -> None:
    code, out, st = check(app, "--server", f"{broken_url}/maze", "maze", "--original", "--sessions", "16")
    assert code == 1, out
    assert st["protocol"] == "PASS" and st["determinism"] == "PASS", out
    assert st["isolation"] == "FAIL"
    assert st["unknown_id"] == "FAIL" and "the original servers answer 200" in out
    assert st["close_frees"] == "FAIL" and "no close route" in out
