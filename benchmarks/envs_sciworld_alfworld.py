"""SciWorld and ALFWorld engine costs: ms per step, reset time, memory per session.

    .venv/bin/python benchmarks/envs_sciworld_alfworld.py [--sessions 1,4,8] [--steps 40] [--alfworld-games 3]

SciWorld
  * ``step_ms``: our `SciWorldEnv.step` (raw simulator step + score + completed);
  * ``wrapper_step_ms``: what ``scienceworld.ScienceWorldEnv.step`` does on every step (the original
    AgentGym server used it): the same + look + inventory + task description + the valid-action
    list (``getValidActionObjectCombinations``);
  * memory: RSS of the shared JVM with N live sessions, per session; and the RSS of a JVM started as
    ``ScienceWorldEnv()`` starts it (one per session in the original, default heap).
ALFWorld
  * game generation time (uncached), reset time, ms per admissible step, Python RSS per session.
Figures drift on shared machines; run it alone for numbers worth quoting.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bench_sciworld(sessions: list[int], steps: int) -> dict:
    from agentgym.core.react import parse_reply
    from agentgym.envs.sciworld import tasks
    from agentgym.envs.sciworld.env import SciWorldEnv
    from agentgym.envs.sciworld.pool import SimulatorPool

    out: dict = {}
    tid = next(i for i in tasks.test_ids() if tasks.task(i).code == "4-1")
    for n in sessions:
        pool = SimulatorPool(sims_per_jvm=max(sessions))
        envs = [SciWorldEnv(pool=pool) for _ in range(n)]
        t = time.perf_counter()
        for env in envs:
            env.reset(tid)
        reset_s = (time.perf_counter() - t) / n
        plan = []
        env0 = envs[0]
        for _ in range(5):
            plan.append(parse_reply(env0.expert_reply(), "react_last").action)
            env0.step(plan[-1])
        env0.reset(tid)
        actions = (["look around", "inventory", "look at agent", "wait1"] * steps)[:steps]
        for a in actions * 2:  # JIT warm-up: the first steps of a fresh JVM run interpreted
            env0.step(a) if not env0.done else env0.reset(tid)
        for env in envs:
            env.reset(tid)
        t = time.perf_counter()
        count = 0
        for env in envs:
            for a in actions:
                if env.done:
                    env.reset(tid)
                env.step(a)
                count += 1
        step_ms = 1000 * (time.perf_counter() - t) / count
        server = envs[0]._sim.server
        t = time.perf_counter()
        for a in actions[: max(5, steps // 4)]:
            server.step(a)
            server.getScore()
            server.getCompleted()
            server.freeActionLook()
            server.freeActionInventory()
            server.freeActionTaskDesc()
            list(server.getValidActionObjectCombinations())
        wrapper_ms = 1000 * (time.perf_counter() - t) / max(5, steps // 4)
        stats = pool.stats()
        jvm_rss = sum(rss_mb(pid) for pid in stats["pids"])
        out[f"sessions={n}"] = {
            "reset_s": round(reset_s, 3),
            "step_ms": round(step_ms, 2),
            "wrapper_step_ms": round(wrapper_ms, 2),
            "jvms": stats["jvms"],
            "jvm_rss_mb": round(jvm_rss),
            "rss_per_session_mb": round(jvm_rss / n, 1),
        }
        print("sciworld", n, out[f"sessions={n}"], flush=True)
        for env in envs:
            env.close()
        pool.close()
    # one JVM the way ScienceWorldEnv() starts it (default heap), with one session
    from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
    from scienceworld.constants import BASEPATH, JAR_PATH

    port, proc = launch_gateway(classpath=JAR_PATH, die_on_exit=True, cwd=BASEPATH, return_proc=True)
    gw = JavaGateway(gateway_parameters=GatewayParameters(auto_field=True, port=port), java_process=proc)
    sim = gw.jvm.scienceworld.runtime.pythonapi.PythonInterface()
    t = tasks.task(tid)
    sim.load(t.name, t.variation, "", False)
    for a in (["look around", "inventory", "wait1"] * steps)[:steps]:
        sim.step(a)
        list(sim.getValidActionObjectCombinations())
    out["one_jvm_per_session_rss_mb"] = round(rss_mb(proc.pid))
    gw.shutdown()
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    proc.wait(timeout=10)
    return out


def bench_alfworld(games: int, steps: int) -> dict:
    from agentgym.envs.alfworld import tasks
    from agentgym.envs.alfworld.env import ALFWorldEnv

    os.environ["AGENTGYM_CACHE"] = tempfile.mkdtemp(prefix="agentgym-bench-")
    ids = list(range(2420, 2420 + games))
    t = time.perf_counter()
    for tid in ids:
        tasks.generate_game(tid)
    gen_s = (time.perf_counter() - t) / games
    base = rss_mb(os.getpid())
    envs = [ALFWorldEnv() for _ in ids]
    t = time.perf_counter()
    for env, tid in zip(envs, ids, strict=True):
        env.reset(tid)
    reset_s = (time.perf_counter() - t) / games
    per_session = (rss_mb(os.getpid()) - base) / games
    t = time.perf_counter()
    count = 0
    for env in envs:
        for k in range(steps):
            acts = env.available_actions()
            env.step(acts[k % len(acts)])
            count += 1
            if env.done:
                break
    step_ms = 1000 * (time.perf_counter() - t) / count
    res = {
        "generate_s_per_game": round(gen_s, 2),
        "reset_s": round(reset_s, 2),
        "step_ms": round(step_ms, 1),
        "python_rss_per_session_mb": round(per_session, 1),
    }
    print("alfworld", res, flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", default="1,4,8")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--alfworld-games", type=int, default=3)
    ap.add_argument("--alfworld-steps", type=int, default=10)
    ap.add_argument("--only", choices=["sciworld", "alfworld"], default=None)
    args = ap.parse_args()
    result = {}
    if args.only in (None, "sciworld"):
        result["sciworld"] = bench_sciworld([int(x) for x in args.sessions.split(",")], args.steps)
    if args.only in (None, "alfworld"):
        result["alfworld"] = bench_alfworld(args.alfworld_games, args.alfworld_steps)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
