"""README claim: "Killing a run and re-running the same command finishes it without losing or
repeating an episode" - for the real `agentgym eval` command, killed with SIGKILL.

The command runs as a subprocess (stdout to a file, as in a batch job); the test polls the run's
trajectories.jsonl and kills the process once episodes are on disk (a point it observes, not a
point in time), then runs the same command again. The random agent is seeded per (item, sample,
round), so an uninterrupted run of the same command is the reference for the resumed one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentgym.rollout.store import read_trajectories

AGENTGYM = Path(sys.executable).with_name("agentgym")  # the console script of this venv
HANG_GUARD_S = 300.0  # generous: only there so a broken build fails instead of hanging
SAMPLES = 80  # 25 maze test items x 80 samples = 2,000 episodes: seconds, so the kill lands mid-run
EPISODES = 25 * SAMPLES
KILL_AFTER = 100  # episodes on disk before the kill


def eval_cmd(out: Path) -> list[str]:
    return [
        str(AGENTGYM), "eval", "--envs", "maze", "--agent", "random", "--samples", str(SAMPLES),
        "--out", str(out), "--progress-every", "0",
    ]  # fmt: skip


def complete_lines(path: Path) -> list[bytes]:
    """The newline-terminated lines of ``path`` (a kill may leave half a line after them)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1].splitlines(keepends=True)


def run(cmd: list[str], log: Path) -> subprocess.CompletedProcess:
    with open(log, "wb") as fh:
        return subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=HANG_GUARD_S)


def comparable(record: dict) -> dict:
    """A trajectory without what legitimately differs between two runs (wall-clock timings)."""
    return {k: v for k, v in record.items() if k != "timing"}


@pytest.mark.slow  # ~8-15 s (two CLI runs): out of `make test-fast`
def test_sigkill_of_agentgym_eval_then_the_same_command_finishes_the_run(tmp_path):
    out = tmp_path / "run"
    traj = out / "trajectories.jsonl"
    with open(tmp_path / "first.out", "wb") as fh:
        proc = subprocess.Popen(eval_cmd(out), stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while len(complete_lines(traj)) < KILL_AFTER and proc.poll() is None:
            assert time.monotonic() < deadline, "hang guard: no episodes written"
            time.sleep(0.005)
        assert proc.poll() is None, f"the eval ended before the kill: {(tmp_path / 'first.out').read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = complete_lines(traj)  # the episodes that had finished when the process died
    assert KILL_AFTER <= len(before) < EPISODES, len(before)
    assert not (out / "results.json").exists()  # really killed mid-run, before the summary

    res = run(eval_cmd(out), tmp_path / "second.out")
    output = (tmp_path / "second.out").read_text()
    assert res.returncode == 0, output
    final = traj.read_bytes()
    # the finished episodes are kept byte for byte, the rest appended after them
    assert final.startswith(b"".join(before))
    lines = final.splitlines()
    records = [json.loads(line) for line in lines]
    keys = [f"{r['item_id']}#{r['sample']}" for r in records]
    assert len(keys) == len(set(keys)) == EPISODES  # every item exactly once, no line repeated
    assert set(keys) == {f"maze_{t}#{s}" for t in range(25) for s in range(SAMPLES)}
    assert all(r["stop"] in ("done", "max_rounds") for r in records)

    # results.json describes exactly the file
    trajs = read_trajectories(out)
    m = json.loads((out / "results.json").read_text())["envs"]["maze"]
    assert (m["episodes"], m["items"], m["errors"]) == (EPISODES, 25, 0)
    assert m["successes"] == sum(t.success for t in trajs)
    assert m["success_rate"] == m["successes"] / EPISODES
    assert m["stops"] == {stop: sum(t.stop == stop for t in trajs) for stop in {t.stop for t in trajs}}
    assert m["mean_rounds"] == pytest.approx(sum(t.rounds for t in trajs) / EPISODES)

    # nothing was lost or changed by the kill: an uninterrupted run gives the same episodes
    ref_out = tmp_path / "reference"
    assert run(eval_cmd(ref_out), tmp_path / "reference.out").returncode == 0
    reference = {
        f"{r['item_id']}#{r['sample']}": comparable(r)
        for r in map(json.loads, (ref_out / "trajectories.jsonl").read_bytes().splitlines())
    }
    assert {k: comparable(r) for k, r in zip(keys, records, strict=True)} == reference
    ref_m = json.loads((ref_out / "results.json").read_text())["envs"]["maze"]
    assert (ref_m["successes"], ref_m["stops"]) == (m["successes"], m["stops"])
