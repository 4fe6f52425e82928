"""README claims about `agentgym evol`, checked through the real command (subprocesses):

* "a killed run resumes in the stage it was in": SIGKILL half-way through an exploration stage,
  then the same command reuses the episodes that had finished (their lines stay, only the missing
  ones are played) and completes the run with a lineage;
* "`iterations` can be raised ... for a finished run": only the new iteration's stages run;
* ``retrain_from: last``: each iteration continues from the previous checkpoint;
* ``--bc-data``: D_0 is the given AgentTraj file (no expert rollouts).

Minute-sized settings as in tests/test_evol.py (tiny model, a few maze tasks, short episodes).
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
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

AGENTGYM = Path(sys.executable).with_name("agentgym")  # the console script of this venv
HANG_GUARD_S = 900.0  # generous: only there so a broken build fails instead of hanging
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny matmuls on a shared 2-core machine

pytestmark = pytest.mark.slow

EXPLORE_ITEMS, SAMPLES = 16, 2


def tiny_config(run_dir: Path, **top) -> dict:
    return {
        "run_dir": str(run_dir),
        "envs": [
            {
                "env": "maze",
                "bc_items": 4,
                "explore_items": EXPLORE_ITEMS,
                "eval_ids": [0, 1],
                "extra_eval_ids": [4990],
                "env_kwargs": {"max_rounds": 5},
                "explore_max_rounds": 3,
            }
        ],
        "iterations": 1,
        "samples": SAMPLES,
        "temperature": 1.0,
        "max_new_tokens": 16,
        "concurrency": 2,  # episodes in flight: a stage ends long after its first episodes are on disk
        "random_baseline": False,
        "tiny": {
            "layers": 1,
            "hidden": 32,
            "heads": 2,
            "kv_heads": 1,
            "vocab_size": 300,
            "max_positions": 1024,
        },
        "train": {"lr": 1e-3, "epochs": 1, "batch_size": 4, "max_length": 1024, "logging_steps": 1},
        **top,
    }


def complete_lines(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1].splitlines(keepends=True)


def markers(run: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run / "stages").glob("*.json")}


def evol(*args: str | Path, log: Path) -> subprocess.CompletedProcess:
    with open(log, "wb") as fh:
        return subprocess.run(
            [str(AGENTGYM), "evol", *map(str, args), "--progress-every", "0"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=ENV,
            timeout=HANG_GUARD_S,
        )


def key(line: bytes) -> str:
    r = json.loads(line)
    return f"{r['item_id']}#{r['sample']}"


def test_evol_killed_during_exploration_reuses_its_finished_episodes(tmp_path):
    run = tmp_path / "run"
    cfg = tmp_path / "evol.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(run)))
    explore = run / "iter1" / "explore" / "trajectories.jsonl"
    n_explore = EXPLORE_ITEMS * SAMPLES
    cmd = [str(AGENTGYM), "evol", "--config", str(cfg), "--progress-every", "0"]
    with open(tmp_path / "first.log", "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while len(complete_lines(explore)) < 4 and proc.poll() is None:
            assert time.monotonic() < deadline, "hang guard: exploration never started"
            time.sleep(0.005)
        assert proc.poll() is None, f"evol ended before the kill: {(tmp_path / 'first.log').read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before_lines = complete_lines(explore)
    before = markers(run)
    assert "explore_1" not in before and {"collect_bc", "base", "train_0", "eval_0"} <= set(before)
    assert 4 <= len(before_lines) < n_explore, len(before_lines)  # killed half-way through the stage

    log = tmp_path / "second.log"
    res = evol("--config", cfg, log=log)
    output = log.read_text()
    assert res.returncode == 0, output[-3000:]
    after = markers(run)
    for name, marker in before.items():  # the stages finished before the kill were not redone
        assert after[name] == marker, name
        assert f"stage {name}: done earlier" in output
    final = explore.read_bytes()
    assert final.startswith(b"".join(before_lines))  # finished episodes kept byte for byte ...
    lines = final.splitlines(keepends=True)
    keys = [key(line) for line in lines]
    assert len(keys) == len(set(keys)) == n_explore  # ... not played again: each episode once
    assert len(lines) - len(before_lines) == n_explore - len(before_lines)  # only the missing ones ran
    assert {key(line) for line in before_lines}.isdisjoint(key(line) for line in lines[len(before_lines) :])
    ex = after["explore_1"]["result"]
    assert ex["episodes"] == n_explore
    assert after["explore_1"]["pid"] == after["eval_1"]["pid"] != before["train_0"]["pid"]
    # the run completed, with a lineage that names the data and checkpoints
    lineage = json.loads((run / "lineage.json").read_text())
    it0, it1 = lineage["iterations"]
    assert it1["explored_with"] == it0["checkpoint"] and it1["records"] == ex["records"]
    assert it1["data"].endswith("D1.jsonl") and it1["eval"]["maze"]["episodes"] == 3
    assert (Path(it1["checkpoint"]) / "config.json").exists() and (run / "summary.md").exists()
    d1 = [json.loads(x) for x in (run / "data" / "D1.jsonl").read_text().splitlines()]
    assert len(d1) == ex["records"] == ex["kept"] + it0["records"]


def test_bc_data_retrain_from_last_and_raising_iterations(tmp_path):
    # D_0 from a file in the original AgentTraj format, written by `agentgym collect`
    data = tmp_path / "maze_train.json"
    res = subprocess.run(
        [str(AGENTGYM), "collect", "--envs", "maze", "--split", "train", "--limit", "6",
         "--out", str(data), "--original-ids", "--no-progress"],
        capture_output=True, text=True, env=ENV, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    given = json.loads(data.read_text())
    assert len(given) == 6 and all(r["item_id"].startswith("lmrlgym_maze_") for r in given)

    run = tmp_path / "run"
    cfg = tmp_path / "evol.yaml"
    conf = tiny_config(run)
    conf["envs"][0]["explore_items"] = 4
    cfg.write_text(yaml.safe_dump(conf))
    flags = ["--config", cfg, "--bc-data", data, "--retrain-from", "last"]
    res = evol(*flags, log=tmp_path / "first.log")
    assert res.returncode == 0, (tmp_path / "first.log").read_text()[-3000:]
    first = markers(run)
    assert set(first) == {"collect_bc", "base", "train_0", "eval_0", "explore_1", "train_1", "eval_1"}
    assert not (run / "expert").exists()  # no expert rollouts: D_0 is the given file
    collect = first["collect_bc"]["result"]
    assert collect["source"] == [str(data)] and collect["records"] == 6
    d0 = [json.loads(x) for x in (run / "data" / "D0.jsonl").read_text().splitlines()]
    assert [(r["item_id"], r["conversations"]) for r in d0] == [
        (r["item_id"], r["conversations"]) for r in given
    ]
    saved = json.loads((run / "config.json").read_text())
    assert saved["retrain_from"] == "last" and saved["bc_data"] == [str(data)]
    lineage = json.loads((run / "lineage.json").read_text())
    assert lineage["retrain_from"] == "last"
    it0, it1 = lineage["iterations"]
    assert it0["init"] == lineage["base_model"] and it0["records"] == 6
    assert it1["init"] == it0["checkpoint"]  # continued from the BC model, not the base
    meta1 = json.loads((Path(it1["checkpoint"]) / "bc_meta.json").read_text())
    assert meta1["model"] == it0["checkpoint"]

    # a finished run with `iterations` raised: only iteration 2's stages run
    res = evol(*flags, "--iterations", "2", log=tmp_path / "second.log")
    output = (tmp_path / "second.log").read_text()
    assert res.returncode == 0, output[-3000:]
    second = markers(run)
    assert set(second) - set(first) == {"explore_2", "train_2", "eval_2"}
    for name, marker in first.items():
        assert second[name] == marker, name  # untouched: same pid, time and result
        assert f"stage {name}: done earlier" in output
    assert len({second[n]["pid"] for n in ("explore_2", "train_2", "eval_2")}) == 1
    assert second["explore_2"]["pid"] != first["eval_1"]["pid"]
    lineage2 = json.loads((run / "lineage.json").read_text())
    assert lineage2["iterations"][:2] == [it0, it1]  # the finished iterations' entries unchanged
    it2 = lineage2["iterations"][2]
    assert it2["explored_with"] == it1["checkpoint"] and it2["init"] == it1["checkpoint"]
    assert it2["data"].endswith("D2.jsonl") and it2["records"] == it1["records"] + it2["kept"]
    assert json.loads((Path(it2["checkpoint"]) / "bc_meta.json").read_text())["model"] == it1["checkpoint"]
    assert len(complete_lines(run / "iter2" / "explore" / "trajectories.jsonl")) == 4 * SAMPLES
    assert json.loads((run / "config.json").read_text())["iterations"] == 2
