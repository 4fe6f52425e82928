"""The runner over real env servers on loopback: expert runs, a pool of servers, a server that dies."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

import agentgym
from agentgym.agents.base import Agent, AgentReply, EpisodeContext
from agentgym.agents.expert import ExpertAgent
from agentgym.agents.random import RandomAgent
from agentgym.client.http import AsyncEnvClient
from agentgym.rollout.runner import EpisodeItem, run_episodes
from agentgym.rollout.store import RunStore, read_trajectories
from agentgym.server.testing import run_server


def split_items(env_id: str, samples: int = 1) -> list[EpisodeItem]:
    return [
        EpisodeItem(env_id, t, "test", 0, s)
        for t in agentgym.spec(env_id).split("test")
        for s in range(samples)
    ]


async def play(urls, items, agent, **kw):
    client = AsyncEnvClient(urls, **kw.pop("client_kw", {}))
    try:
        return await run_episodes(items, agent, client, **kw)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def server():
    with run_server(["maze", "wordle"]) as url:
        yield url


@pytest.mark.slow  # ~3 s idle, > 10 s under load (every maze and wordle task): out of `make test-fast`
def test_expert_solves_every_maze_and_wordle_task_over_http(server):
    items = split_items("maze") + split_items("wordle")
    trajs = asyncio.run(play(server, items, ExpertAgent(), concurrency=16))
    assert len(trajs) == 50
    bad = [
        (t.item_id, t.stop, t.error)
        for t in trajs
        if not (t.success and t.reward == 1.0 and t.stop == "done")
    ]
    assert not bad
    # the same episodes as in-process: HTTP changes nothing in the record
    local = asyncio.run(run_episodes(items[:3], ExpertAgent(), agentgym.client.AsyncLocalClient()))
    assert [t.conversations for t in trajs[:3]] == [t.conversations for t in local]


def test_random_agent_and_round_override_over_http(server):
    items = split_items("maze")[:4]
    trajs = asyncio.run(play(server, items, RandomAgent(seed=5), concurrency=4, max_rounds=3))
    assert all(t.stop in ("done", "max_rounds") and t.rounds <= 3 for t in trajs)
    assert any(t.stop == "max_rounds" and t.rounds == 3 for t in trajs)
    again = asyncio.run(play(server, items, RandomAgent(seed=5), concurrency=2, max_rounds=3))
    assert [t.conversations for t in again] == [t.conversations for t in trajs]


class PoolClient(AsyncEnvClient):
    """Records which server each session was opened on (observation only)."""

    used: list[str]

    async def session(self, env_id, **kw):
        s = await super().session(env_id, **kw)
        self.used.append(s.base_url)
        return s


def test_a_pool_of_servers_shares_the_episodes(server):
    with run_server(["maze"]) as second:
        client = PoolClient([server, second])
        client.used = []

        async def go():
            try:
                return await run_episodes(split_items("maze")[:10], ExpertAgent(), client, concurrency=4)
            finally:
                await client.aclose()

        trajs = asyncio.run(go())
    assert all(t.success for t in trajs)
    assert set(client.used) == {server, second} and len(client.used) == 10


class Slow(Agent):
    """The expert, slowed down so that a server can be killed while episodes are in flight."""

    def __init__(self) -> None:
        self.expert = ExpertAgent()

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        await asyncio.sleep(0.005)
        return await self.expert.reply(messages, ctx)


@pytest.mark.slow  # ~4 s idle, > 10 s under load (two runs, a server kill): out of `make test-fast`
def test_server_dying_mid_run_records_errors_and_a_rerun_retries_them(tmp_path):
    items = split_items("maze")
    finished: list = []

    with run_server(["maze"], process=True) as url:

        def on_episode(t):
            finished.append(t)
            if len(finished) == 5:
                os.kill(url.pid, signal.SIGKILL)  # the whole server process dies, mid-run

        with RunStore(tmp_path) as store:
            trajs = asyncio.run(
                play(
                    url,
                    items,
                    Slow(),
                    concurrency=4,
                    store=store,
                    on_episode=on_episode,
                    client_kw={"retries": 1, "backoff_s": 0.01},
                )
            )
    assert len(trajs) == 25 and len(finished) == 25  # the run went on to the end
    errors = [t for t in trajs if t.stop == "error"]
    assert len(errors) >= 16 and all(t.error for t in errors)
    assert sum(t.success for t in trajs) >= 5
    assert all(t.success for t in trajs if t.stop != "error")

    with run_server(["maze"]) as url2, RunStore(tmp_path) as store:  # rerun: only the errors are played
        retried: list = []
        trajs = asyncio.run(
            play(url2, items, ExpertAgent(), store=store, concurrency=8, on_episode=retried.append)
        )
    assert len(retried) == len(errors)
    assert len(trajs) == 25 and all(t.success for t in trajs)
    assert len(read_trajectories(tmp_path)) == 25


def test_eval_cli_over_a_server_pool(server, tmp_path):
    from typer.testing import CliRunner

    from agentgym.cli import app

    out = tmp_path / "run"
    args = [
        "eval",
        "--envs",
        "maze,wordle",
        "--agent",
        "expert",
        "--limit",
        "3",
        "--server",
        server,
        "--server",
        server,
        "--out",
        str(out),
        "--no-progress",
    ]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    trajs = read_trajectories(out)
    assert len(trajs) == 6 and all(t.success for t in trajs)
    assert (out / "report.md").exists() and (out / "scores.png").exists()
    res = CliRunner().invoke(
        app, ["eval", "--envs", "babyai", "--server", server, "--out", str(tmp_path / "y"), "--no-progress"]
    )
    assert res.exit_code == 2 and "unknown env" in res.output
