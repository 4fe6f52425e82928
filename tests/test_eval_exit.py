"""`agentgym eval` / `collect` exit honestly: errored episodes give exit 3 plus the command that retries
them (and that command finishes them), capacity is waited for, misconfiguration fails before any
episode. Real `agentgym serve` processes on loopback; the eval CLI runs as a subprocess where it
matters (its stdout redirected to a file, as in a batch job)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.rollout.store import read_trajectories
from dummy_envs import CounterEnv

TESTS = Path(__file__).parent
AGENTGYM = Path(sys.executable).with_name("agentgym")  # the console script of this venv
GATE_VAR = "AGENTGYM_TEST_GATE"
HANG_GUARD_S = 120.0  # generous: only there so a broken build fails instead of hanging


class GatedEnv(CounterEnv):
    """The counter env, but steps of test tasks >= 15 block until the file named by
    $AGENTGYM_TEST_GATE exists: the test can kill the server with those episodes in flight, at a
    point it observes (the ungated episodes on disk) instead of a point in time. Blocking spec, so
    the server runs its steps in worker threads and keeps answering other requests."""

    spec = CounterEnv.spec.model_copy(update={"id": "gated", "blocking": True})

    def _step(self, action: str):  # type: ignore[no-untyped-def]
        gate = os.environ.get(GATE_VAR)
        if gate and (self.task_id or 0) >= 15:
            while not os.path.exists(gate):
                time.sleep(0.01)
        return super()._step(action)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + HANG_GUARD_S
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"hang guard: {what}")
        time.sleep(0.02)


@contextmanager
def serve(port: int, *args: str, gate: Path | None = None, log: Path) -> Iterator[subprocess.Popen]:
    """`agentgym serve ... --port PORT` in its own process, with the test env 'gated' registered."""
    boot = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from agentgym.core.registry import register; register('gated', 'test_eval_exit:GatedEnv'); "
        "from agentgym.cli import app; app(sys.argv[2:], prog_name='agentgym')"
    )
    env = dict(os.environ)
    env.pop(GATE_VAR, None)
    if gate is not None:
        env[GATE_VAR] = str(gate)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", boot, str(TESTS), "serve", *args, "--port", str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, f"agentgym serve exited: {log.read_text()[-2000:]}"
        try:
            return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, f"agentgym serve on {url}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def retry_command(output: str) -> list[str]:
    """The command the summary says retries the errored episodes, as argv for this venv."""
    line = next(x for x in output.splitlines() if x.startswith("retry the errored episodes"))
    argv = shlex.split(line.split(": ", 1)[1])
    assert argv[0] == "agentgym"
    return [str(AGENTGYM), *argv[1:]]


@pytest.mark.slow  # ~10 s (two CLI runs and a server kill): out of `make test-fast`
def test_server_killed_mid_run_exits_3_and_the_printed_command_finishes_the_rest(tmp_path):
    port, run, gate = free_port(), tmp_path / "run", tmp_path / "gate-open"
    url = f"http://127.0.0.1:{port}"
    cmd = [str(AGENTGYM), "eval", "--envs", "gated", "--agent", "random", "--server", url]
    cmd += ["--samples", "3", "--concurrency", "4", "--out", str(run), "--no-progress"]
    stdout, stderr = tmp_path / "eval1.out", tmp_path / "eval1.err"
    with serve(port, "gated", gate=gate, log=tmp_path / "serve1.log") as server:
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            ev = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tmp_path)
        # tasks 10-14 (x3 samples) are ungated: 15 episodes finish; the gated ones then hang in step
        wait_for(lambda: lines(run / "trajectories.jsonl") >= 15 or ev.poll() is not None, "15 episodes")
        assert ev.poll() is None, "the eval ended before the server was killed"
        server.send_signal(signal.SIGKILL)  # the whole server dies with episodes in flight
        server.wait(timeout=30)
        code = ev.wait(timeout=HANG_GUARD_S)
    output = stdout.read_text()
    assert code == 3, (output, stderr.read_text())
    assert "15 of 30 episodes ended with an error (gated 15/30)" in output
    first = read_trajectories(run)
    assert sum(t.stop == "error" for t in first) == 15
    assert all(t.stop in ("done", "max_rounds") for t in first if t.task_id < 15)
    results = json.loads((run / "results.json").read_text())
    assert results["envs"]["gated"]["errors"] == 15
    # the same command (options in the CLI's order), however it was started
    assert sorted(retry_command(output)[1:]) == sorted(cmd[1:])

    good_before = (run / "trajectories.jsonl").read_bytes()
    gate.touch()
    with serve(port, "gated", gate=gate, log=tmp_path / "serve2.log"):
        again = subprocess.run(
            retry_command(output), capture_output=True, text=True, cwd=tmp_path, timeout=HANG_GUARD_S
        )
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert "ended with an error" not in again.stdout
    after = read_trajectories(run)
    assert len(after) == 30 and not [t for t in after if t.stop == "error"]
    # only the 15 errored episodes were played again, appended after the old lines
    assert (run / "trajectories.jsonl").read_bytes().startswith(good_before)
    assert lines(run / "trajectories.jsonl") == 30 + 15
    kept = {t.key: t for t in first if t.stop != "error"}
    assert all(t.dump() == kept[t.key].dump() for t in after if t.key in kept)
    assert json.loads((run / "results.json").read_text())["envs"]["gated"]["errors"] == 0


@pytest.mark.slow  # ~5-10 s (a CLI run waiting for capacity): out of `make test-fast`
def test_concurrency_16_against_capacity_2_waits_instead_of_erroring(tmp_path):
    port = free_port()
    with serve(port, "maze", "--capacity", "2", log=tmp_path / "serve.log"):
        res = subprocess.run(
            [str(AGENTGYM), "eval", "--envs", "maze", "--agent", "random"]
            + ["--server", f"http://127.0.0.1:{port}", "--limit", "10", "--samples", "3"]
            + ["--concurrency", "16", "--out", str(tmp_path / "run"), "--no-progress"],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S * 2,
        )
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "maze 0/2" in res.stdout  # the preflight saw the server and its capacity
    trajs = read_trajectories(tmp_path / "run")
    assert len(trajs) == 30 and all(t.stop in ("done", "max_rounds") for t in trajs)
    assert json.loads((tmp_path / "run" / "results.json").read_text())["envs"]["maze"]["errors"] == 0


runner = CliRunner()


def invoke(*args: object):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_a_dead_env_server_fails_before_any_episode(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "run.out"
    with open(out, "wb") as fh:
        code = subprocess.run(
            [str(AGENTGYM), "eval", "--envs", "maze", "--agent", "random", "--server", dead]
            + ["--out", str(tmp_path / "run"), "--no-progress"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=HANG_GUARD_S,
        ).returncode
    text = out.read_text()
    assert code == 2, text
    assert f"cannot reach the env server at {dead} (connection refused)" in text
    assert "agentgym serve" in text
    assert not (tmp_path / "run" / "trajectories.jsonl").exists()
    res = invoke("collect", "--envs", "maze", "--server", dead, "--out", tmp_path / "c.json", "--no-progress")
    assert res.exit_code == 2 and dead in res.output and "connection refused" in res.output


def test_an_env_the_server_does_not_host_fails_before_any_episode(tmp_path):
    port = free_port()
    with serve(port, "maze", log=tmp_path / "serve.log"):
        res = invoke(
            "eval", "--envs", "maze,wordle", "--agent", "random", "--server", f"http://127.0.0.1:{port}",
            "--out", tmp_path / "run", "--no-progress",
        )  # fmt: skip
    assert res.exit_code == 2
    assert "unknown env(s) wordle: not hosted by" in res.output and "agentgym serve wordle" in res.output
    assert not (tmp_path / "run" / "trajectories.jsonl").exists()


def test_expert_agent_against_a_server_without_expert_routes_fails_first(tmp_path):
    port = free_port()
    with serve(port, "maze", log=tmp_path / "serve.log"):
        res = invoke(
            "eval", "--envs", "maze", "--agent", "expert", "--server", f"http://127.0.0.1:{port}",
            "--limit", "1", "--out", tmp_path / "run", "--no-progress",
        )  # fmt: skip
    if res.exit_code == 0:
        pytest.skip("this server still serves the expert route by default (no `serve --expert` yet)")
    assert res.exit_code == 2, res.output
    assert "--agent expert" in res.output and "agentgym serve --expert" in res.output
    assert not (tmp_path / "run" / "trajectories.jsonl").exists()


def test_openai_agent_with_a_dead_base_url_fails_the_preflight(tmp_path):
    base = f"http://127.0.0.1:{free_port()}/v1"
    res = invoke(
        "eval", "--envs", "maze", "--agent", "openai", "--model", "m", "--base-url", base,
        "--out", tmp_path / "run", "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 2
    assert f"model endpoint: {base} (from --base-url)" in res.output
    assert f"cannot reach the model endpoint {base}: connection refused" in res.output
    assert not (tmp_path / "run").exists()


def test_openai_agent_needs_a_base_url(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    args = ["eval", "--envs", "maze", "--agent", "openai", "--model", "m", "--out", tmp_path / "run"]
    res = invoke(*args, "--no-progress")
    assert res.exit_code == 2 and "--agent openai needs --base-url" in res.output
    assert "OPENAI_BASE_URL" in res.output
    base = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", base)
    res = invoke(*args, "--no-progress")
    assert res.exit_code == 2 and f"model endpoint: {base} (from OPENAI_BASE_URL)" in res.output


def test_in_process_errors_give_exit_3_for_eval_and_collect(tmp_path, dummy_envs):
    """'crashy' cannot draw random actions, so every random episode errors (no server involved)."""
    res = invoke("eval", "--envs", "crashy", "--agent", "random", "--limit", "2", "--out", tmp_path / "run",
                 "--no-progress")  # fmt: skip
    assert res.exit_code == 3
    assert "2 of 2 episodes ended with an error (crashy 2/2)" in res.output
    out = tmp_path / "run"
    assert f"agentgym eval --envs crashy --agent random --out {out} --limit 2 --no-progress" in res.output
    res = invoke("collect", "--envs", "crashy", "--agent", "random", "--limit", "2",
                 "--out", tmp_path / "c.json", "--no-progress")  # fmt: skip
    assert res.exit_code == 3 and "crashy 2/2" in res.output and "add --run-dir" in res.output
