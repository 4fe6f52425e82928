"""BabyAI and TextCraft costs: ms per step, expert success on the test split, memory per session.

    .venv/bin/python benchmarks/envs_babyai_textcraft.py [--envs babyai,textcraft] [--limit N]

For each env: the expert plays the test split (or its first ``--limit`` ids); we time `env.step`
alone (the expert's planning is reported apart, it is not part of serving a step) and count
successes; then the Python memory one more live session holds (tracemalloc, averaged over 50
sessions reset to different tasks, after the shared data - the recipe graph, minigrid's modules -
is loaded). Results go to stdout and ``benchmarks/results/envs_babyai_textcraft.json``.

The original BabyAI server spent 8-15 ms of CPU per step (DESIGN §10).
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

from agentgym.core.react import parse_reply
from agentgym.core.registry import make


def run_expert(env: Any, tasks: list[int]) -> dict[str, Any]:
    step_s = expert_s = 0.0
    steps = wins = rounds = 0
    reward_sum = 0.0
    failed: list[int] = []
    for t in tasks:
        env.reset(t)
        res = None
        for _ in range(env.max_rounds):
            t0 = time.perf_counter()
            action = parse_reply(env.expert_reply(), env.spec.action_format).action
            t1 = time.perf_counter()
            res = env.step(action)
            step_s += time.perf_counter() - t1
            expert_s += t1 - t0
            steps += 1
            if res.done:
                break
        ok = bool(res and res.info.get("success"))
        wins += ok
        rounds += env.rounds
        reward_sum += res.reward if res else 0.0
        if not ok:
            failed.append(t)
    n = len(tasks)
    return {
        "episodes": n,
        "expert_success": wins / n,
        "mean_reward": reward_sum / n,
        "mean_rounds": rounds / n,
        "failed_tasks": failed,
        "steps": steps,
        "ms_per_step": 1000 * step_s / steps,
        "expert_ms_per_reply": 1000 * expert_s / steps,
    }


def session_memory(env_id: str, tasks: list[int], n: int = 50) -> float:
    """KiB of Python memory per live, reset session."""
    warm = make(env_id)
    warm.reset(tasks[0])
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    envs = []
    for i in range(n):
        e = make(env_id)
        e.reset(tasks[i % len(tasks)])
        envs.append(e)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del envs
    return used / n / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", default="babyai,textcraft")
    ap.add_argument("--limit", type=int, default=0, help="only the first N test ids (0 = all)")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for env_id in args.envs.split(","):
        t0 = time.perf_counter()
        env = make(env_id)
        load_s = time.perf_counter() - t0
        tasks = env.spec.split("test")
        if args.limit:
            tasks = tasks[: args.limit]
        r = run_expert(env, tasks)
        r["load_s"] = load_s
        r["kib_per_session"] = session_memory(env_id, tasks)
        results[env_id] = r
        print(
            f"{env_id:10s} expert {r['expert_success']:.1%} on {r['episodes']} test tasks "
            f"(mean reward {r['mean_reward']:.3f}, {r['mean_rounds']:.1f} rounds); "
            f"{r['ms_per_step']:.2f} ms/step; expert {r['expert_ms_per_reply']:.1f} ms/reply; "
            f"{r['kib_per_session']:.0f} KiB/session; load {load_s:.2f} s"
        )
        if r["failed_tasks"]:
            print(f"{'':10s} failed: {r['failed_tasks']}")
    out = Path(__file__).parent / "results" / "envs_babyai_textcraft.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
