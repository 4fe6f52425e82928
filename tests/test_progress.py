"""Rollout progress (`agentgym.rollout.progress`): plain lines in logs, a rich bar on a terminal.

The point of the plain mode is what a user sees in ``nohup.out`` or a Slurm log, so the main test
runs ``agentgym eval`` as a real subprocess with stdout redirected to a file. ``--progress-every 0``
makes a line per finished episode, so every assertion is about content, never about timing.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentgym.agents.expert import ExpertAgent
from agentgym.cli import app
from agentgym.core.types import Trajectory
from agentgym.rollout.progress import ProgressOptions, RolloutProgress, format_duration
from agentgym.rollout.runner import EpisodeItem

SRC = str(Path(__file__).resolve().parents[1] / "src")
LINE = re.compile(
    r"^\[eval expert\] (\d+)/3 episodes \([\d.]+%\) \| success [\d.]+% \| [\d.]+ episodes/s \| elapsed \S+"
)


def run_eval(out: Path, log: Path, *extra: str) -> str:
    """``agentgym eval`` in a subprocess, stdout to a file (not a TTY), as under nohup/Slurm."""
    cmd = [sys.executable, "-m", "agentgym.cli", "eval", "--envs", "maze", "--limit", "3"]
    cmd += ["--agent", "expert", "--out", str(out), "--concurrency", "1", *extra]
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "80"}
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return log.read_text()


def test_eval_prints_progress_lines_when_stdout_is_a_file(tmp_path: Path) -> None:
    text = run_eval(tmp_path / "run", tmp_path / "eval.log", "--progress-every", "0")
    lines = text.splitlines()
    assert "[eval expert] 3 episodes to play" in lines
    progress = [m for m in map(LINE.match, lines) if m]
    assert [int(m.group(1)) for m in progress] == [1, 2, 3]  # one line per episode with every=0
    assert "| ETA " in progress[0].string and "ETA" not in progress[2].string  # none once all are done
    final = [line for line in lines if line.startswith("[eval expert] finished:")]
    assert len(final) == 1 and "3/3 episodes (100.0%) | success 100.0%" in final[0]
    assert "\x1b[" not in text and "\r" not in text  # no terminal control codes in a log

    # a resumed run says what was already done and finishes at once
    again = run_eval(tmp_path / "run", tmp_path / "again.log", "--progress-every", "0").splitlines()
    assert "[eval expert] 0 episodes to play (3 already done in the run folder)" in again
    assert any(line.startswith("[eval expert] finished: 3/3 episodes") for line in again)


def test_eval_default_interval_still_reports_start_and_end(tmp_path: Path) -> None:
    text = run_eval(tmp_path / "run", tmp_path / "eval.log")  # --progress-every 30 (default)
    assert "[eval expert] 3 episodes to play" in text
    assert "[eval expert] finished: 3/3 episodes (100.0%) | success 100.0%" in text


def test_no_progress_prints_no_progress_lines(tmp_path: Path) -> None:
    text = run_eval(tmp_path / "run", tmp_path / "eval.log", "--no-progress")
    assert "[eval expert]" not in text


def test_collect_reports_progress_the_same_way(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "collect",
            "--envs",
            "maze",
            "--limit",
            "2",
            "--out",
            str(tmp_path / "t.json"),
            "--progress-every",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "[collect train] 2 episodes to play" in res.output
    assert "[collect train] 2/2 episodes (100.0%) | success 100.0%" in res.output
    assert "[collect train] finished: 2/2 episodes" in res.output


def test_evol_rollout_stage_reports_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agentgym.train.evol import _rollouts

    items = [EpisodeItem("maze", t, "test") for t in range(3)]
    trajs = asyncio.run(
        _rollouts(
            items,
            ExpertAgent(),
            tmp_path / "iter1" / "explore",
            concurrency=2,
            env_kwargs={},
            progress=ProgressOptions(True, 0),
        )
    )
    assert len(trajs) == 3
    out = capsys.readouterr().out
    assert "[evol iter1/explore] 3 episodes to play" in out
    assert "[evol iter1/explore] finished: 3/3 episodes (100.0%) | success 100.0%" in out


def traj(success: bool, stop: str = "done") -> Trajectory:
    return Trajectory(item_id="maze_0", env="maze", task_id=0, success=success, stop=stop)


def test_counts_rate_and_errors_in_lines() -> None:
    stream = io.StringIO()
    with RolloutProgress("x", 4, done=1, successes=1, options=ProgressOptions(True, 0), stream=stream) as p:
        p.episode(traj(False))
        p.episode(traj(False, stop="error"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[x] 3 episodes to play (1 already done in the run folder)"
    assert lines[1].startswith("[x] 2/4 episodes (50.0%) | success 50.0% | ")
    assert lines[2].startswith("[x] 3/4 episodes (75.0%) | success 33.3% | errors 1 | ")
    assert "ETA" in lines[2]
    assert lines[3].startswith("[x] finished: 3/4 episodes (75.0%) | success 33.3% | errors 1")


def test_for_items_counts_distinct_items_and_replays_errors(tmp_path: Path) -> None:
    from agentgym.rollout.store import RunStore

    items = [EpisodeItem("maze", t) for t in (0, 1, 2)]
    with RunStore(tmp_path / "run") as store:
        store.add(Trajectory(item_id="maze_0", env="maze", task_id=0, success=True, stop="done"))
        store.add(Trajectory(item_id="maze_1", env="maze", task_id=1, stop="error", error="boom"))
        p = RolloutProgress.for_items("x", items + items[:1], store, options=ProgressOptions(False))
    assert (p.total, p.done, p.successes, p.errors) == (3, 1, 1, 0)  # the errored one is played again


def test_heartbeat_line_while_no_episode_finishes() -> None:
    """The background line comes even when nothing finishes (waits for it, asserts no duration)."""
    stream = io.StringIO()
    with RolloutProgress("slow", 5, options=ProgressOptions(True, 0.05), stream=stream):
        for _ in range(3000):  # up to ~30 s on a loaded machine; normally the first 0.05 s
            if "no episode finished yet" in stream.getvalue():
                break
            time.sleep(0.01)
    assert "[slow] 0/5 episodes (0.0%) | success - | no episode finished yet" in stream.getvalue()


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rich_bar_on_a_terminal_and_nothing_when_off() -> None:
    stream = FakeTTY()
    with RolloutProgress("bar", 2, options=ProgressOptions(True, 0), stream=stream) as p:
        assert p.mode == "rich"
        p.episode(traj(True))
        p.episode(traj(True))
    assert "2/2" in stream.getvalue() and "success 100.0%" in stream.getvalue()
    assert "[bar]" not in stream.getvalue()  # no plain lines on a terminal

    quiet = FakeTTY()
    with RolloutProgress("off", 1, options=ProgressOptions(False), stream=quiet) as p:
        assert p.mode == "off"
        p.episode(traj(True))
    assert quiet.getvalue() == ""


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.4, 59, 75.2, 3700)] == ["0s", "59s", "1m15s", "1h01m40s"]
