"""Tool envs (weather, movie, academia, sheet, todo): expert success and env time per step.

For each env, the expert plays every task of the chosen splits in process (reset, expert reply,
step); reported: expert success per split, ms per step and ms per reset (the env alone: the
expert's reply is built from the task's recorded calls, so it costs next to nothing), and the
one-off task generation time. With ``--http``, the test split is also played through the original
``env_idx`` routes of a server in its own process (ms per step over loopback HTTP).

    .venv/bin/python benchmarks/envs_tools.py [--envs weather,todo] [--splits test,train] [--http]
"""

from __future__ import annotations

import argparse
import time

import agentgym
from agentgym.core.react import parse_reply

ENVS = ["weather", "movie", "academia", "sheet", "todo"]


def play(env_id: str, split: str) -> dict[str, float]:
    t0 = time.perf_counter()
    env = agentgym.make(env_id)
    env.task_list()  # generation is cached per process: time it once, apart from the episodes
    gen_s = time.perf_counter() - t0
    wins = steps = 0
    step_s = reset_s = 0.0
    ids = env.spec.split(split)
    for task in ids:
        t = time.perf_counter()
        env.reset(task)
        reset_s += time.perf_counter() - t
        while True:
            action = parse_reply(env.expert_reply(), env.spec.action_format).action or ""
            t = time.perf_counter()
            res = env.step(action)
            step_s += time.perf_counter() - t
            steps += 1
            if res.done:
                wins += bool(res.info.get("success"))
                break
    return {
        "tasks": len(ids),
        "success": wins / len(ids),
        "steps": steps,
        "ms_step": 1000 * step_s / steps,
        "ms_reset": 1000 * reset_s / len(ids),
        "gen_s": gen_s,
    }


def play_http(env_id: str) -> dict[str, float]:
    import httpx

    from agentgym.server.testing import run_server

    local = agentgym.make(env_id)
    wins = steps = 0
    with (
        run_server([env_id], process=True) as url,
        httpx.Client(base_url=f"{url}/{env_id}", timeout=60) as http,
    ):
        idx = http.post("/create", json={"id": None}).json()
        t0 = time.perf_counter()
        for task in local.spec.split("test"):
            http.post("/reset", json={"env_idx": idx, "id": task}).raise_for_status()
            local.reset(task)
            while True:
                reply = local.expert_reply()
                out = http.post("/step", json={"env_idx": idx, "action": reply}).json()
                local.step(reply)
                steps += 1
                if out["done"]:
                    wins += out["reward"] >= 1.0
                    break
        total = time.perf_counter() - t0
    n = len(local.spec.split("test"))
    return {"success": wins / n, "ms_step_http": 1000 * total / steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--envs", default=",".join(ENVS))
    ap.add_argument("--splits", default="test,train")
    ap.add_argument(
        "--http", action="store_true", help="also play the test split over the original HTTP routes"
    )
    args = ap.parse_args()
    print(
        "| env | split | tasks | expert success | steps | ms/step | ms/reset | task generation s (first split) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for env_id in args.envs.split(","):
        for split in args.splits.split(","):
            r = play(env_id, split)
            print(
                f"| {env_id} | {split} | {r['tasks']} | {r['success']:.1%} | {r['steps']} | "
                f"{r['ms_step']:.3f} | {r['ms_reset']:.3f} | {r['gen_s']:.2f} |"
            )
    if args.http:
        print("\n| env | expert success (HTTP, test) | ms/step incl. HTTP (reset + step round trips) |")
        print("|---|---|---|")
        for env_id in args.envs.split(","):
            r = play_http(env_id)
            print(f"| {env_id} | {r['success']:.1%} | {r['ms_step_http']:.2f} |")


if __name__ == "__main__":
    main()
