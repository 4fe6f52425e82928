"""The run store: durable appends, torn-line repair, locking, and resume after a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agentgym.core.types import Trajectory, Turn
from agentgym.rollout.store import TRAJECTORIES, CorruptRun, RunLocked, RunStore, read_trajectories


def traj(i: int, sample: int = 0, **kw) -> Trajectory:
    conv = [
        Turn(**{"from": "human", "value": f"task {i}"}),
        Turn(**{"from": "gpt", "value": "Ok.", "loss": False}),
    ]
    return Trajectory(item_id=f"maze_{i}", env="maze", task_id=i, sample=sample, conversations=conv, **kw)


def test_add_reopen_and_duplicates(tmp_path):
    with RunStore(tmp_path) as s:
        assert s.add(traj(1, reward=1.0, success=True))
        assert s.add(traj(1, sample=1))
        assert not s.add(traj(1))  # same item_id#sample: ignored
        assert len(s) == 2 and "maze_1#0" in s and "maze_1#1" in s and "maze_2#0" not in s
    lines = (tmp_path / TRAJECTORIES).read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["conversations"][1] == {"from": "gpt", "value": "Ok.", "loss": False}
    with RunStore(tmp_path) as s:
        assert s.get("maze_1#0").success and s.get("maze_1#0").reward == 1.0
        assert s.repaired_bytes == 0
    assert [t.key for t in read_trajectories(tmp_path)] == ["maze_1#0", "maze_1#1"]


def test_torn_last_line_is_truncated_away(tmp_path):
    with RunStore(tmp_path) as s:
        s.add(traj(1))
        s.add(traj(2))
    path = tmp_path / TRAJECTORIES
    good = path.read_bytes()
    full = json.dumps(traj(3).dump()).encode()
    path.write_bytes(good + full[: len(full) // 2])  # what a kill during write() leaves
    assert [t.key for t in read_trajectories(path)] == ["maze_1#0", "maze_2#0"]
    with RunStore(tmp_path) as s:
        assert len(s) == 2 and s.repaired_bytes == len(full) // 2
        assert path.read_bytes() == good
        s.add(traj(3))
    assert [t.key for t in read_trajectories(tmp_path)] == ["maze_1#0", "maze_2#0", "maze_3#0"]


def test_complete_line_without_newline_is_rerun(tmp_path):
    path = tmp_path / TRAJECTORIES
    path.write_bytes(json.dumps(traj(1).dump()).encode())
    with RunStore(tmp_path) as s:
        assert len(s) == 0
    assert path.read_bytes() == b""


def test_damage_before_the_last_line_is_reported(tmp_path):
    path = tmp_path / TRAJECTORIES
    path.write_text(json.dumps(traj(1).dump()) + "\n{not json\n" + json.dumps(traj(2).dump()) + "\n")
    with pytest.raises(CorruptRun, match="line 2"):
        RunStore(tmp_path)


def test_one_writer_at_a_time(tmp_path):
    with RunStore(tmp_path):
        with pytest.raises(RunLocked, match="another process"):
            RunStore(tmp_path)
    with RunStore(tmp_path) as s:  # released on close
        assert len(s) == 0


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder"):
        read_trajectories(tmp_path / "nope")


# A real eval-style run in a subprocess: runner + store over the in-process client. Given a count
# (argv[2]), the agent stops answering after that many replies, so the run stays mid-way until it
# is killed however slow the machine is. Self-contained so the child needs nothing from the tests.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import agentgym
    from agentgym.agents.base import Agent, AgentReply
    from agentgym.client.local import AsyncLocalClient
    from agentgym.core.env import Env
    from agentgym.core.types import EnvSpec, StepResult
    from agentgym.rollout.runner import EpisodeItem, run_episodes
    from agentgym.rollout.store import RunStore

    class Steps(Env):
        spec = EnvSpec(id="tiny_steps", version="1", max_rounds=5, metric="success",
                       action_format="react_first", splits={"test": list(range(40))})
        def instruction(self): return "Say go three times."
        def _reset(self, task_id): self.n = 0; return "start"
        def _step(self, action):
            self.n += 1
            return StepResult("ok", float(self.n == 3), self.n == 3, False, {})

    HANG_AFTER = int(sys.argv[2]) if len(sys.argv) > 2 else None

    class Slow(Agent):
        replies = 0

        async def reply(self, messages, ctx):
            Slow.replies += 1
            if HANG_AFTER is not None and Slow.replies > HANG_AFTER:
                await asyncio.Event().wait()  # never set: stuck mid-run until SIGKILL
            await asyncio.sleep(0.01)
            return AgentReply("Thought: go\\nAction: go")

    agentgym.register("tiny_steps", Steps)
    items = [EpisodeItem("tiny_steps", t, "test", 0, s) for t in range(40) for s in range(2)]
    with RunStore(sys.argv[1]) as store:
        trajs = asyncio.run(run_episodes(items, Slow(), AsyncLocalClient(), concurrency=4, store=store))
    print("finished", len(trajs), len(store))
    """
)


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_resume_after_sigkill(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run_dir = tmp_path / "run"
    path = run_dir / TRAJECTORIES
    # 45 replies: at most 15 episodes of 3 rounds finish, and at least 12 (at most 4 run at once,
    # an unfinished one has had at most 2 replies), so the wait for 10 below ends
    proc = subprocess.Popen(
        [sys.executable, str(script), str(run_dir), "45"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while _lines(path) < 10:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the child wrote no episodes"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(read_trajectories(path))
    assert 10 <= killed_at <= 15, killed_at  # really mid-run

    done = subprocess.run(
        [sys.executable, str(script), str(run_dir)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["finished", "80", "80"]
    trajs = read_trajectories(path)
    keys = [t.key for t in trajs]
    assert len(keys) == 80 and len(set(keys)) == 80  # every item exactly once
    assert all(t.success and t.rounds == 3 for t in trajs)


def test_error_episodes_are_superseded_by_a_retry(tmp_path):
    with RunStore(tmp_path) as s:
        s.add(traj(1, stop="error", error="ServerUnavailable: down"))
        s.add(traj(2, stop="done", success=True))
        assert not s.is_done("maze_1#0") and s.is_done("maze_2#0")
    with RunStore(tmp_path) as s:
        assert s.get("maze_1#0").stop == "error"
        assert s.add(traj(1, stop="done", success=True))  # the retry is appended
        assert not s.add(traj(1, stop="error"))  # a final episode is never replaced
    assert len((tmp_path / TRAJECTORIES).read_text().splitlines()) == 3
    trajs = read_trajectories(tmp_path)
    assert [(t.key, t.stop) for t in trajs] == [("maze_1#0", "done"), ("maze_2#0", "done")]
    with RunStore(tmp_path) as s:
        assert len(s) == 2 and s.get("maze_1#0").success


def test_group_commit_batch(tmp_path):
    with RunStore(tmp_path) as s:
        assert s.add_many([traj(1), traj(2), traj(1), traj(3, stop="error"), traj(3, stop="done")]) == [
            True,
            True,
            False,
            True,
            True,
        ]
        assert s.get("maze_3#0").stop == "done"
    assert len((tmp_path / TRAJECTORIES).read_text().splitlines()) == 4
    assert [(t.key, t.stop) for t in read_trajectories(tmp_path)] == [
        ("maze_1#0", None),
        ("maze_2#0", None),
        ("maze_3#0", "done"),
    ]
