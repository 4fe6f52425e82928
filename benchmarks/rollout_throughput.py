"""Rollout throughput: episodes/s of the runner with an instant agent, against the floor.

For each env, the same episodes (the test split, repeated) are played with the expert agent
(no model time) three ways:

* **floor** - a plain hand-written loop over one in-process env: reset, expert reply, parse, step.
  Nothing can be faster with this env and this expert; its cost is the env plus the expert.
* **runner, in-process** - `run_episodes` over `AsyncLocalClient` (trajectory records, timing,
  concurrency); optionally also with a `RunStore` (one fsync per episode).
* **runner, HTTP** - `run_episodes` over `AsyncEnvClient` against `agentgym serve` in its own
  process on loopback (every step and expert reply is an HTTP request).

Ratios are to the floor measured in the same run (absolute figures drift on shared machines).

    .venv/bin/python benchmarks/rollout_throughput.py [--envs maze,wordle] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import agentgym
from agentgym.agents.expert import ExpertAgent
from agentgym.client.http import AsyncEnvClient
from agentgym.client.local import AsyncLocalClient
from agentgym.core.react import parse_reply
from agentgym.rollout.runner import EpisodeItem, run_episodes
from agentgym.rollout.store import RunStore
from agentgym.server.testing import run_server

RESULTS = Path(__file__).parent / "results" / "rollout.md"


def floor(env_id: str, items: list[EpisodeItem], fresh: bool = True) -> tuple[float, int]:
    """The hand-written loop: (seconds, steps). ``fresh``: a new env per episode, as the runner
    opens one session per episode (the fair floor); else one env reused for every episode."""
    env = agentgym.make(env_id)
    fmt = env.spec.action_format
    steps = 0
    t0 = time.perf_counter()
    for it in items:
        if fresh:
            env = agentgym.make(env_id)
        env.reset(it.task_id, it.seed)
        while True:
            parsed = parse_reply(env.expert_reply(), fmt)
            res = env.step(parsed.action or "")
            steps += 1
            if res.done:
                break
    return time.perf_counter() - t0, steps


def best(trials: int, fn, *args) -> tuple[float, int]:
    """The fastest of a few trials (the one least disturbed by other jobs on the machine)."""
    return min((fn(*args) for _ in range(trials)), key=lambda r: r[0])


def runner(
    items: list[EpisodeItem], make_client, concurrency: int, store_dir: str | None = None
) -> tuple[float, int]:
    """`run_episodes` with the expert over a fresh client from ``make_client``: (seconds, steps)."""

    async def go():
        client = make_client()
        try:
            if store_dir is None:
                return await run_episodes(items, ExpertAgent(), client, concurrency=concurrency)
            with RunStore(store_dir) as store:
                return await run_episodes(items, ExpertAgent(), client, concurrency=concurrency, store=store)
        finally:
            await client.aclose()

    t0 = time.perf_counter()
    trajs = asyncio.run(go())
    dt = time.perf_counter() - t0
    bad = [t.item_id for t in trajs if not t.success]
    if bad:
        raise SystemExit(f"expert failed on {bad[:5]} - the benchmark needs successful episodes")
    return dt, sum(t.rounds for t in trajs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--envs", default="maze,wordle")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeat", default="maze=8,wordle=4", help="How many times each test split is played.")
    ap.add_argument("--http-repeat", type=int, default=1, help="Repeats of the test split over HTTP.")
    ap.add_argument("--trials", type=int, default=3, help="In-process modes: best of this many runs.")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    envs = args.envs.split(",")
    repeat = {k: int(v) for k, v in (kv.split("=") for kv in args.repeat.split(","))}
    rows = []
    with run_server(envs, process=True) as url:
        for env_id in envs:
            ids = agentgym.spec(env_id).split("test")
            items = [EpisodeItem(env_id, t, "test", 0, s) for s in range(repeat.get(env_id, 1)) for t in ids]
            http_items = items[: len(ids) * args.http_repeat]
            floor(env_id, items)  # warm-up (untimed): imports, word lists, the experts' caches
            f_s, f_steps = best(args.trials, floor, env_id, items)
            modes = [("floor: hand-written loop, fresh env", items, f_s, f_steps)]
            modes.append(
                ("hand-written loop, one env reused", items, *best(args.trials, floor, env_id, items, False))
            )
            local = best(args.trials, runner, items, AsyncLocalClient, args.concurrency)
            modes.append(("runner, in-process", items, *local))
            with tempfile.TemporaryDirectory() as d:
                modes.append(
                    (
                        "runner, in-process + store (fsync)",
                        items,
                        *runner(items, AsyncLocalClient, args.concurrency, d),
                    )
                )
            http = lambda: AsyncEnvClient(url)  # noqa: E731
            runner(http_items[: args.concurrency], http, args.concurrency)  # warm the server up too
            modes.append(
                ("runner, HTTP (server process)", http_items, *runner(http_items, http, args.concurrency))
            )
            f_rate = len(items) / f_s
            for name, its, secs, steps in modes:
                n = len(its)
                rows.append((env_id, name, n, steps, n / secs, steps / secs, (n / secs) / f_rate))
                print(
                    f"{env_id:7s} {name:36s} {n:4d} ep {n / secs:9.1f} ep/s {steps / secs:9.1f} steps/s "
                    f"{(n / secs) / f_rate:6.2f}x floor",
                    flush=True,
                )

    load = os.getloadavg()
    cmd = "python benchmarks/rollout_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# Rollout throughput (instant agent = the env's expert)",
        "",
        f"Command: `{cmd.strip()}` (concurrency {args.concurrency}; floor and in-process runner: best of "
        f"{args.trials} trials; store and HTTP: one run; HTTP plays each test item {args.http_repeat}x).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared with other jobs: compare ratios, not absolutes).",
        "",
        "| env | mode | episodes | steps | episodes/s | steps/s | vs floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {e} | {m} | {n} | {s} | {eps:.1f} | {sps:.1f} | {r:.2f} |" for e, m, n, s, eps, sps, r in rows
    ]
    lines += [
        "",
        "The floor is a plain loop that makes a fresh env per episode (as the runner opens one session per",
        'episode) and steps it with the expert\'s replies: no records, no asyncio. "One env reused" shows what',
        "env construction adds. The runner adds per step the reply parsing, two conversation turns, timing and",
        "a few coroutine hops, and per episode one validated `Trajectory` (about 0.3-0.5 ms per episode here,",
        "nothing next to a model reply). The store makes every episode durable (write + fsync) before it is",
        "reported; episodes finishing while a sync is in flight share the next fsync (group commit), off the",
        "event loop. Over HTTP every session create, reset, instruction, expert reply, step and close is a",
        "loopback request to a server in another process, so that row measures the HTTP stack (client and",
        "server) on this shared 2-core machine: about 20 requests per Maze episode. Warm-up passes run first",
        "(in this process and on the server) so that no mode pays one-off costs (imports, word lists, caches).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
