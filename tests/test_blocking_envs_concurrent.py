"""Eight concurrent HTTP sessions of each blocking env, each equal to a lone local run.

For SciWorld (simulators sharing a JVM), ALFWorld (engines in worker processes), BIRD (SQL in
sandbox workers) and WebShop: 8 sessions on 8 different tasks are opened on one server (v1 routes),
all reset and live at once (the server's health shows the 8), then each plays its whole episode
with the server's expert (``GET /v1/sessions/{id}/expert``), all at the same time. Every
session's transcript - first observation, then each action, observation and reward - and its final
reward must equal those of the same task played alone by a local env, before the server started.

Engines and data come from the machine's caches (``~/.cache/agentgym``): SciWorld expert plans,
ALFWorld games (~11 s each to generate on first use), BIRD databases (~45 s to build once).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from agentgym.core.react import parse_reply
from agentgym.core.registry import make, spec
from agentgym.server.testing import run_server

pytestmark = pytest.mark.heavy

TASKS = {
    # eight task types of the test split, plans of 3-17 steps
    "sciworld": [4033, 3163, 527, 1111, 3860, 3895, 2863, 4162],
    # the cached games: six task types, train and test ids
    "alfworld": [0, 1, 2, 2420, 2421, 2422, 2423, 2424],
    "bird": list(range(3000, 3008)),  # test questions on four databases
    "webshop": list(range(8)),  # test goals
}
NEEDS = {"sciworld": ["scienceworld"], "alfworld": ["alfworld", "textworld"], "bird": [], "webshop": []}
N = 8


def lone_run(env_id: str, task: int) -> dict[str, Any]:
    """The expert's episode of ``task`` on a local env, alone."""
    env = make(env_id)
    try:
        transcript: list[Any] = [env.reset(task).text]
        res = None
        for _ in range(env.max_rounds):
            parsed = parse_reply(env.expert_reply(), env.spec.action_format)
            assert parsed.ok, parsed.error
            res = env.step(parsed.action)
            transcript += [parsed.action, res.observation, res.reward]
            if res.done:
                break
        assert res is not None and res.done
        return {"transcript": transcript, "reward": res.reward, "success": res.info["success"]}
    finally:
        env.close()


async def http_run(
    http: httpx.AsyncClient, env_id: str, task: int, live: asyncio.Barrier, go: asyncio.Barrier
) -> dict[str, Any]:
    """The same episode over HTTP; waits at ``live`` until every session is reset, at ``go`` until
    every session has seen the server's session count."""
    fmt = spec(env_id).action_format
    r = await http.post("/v1/sessions", json={"env": env_id})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    r = await http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task})
    assert r.status_code == 200, r.text
    transcript: list[Any] = [r.json()["observation"]]
    await live.wait()
    r = await http.get("/v1/health")
    live_sessions = r.json()["envs"][env_id]["sessions"]
    await go.wait()
    step: dict[str, Any] = {}
    for _ in range(spec(env_id).max_rounds):
        r = await http.get(f"/v1/sessions/{sid}/expert")
        assert r.status_code == 200, r.text
        parsed = parse_reply(r.json()["reply"], fmt)
        assert parsed.ok, parsed.error
        r = await http.post(f"/v1/sessions/{sid}/step", json={"action": parsed.action})
        assert r.status_code == 200, r.text
        step = r.json()
        transcript += [parsed.action, step["observation"], step["reward"]]
        if step["done"]:
            break
    assert (await http.delete(f"/v1/sessions/{sid}")).status_code == 204
    return {
        "transcript": transcript,
        "reward": step["reward"],
        "success": step["info"]["success"],
        "live_sessions": live_sessions,
    }


@pytest.mark.parametrize("env_id", list(TASKS))
def test_eight_concurrent_sessions_match_lone_runs(env_id: str) -> None:
    for module in NEEDS[env_id]:
        pytest.importorskip(module)
    tasks = TASKS[env_id]
    assert len(set(tasks)) == N
    lone = {task: lone_run(env_id, task) for task in tasks}
    assert all(r["success"] for r in lone.values()), {t: r["reward"] for t, r in lone.items()}

    async def main(url: str) -> list[dict[str, Any]]:
        live, go = asyncio.Barrier(N), asyncio.Barrier(N)
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            out = await asyncio.gather(*(http_run(http, env_id, t, live, go) for t in tasks))
            health = (await http.get("/v1/health")).json()
        assert health["envs"][env_id]["sessions"] == 0, "every session was deleted"
        return list(out)

    with run_server([env_id], capacity=N) as url:
        results = asyncio.run(main(url))

    for task, got in zip(tasks, results, strict=True):
        assert got["live_sessions"] == N, "all eight sessions were live at once"
        want = lone[task]
        assert got["transcript"][0] == want["transcript"][0], f"task {task}: first observation"
        assert got["transcript"] == want["transcript"], f"task {task}: the episode differs"
        assert got["reward"] == want["reward"] and got["success"] is True, f"task {task}"
