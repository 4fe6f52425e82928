"""Hostile actions: what a 32 k and a ~1 MB pathological action cost each env (ms per action).

The adversarial review found quadratic regexes in the action parsers: a 32,000-character action
(``"Action: a" + " " * 32_000 + "b"``, ``"search[]" + " " * 32_000 + "x"``) held the server for
8-17 s. For every registered env (`agentgym.make`), each of a set of worst-case shapes (generic
ones plus the shapes aimed at that env's parser) is sent at 32 k and at ~1 MB (just under the
server's 1 MB body limit), and the **slowest shape** of each column is reported:

* ``step``: ``env.step`` in process, with the env's length cap (`EnvSpec.max_action_chars`,
  checked before any parser) - what a server does;
* ``parser``: ``env.step`` with the cap lifted to 2 MB, so the whole action reaches the env's own
  parser - what a server whose operator raised the cap would do (the parsers must be linear);
* ``reply``: `agentgym.core.react.parse_reply` with the env's action format - the runner's parse
  of a model reply of that length;
* ``http``: ``POST /v1/sessions/{id}/step`` to a server in its own process on 127.0.0.1 (client
  time, loopback; includes JSON encoding of the 1 MB body).

Each figure is the median of ``--reps`` runs. A run that exceeds ``--timeout`` seconds is
interrupted (SIGALRM) and shown as ``>T s``. Envs that cannot be made here (a missing engine or
data) are listed as skipped.

    .venv/bin/python benchmarks/hostile_actions.py [--envs maze,webshop] [--reps 3] [--no-http]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import agentgym
from agentgym.core.env import Env
from agentgym.core.react import parse_reply
from agentgym.core.registry import env_class, list_envs
from agentgym.core.types import EnvSpec

BODY_LIMIT = 1 << 20
SIZES = {"32k": 32_000, "1MB": 1_000_000}

Shape = tuple[str, str, str]  # (prefix, unit repeated to fill the length, suffix)
GENERIC: list[Shape] = [("", " ", "x"), ("Action: ", " ", "x"), ("x", "\n", "x"), ("", "a ", "")]
TOOLS: list[Shape] = [
    ("Action: a", " ", "b"),
    ("Action: f with", " ", "Action Input"),
    ("Action", " ", "x"),
    ("", "Action: x with Action Input: {", ""),
    ('Action: x with Action Input: {"a": ', "[", ""),
]
PER_ENV: dict[str, list[Shape]] = {
    **{e: TOOLS for e in ("weather", "todo", "movie", "academia", "sheet")},
    "webshop": [("search[]", " ", "x"), ("search[", " ", ""), ("click[", "a ", ""), ("search[", "] ", "x")],
    "maze": [("move", " ", "x"), ("", "move ", "x")],
    "wordle": [("", "'", "x")],
    "babyai": [("go to ", " ", ""), ("", "go to ", "")],
    "textcraft": [("craft ", "a ", ""), ("", "craft 1 a using ", "x"), ("get ", "1", " x")],
    "bird": [("```sql", " ", "x"), ("```sql", "\n", "")],
    "sciworld": [("open", " ", "x"), ("", "go to ", "")],
    "alfworld": [("go to", " ", "x"), ("", "take ", "")],
}
REPLY: list[Shape] = [("Action:", " ", "x"), ("Action", " ", "x"), ("```sql", " ", "x"), ("", "Action: ", "")]


def build(shape: Shape, n: int) -> str:
    prefix, unit, suffix = shape
    return prefix + unit * max(1, (n - len(prefix) - len(suffix)) // len(unit)) + suffix


def sized(shape: Shape, label: str) -> str:
    """``shape`` at ``label``'s size; the 1 MB one shrunk until its JSON body fits the limit."""
    n = SIZES[label]
    while True:
        action = build(shape, n)
        if label != "1MB" or len(json.dumps({"action": action})) < BODY_LIMIT - 1024:
            return action
        n = n * 9 // 10


def name(shape: Shape) -> str:
    prefix, unit, suffix = shape
    return f"{prefix!r}+{unit!r}*n+{suffix!r}"


class Timeout(Exception):
    pass


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def timed(fn: Callable[[], Any], reps: int, timeout: float, before: Callable[[], Any] | None = None) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs (``before()`` untimed); inf on a timeout."""
    runs = []
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        try:
            with alarm(timeout):
                fn()
        except Timeout:
            return float("inf")
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def shapes_for(env_id: str) -> list[Shape]:
    return GENERIC + PER_ENV.get(env_id, [])


_LIFTED: dict[str, EnvSpec] = {}  # kept alive: agentgym.core.env caches task ids by id(spec)


def lifted(env: Env) -> Env:
    """``env`` with its length cap lifted to 2 MB: the whole action reaches its parser."""
    spec = _LIFTED.setdefault(env.spec.id, env.spec.model_copy(update={"max_action_chars": 2 * SIZES["1MB"]}))
    env.spec = spec  # type: ignore[misc]
    return env


def worst(results: dict[Shape, float]) -> tuple[float, str]:
    shape = max(results, key=lambda s: results[s])
    return results[shape], name(shape)


def bench_in_process(env_id: str, reps: int, timeout: float) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    capped = agentgym.make(env_id)
    open_ = lifted(agentgym.make(env_id))
    task = capped.spec.split("test")[0]
    fmt = capped.spec.action_format
    for label in SIZES:
        for mode, env in (("step", capped), ("parser", open_)):
            res: dict[Shape, float] = {}
            for shape in shapes_for(env_id):
                action = sized(shape, label)
                res[shape] = timed(
                    lambda e=env, a=action: e.step(a), reps, timeout, lambda e=env: e.reset(task)
                )
            out[f"{mode} {label}"] = worst(res)
        reply = {
            s: timed(lambda a=sized(s, label): parse_reply(a, fmt), reps, timeout) for s in REPLY + GENERIC
        }
        out[f"reply {label}"] = worst(reply)
    capped.close()
    open_.close()
    return out


def bench_http(url: str, env_id: str, reps: int, timeout: float) -> dict[str, tuple[float, str]]:
    import httpx

    out: dict[str, tuple[float, str]] = {}
    with httpx.Client(base_url=url, timeout=timeout) as http:
        sid = (
            http.post("/v1/sessions", json={"env": env_id}, timeout=300)
            .raise_for_status()
            .json()["session_id"]
        )
        task = http.get(f"/v1/envs/{env_id}").json()["splits"]["test"][0]

        def reset() -> None:
            http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}, timeout=300).raise_for_status()

        for label in SIZES:
            res: dict[Shape, float] = {}
            for shape in shapes_for(env_id):
                body = {"action": sized(shape, label)}

                def step(b: dict[str, str] = body) -> None:
                    r = http.post(f"/v1/sessions/{sid}/step", json=b)
                    if r.status_code != 200:
                        raise RuntimeError(f"{env_id}: {r.status_code} {r.text[:200]}")

                try:
                    res[shape] = timed(step, reps, timeout, reset)
                except httpx.TimeoutException:
                    res[shape] = float("inf")
            out[f"http {label}"] = worst(res)
        http.delete(f"/v1/sessions/{sid}")
    return out


def fmt_ms(seconds: float, timeout: float) -> str:
    return f">{timeout:.0f} s" if seconds == float("inf") else f"{1000 * seconds:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", default=",".join(list_envs()))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a run counts as hung")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    rows: dict[str, dict[str, tuple[float, str]]] = {}
    skipped: dict[str, str] = {}
    for env_id in args.envs.split(","):
        try:
            rows[env_id] = bench_in_process(env_id, args.reps, args.timeout)
        except Exception as e:  # a missing engine or data set: not this benchmark's subject
            skipped[env_id] = f"{type(e).__name__}: {str(e)[:120]}"
        print(f"{env_id}: done" if env_id in rows else f"{env_id}: skipped", flush=True)
    if not args.no_http and rows:
        from agentgym.server.testing import run_server

        with run_server(list(rows), process=True, startup_timeout_s=300) as url:
            for env_id in rows:
                try:
                    rows[env_id].update(bench_http(url, env_id, args.reps, args.timeout))
                except Exception as e:
                    skipped[f"{env_id} (http)"] = f"{type(e).__name__}: {str(e)[:120]}"

    cols = [f"{m} {s}" for m in ("step", "parser", "reply", "http") for s in SIZES]
    cols = [c for c in cols if any(c in r for r in rows.values())]
    print("\nms per action (median; slowest shape of each column; 'step' = with the env's length cap)\n")
    print("| env | cap | " + " | ".join(cols) + " |")
    print("|---|---:|" + "---:|" * len(cols))
    for env_id, r in rows.items():
        cap = env_class(env_id).spec.max_action_chars
        cells = [fmt_ms(r[c][0], args.timeout) if c in r else "-" for c in cols]
        print(f"| {env_id} | {cap:,} | " + " | ".join(cells) + " |")
    print("\nslowest shape per column:")
    for env_id, r in rows.items():
        print(f"  {env_id}: " + "; ".join(f"{c}: {r[c][1]}" for c in cols if c in r))
    for env_id, why in skipped.items():
        print(f"skipped {env_id}: {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "skipped": skipped}, f, indent=1)


if __name__ == "__main__":
    main()
