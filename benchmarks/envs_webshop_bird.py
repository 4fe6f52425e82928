"""WebShop and BIRD costs: build time and memory of the shared data, ms per step, memory per session.

    .venv/bin/python benchmarks/envs_webshop_bird.py [--sizes 2000,20000,100000] [--no-db-build]

WebShop: for each catalog size, the time to generate the catalog + build the tantivy index and the
RSS it adds; then ms per expert step (search, clicks, buy) over the test split and the Python
memory of one more session. BIRD: the time to build all databases + questions into a fresh temp
cache dir, then ms per step (gold + predicted query) over the test split. Results go to stdout and
``benchmarks/results/envs_webshop_bird.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from agentgym.core.react import parse_reply


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def expert_steps(env: Any, tasks: list[int]) -> tuple[float, int, float]:
    """(ms per env.step, number of steps, success rate) of the expert over ``tasks``."""
    step_s, steps, wins = 0.0, 0, 0
    for t in tasks:
        env.reset(t)
        for _ in range(env.max_rounds):
            action = parse_reply(env.expert_reply(), env.spec.action_format).action
            t0 = time.perf_counter()
            res = env.step(action)
            step_s += time.perf_counter() - t0
            steps += 1
            if res.done:
                wins += bool(res.info.get("success"))
                break
    return 1000 * step_s / max(steps, 1), steps, wins / len(tasks)


def session_bytes(make: Any, task: int, n: int = 50) -> float:
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    envs = []
    for _ in range(n):
        e = make()
        e.reset(task)
        envs.append(e)
    size = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    return size / n


def bench_webshop(sizes: list[int]) -> dict[str, Any]:
    from agentgym.envs.webshop.env import WebShopEnv
    from agentgym.envs.webshop.world import get_world

    out: dict[str, Any] = {"catalogs": []}
    for n in sizes:
        before = rss_mb()
        t0 = time.perf_counter()
        world = get_world(num_products=n)
        total = time.perf_counter() - t0
        row = {
            "products": n,
            "build_s": round(total, 2),
            "index_s": round(world.engine.build_seconds, 2),
            "rss_added_mb": round(rss_mb() - before, 1),
        }
        env = WebShopEnv(num_products=n)
        ms, steps, success = expert_steps(env, env.spec.split("test"))
        row |= {"ms_per_step": round(ms, 3), "steps": steps, "expert_success": success}
        out["catalogs"].append(row)
        print("webshop", row, flush=True)
    env = WebShopEnv(num_products=sizes[0])
    out["session_kb"] = round(session_bytes(lambda: WebShopEnv(num_products=sizes[0]), 0) / 1024, 1)
    print("webshop session KB", out["session_kb"], flush=True)
    return out


def bench_bird(db_build: bool) -> dict[str, Any]:
    from agentgym.envs.sql.env import BirdEnv
    from agentgym.envs.sql.questions import load_generated

    out: dict[str, Any] = {}
    if db_build:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            from agentgym.envs.sql.databases import build_all

            build_all(Path(tmp))
            out["db_build_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            load_generated(Path(tmp))
            out["questions_build_s"] = round(time.perf_counter() - t0, 2)
        print("bird build", out, flush=True)
    env = BirdEnv()
    ms, steps, success = expert_steps(env, env.spec.split("test"))  # first pass: gold results not cached
    ms2, _, _ = expert_steps(env, env.spec.split("test"))
    out |= {"ms_per_step_cold": round(ms, 3), "ms_per_step_warm": round(ms2, 3), "expert_success": success}
    out["session_kb"] = round(session_bytes(BirdEnv, env.spec.split("test")[0]) / 1024, 1)
    print("bird", out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="2000,20000,100000", help="WebShop catalog sizes")
    ap.add_argument("--no-db-build", action="store_true", help="skip timing a fresh BIRD build")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {"webshop": bench_webshop(sizes), "bird": bench_bird(not args.no_db_build)}
    dest = Path(__file__).parent / "results" / "envs_webshop_bird.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(results, indent=2))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
