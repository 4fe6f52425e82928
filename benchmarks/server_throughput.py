"""Env server throughput: steps/s and step latency, in-process vs HTTP vs the stack's floor.

For each env (maze, wordle) and 1, 16, 64 concurrent sessions, each session plays episodes back to
back (reset, then pre-drawn random actions until done) for a fixed window, measured three ways:

* **in-process** - `AsyncLocalClient` (no server);
* **HTTP** - `AsyncEnvClient` against `run_server(process=True)`: a real uvicorn in its own process,
  so client and server each get a core;
* **floors** - the same client posting the same body to an empty async FastAPI endpoint
  (``POST /v1/_empty``, the floor DESIGN §10 uses) and to an empty route served like step and reset
  (``POST /v1/_empty_raw``), both on the same server (same uvicorn, app and middleware).

``HTTP / empty`` is the share of the stack's floor that env steps reach (DESIGN §10: >= 0.8 for
light envs). Absolute figures drift on shared machines; ratios from the same run do not. The
server's CPU time per request (psutil) shows what the server spends on a step beyond the floor,
and the client's CPU per step shows when the load generator, not the server, is the bottleneck.
A last table compares stepping light envs inline on the event loop with worker threads.

    .venv/bin/python benchmarks/server_throughput.py            # full run (~2 min)
    .venv/bin/python benchmarks/server_throughput.py --quick    # ~50 s
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from agentgym.client import AsyncEnvClient, AsyncLocalClient
from agentgym.core.registry import make
from agentgym.server.testing import run_server

OUT = Path(__file__).parent / "results" / "server.md"


@dataclass
class Cell:
    steps_s: float
    p50_ms: float
    p99_ms: float
    server_us: float | None  # server CPU per request
    client_us: float  # this process's CPU per request


class _EmptySession:
    """Looks like a session; ``step`` posts the step body to the no-op endpoint."""

    def __init__(self, client: AsyncEnvClient, url: str) -> None:
        self.client, self.http, self.url = client, client._shard(), url

    async def reset(self, task_id: int, seed: int | None = None) -> None:
        return None

    async def step(self, action: str) -> Any:
        await self.client.request(self.http, "POST", self.url, json={"action": action})
        return None

    async def close(self) -> None:
        return None


def _actions(env_id: str, n_sessions: int, per: int = 40) -> list[tuple[int, list[str]]]:
    """(task, actions) per session, drawn once so that drawing is not measured."""
    env = make(env_id)
    tasks = env.spec.split("test")
    out = []
    for i in range(n_sessions):
        task = tasks[i % len(tasks)]
        env.reset(task, i)
        rng = random.Random(i)
        out.append((task, [env.random_action(rng) for _ in range(per)]))
    return out


async def _drive(
    sessions: list[Any],
    plan: list[tuple[int, list[str]]],
    warmup: float,
    window: float,
    server_pid: int | None,
    yield_each: bool = False,
) -> Cell:
    lat: list[float] = []
    state = {"measure": False, "stop": False}

    async def loop(i: int, s: Any) -> None:
        task, actions = plan[i]
        while not state["stop"]:
            await s.reset(task, i)
            for a in actions:
                if state["stop"]:
                    return
                t = time.perf_counter()
                res = await s.step(a)
                if state["measure"]:
                    lat.append(time.perf_counter() - t)
                if yield_each:  # inline in-process steps never suspend: let the other sessions run
                    await asyncio.sleep(0)
                if res is not None and res.done:
                    break

    tasks = [asyncio.create_task(loop(i, s)) for i, s in enumerate(sessions)]
    await asyncio.sleep(warmup)
    proc = psutil.Process(server_pid) if server_pid else None
    srv0 = sum(proc.cpu_times()[:2]) if proc else 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    state["measure"] = True
    await asyncio.sleep(window)
    state["measure"] = False
    t1, cpu1 = time.perf_counter(), time.process_time()
    srv1 = sum(proc.cpu_times()[:2]) if proc else 0.0
    state["stop"] = True
    await asyncio.gather(*tasks)
    n = max(1, len(lat))
    lat.sort()
    return Cell(
        steps_s=len(lat) / (t1 - t0),
        p50_ms=statistics.median(lat) * 1e3 if lat else float("nan"),
        p99_ms=lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3 if lat else float("nan"),
        server_us=(srv1 - srv0) / n * 1e6 if proc else None,
        client_us=(cpu1 - cpu0) / n * 1e6,
    )


async def _local(env_id: str, n: int, warmup: float, window: float) -> Cell:
    client = AsyncLocalClient()
    sessions = [await client.session(env_id) for _ in range(n)]
    try:
        return await _drive(sessions, _actions(env_id, n), warmup, window, None, yield_each=True)
    finally:
        for s in sessions:
            await s.close()


async def _http(url: Any, env_id: str, n: int, warmup: float, window: float, empty: str = "") -> Cell:
    async with AsyncEnvClient(url) as client:
        if empty:
            sessions: list[Any] = [_EmptySession(client, f"{url}{empty}") for _ in range(n)]
        else:
            sessions = [await client.session(env_id) for _ in range(n)]
        try:
            return await _drive(sessions, _actions(env_id, n), warmup, window, url.pid)
        finally:
            for s in sessions:
                await s.close()


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter windows (~50 s in all)")
    ap.add_argument("--envs", nargs="+", default=["maze", "wordle"])
    ap.add_argument("--sessions", nargs="+", type=int, default=[1, 16, 64])
    ap.add_argument("--window", type=float, default=None, help="measured seconds per cell")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    window = args.window or (0.7 if args.quick else 2.0)
    warmup = 0.2 if args.quick else 0.5
    load0 = os.getloadavg()
    started = time.time()
    rows, thread_rows = [], []
    with run_server(args.envs, process=True, empty_endpoint=True, capacity=1024) as url:
        for env_id in args.envs:
            for n in args.sessions:
                local = asyncio.run(_local(env_id, n, warmup, window))
                http = asyncio.run(_http(url, env_id, n, warmup, window))
                empty = asyncio.run(_http(url, env_id, n, warmup, window, empty="/v1/_empty"))
                raw = asyncio.run(_http(url, env_id, n, warmup, window, empty="/v1/_empty_raw"))
                rows.append((env_id, n, local, http, empty, raw))
                ratio = http.steps_s / empty.steps_s
                print(f"{env_id:7s} {n:3d}: local {local.steps_s:9.0f}/s  http {http.steps_s:7.0f}/s", end="")
                print(
                    f"  empty {empty.steps_s:7.0f}/s  ratio {ratio:.2f}  raw {raw.steps_s:7.0f}/s", flush=True
                )
    n_max = max(args.sessions)
    with run_server(args.envs, process=True, threaded=True, capacity=1024) as url:
        for env_id in args.envs:
            threaded = asyncio.run(_http(url, env_id, n_max, warmup, window))
            inline = next(r[3] for r in rows if r[0] == env_id and r[1] == n_max)
            thread_rows.append((env_id, inline, threaded))
            print(
                f"{env_id:7s} {n_max:3d}: inline {inline.steps_s:7.0f}/s  threaded {threaded.steps_s:7.0f}/s"
            )
    load1 = os.getloadavg()

    cmd = "python benchmarks/server_throughput.py" + "".join(f" {a}" for a in sys.argv[1:])
    lines = [
        "# Env server throughput",
        "",
        f"Command: `{cmd}` ({time.time() - started:.0f} s; {window:g} s measured per cell after {warmup:g} s warm-up).",
        f"Machine: {os.cpu_count()} CPUs, load average {load0[0]:.1f} at start / {load1[0]:.1f} at end "
        f"(shared with other jobs); Python {platform.python_version()}; "
        f"server = one uvicorn process ({_http_impl()}), client = `AsyncEnvClient` in this process.",
        "",
        "Each session plays episodes back to back (reset + pre-drawn random actions); steps/s counts steps of "
        "all sessions together, latency is per step as the client sees it. Two floors on the same server "
        "(same uvicorn, app, middleware), hit by the same client with the same body: *empty* = an empty "
        "async FastAPI endpoint (`POST /v1/_empty`, the floor of DESIGN §10 and of the original servers' "
        "figures), *raw* = an empty route served like step and reset (`POST /v1/_empty_raw`: a plain "
        "Starlette route, no FastAPI dependency solving). CPU: server process CPU per request "
        "(step / empty / raw; per step includes the resets between episodes, one per <= 15 maze or <= 8 wordle "
        "steps) and this client process's CPU per step. *server-bound* ratios = server CPU "
        "per floor request / per step: the ratio the server would reach if it, not the load generator, "
        "were the bottleneck.",
        "",
        "| env | sessions | in-process steps/s | in-process p50 / p99 ms | HTTP steps/s | HTTP p50 / p99 ms "
        "| empty req/s | **HTTP / empty** | raw req/s | HTTP / raw | server CPU µs/req step / empty / raw "
        "| server-bound vs empty / raw | client CPU µs/step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id, n, local, http, empty, raw in rows:
        lines.append(
            f"| {env_id} | {n} | {_fmt(local.steps_s)} | {local.p50_ms:.3f} / {local.p99_ms:.3f} "
            f"| {_fmt(http.steps_s)} | {http.p50_ms:.2f} / {http.p99_ms:.2f} | {_fmt(empty.steps_s)} "
            f"| **{http.steps_s / empty.steps_s:.2f}** | {_fmt(raw.steps_s)} | {http.steps_s / raw.steps_s:.2f} "
            f"| {_fmt(http.server_us)} / {_fmt(empty.server_us)} / {_fmt(raw.server_us)} "
            f"| {_ratio(empty.server_us, http.server_us)} / {_ratio(raw.server_us, http.server_us)} "
            f"| {_fmt(http.client_us)} |"
        )
    lines += [
        "",
        f"Light envs on the event loop vs in worker threads (HTTP, {n_max} sessions, `create_app(threaded=True)`):",
        "",
        "| env | inline steps/s | threaded steps/s | inline p50 / p99 ms | threaded p50 / p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for env_id, inline, threaded in thread_rows:
        lines.append(
            f"| {env_id} | {_fmt(inline.steps_s)} | {_fmt(threaded.steps_s)} | {inline.p50_ms:.2f} / "
            f"{inline.p99_ms:.2f} | {threaded.p50_ms:.2f} / {threaded.p99_ms:.2f} |"
        )
    lines += ["", "Summary (computed from the rows above):", ""]
    for env_id, n, _, http, empty, _ in rows:
        if n != n_max:
            continue
        bound = "the client" if http.client_us > (http.server_us or 0) else "the server"
        lines.append(
            f"- {env_id}, {n} sessions: HTTP reaches {http.steps_s / empty.steps_s:.2f} of the empty FastAPI "
            f"endpoint (target 0.8); the client spends {_fmt(http.client_us)} µs of CPU per step and the "
            f"server {_fmt(http.server_us)} µs (floor {_fmt(empty.server_us)} µs), so {bound} is the "
            f"bottleneck; server-bound the ratio would be {_ratio(empty.server_us, http.server_us)}."
        )
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}")


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11 HTTP parser"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "httptools, asyncio loop"
    return "httptools + uvloop"


if __name__ == "__main__":
    main()
