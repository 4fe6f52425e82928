"""`make demo`: the whole AgentGym pipeline on this machine, with the commands a user would type.

1. **Serve** the light envs with ``agentgym serve`` (a real server on 127.0.0.1).
2. **Expert check**: ``agentgym eval --agent expert --server URL`` over every served env's test split
   (AgentEval), over HTTP (the server runs with ``--expert``) - a summary table of expert success per env.
3. **Learn**: ``agentgym evol --config configs/evol-demo.yaml``: collect a small expert set
   (AgentTraj), train a BPE tokenizer and a tiny Llama from scratch (BC), evaluate it against a
   random agent on held-out tasks, run AgentEvol (explore the wider train pool, keep successes, merge,
   re-train from the base model, evaluate), print the per-iteration table and save the plot.

Every stage writes under ``runs/demo`` and resumes where it stopped if the demo is run again.
``python -m agentgym.demo --skip-learn`` runs only stages 1-2 (about a minute).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

console = Console()

# Envs cheap enough to serve and check on a laptop in a minute (no JVM / TextWorld).
LIGHT_ENVS = [
    "maze",
    "wordle",
    "textcraft",
    "babyai",
    "webshop",
    "bird",
    "weather",
    "movie",
    "academia",
    "sheet",
    "todo",
]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agentgym(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentgym.cli", *args]


def _run(cmd: list[str]) -> None:
    console.print(f"[bold cyan]$ agentgym {shlex.join(cmd[3:])}[/]")
    subprocess.run(cmd, check=True)


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"agentgym serve exited with code {proc.returncode}; see its output above")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"agentgym serve did not answer on {url} within {timeout_s:.0f} s")


def available(envs: list[str]) -> list[str]:
    from agentgym.core.registry import list_envs

    ok = set(list_envs(available_only=True))
    return [e for e in envs if e in ok]


def serve_and_check(out: Path, envs: list[str]) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = _agentgym("serve", *envs, "--port", str(port), "--log-level", "warning", "--expert")
    console.rule("[bold]1. Serve the environments")
    console.print(f"[bold cyan]$ agentgym {shlex.join(cmd[3:])}[/]")
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        _wait_ready(url, proc)
        console.rule("[bold]2. AgentEval with the expert agent, over HTTP")
        _run(
            _agentgym(
                "eval", "--envs", ",".join(envs), "--agent", "expert", "--server", url,
                "--concurrency", "16", "--out", str(out / "expert"),
            )
        )  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def learn(out: Path, config: Path) -> None:
    console.rule("[bold]3. BC and AgentEvol with a tiny model trained from scratch")
    _run(_agentgym("evol", "--config", str(config), "--run-dir", str(out / "evol")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agentgym.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="where every stage writes")
    parser.add_argument("--envs", default=",".join(LIGHT_ENVS), help="envs to serve and check")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "evol-demo.yaml")
    parser.add_argument("--skip-learn", action="store_true", help="only serve + expert check")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    envs = available([e for e in args.envs.split(",") if e])
    if not envs:
        raise SystemExit("none of the requested envs can be loaded here; run `agentgym envs` to see why")
    args.out.mkdir(parents=True, exist_ok=True)
    serve_and_check(args.out, envs)
    if not args.skip_learn:
        learn(args.out, args.config)
    console.rule(f"[bold green]demo finished in {time.monotonic() - t0:.0f} s - outputs in {args.out}/")


if __name__ == "__main__":
    main()
