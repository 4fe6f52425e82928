"""AgentEvol end to end on a minute-sized config, stage markers, and resume after SIGKILL."""

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

from agentgym.core.types import Trajectory
from agentgym.data.trajfile import keep_successes
from agentgym.train.config import EnvPlan, EvolConfig
from agentgym.train.evol import plan_items, run_evol


def small_config(run_dir: Path) -> dict:
    """Tiny model, a handful of maze tasks, 5-round episodes: the whole loop in well under a minute."""
    return {
        "run_dir": str(run_dir),
        "envs": [
            {
                "env": "maze",
                "bc_items": 4,
                "explore_items": 4,
                "eval_ids": [0, 1],
                "extra_eval_ids": [4990],
                "env_kwargs": {"max_rounds": 5},
                "explore_max_rounds": 3,
            }
        ],
        "iterations": 1,
        "samples": 2,
        "temperature": 1.0,
        "max_new_tokens": 16,
        "concurrency": 16,
        "tiny": {
            "layers": 1,
            "hidden": 32,
            "heads": 2,
            "kv_heads": 1,
            "vocab_size": 300,
            "max_positions": 1024,
        },
        "train": {"lr": 1e-3, "epochs": 1, "batch_size": 4, "max_length": 1024, "logging_steps": 1},
    }


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def test_plan_items_are_disjoint_from_heldout():
    items = plan_items(EnvPlan(env="maze", bc_items=5, explore_items=10, extra_eval_ids=[4900]))
    assert items.bc == list(range(100, 105)) and items.explore == list(range(105, 115))
    assert items.test == list(range(25)) and items.extra == [4900]
    with pytest.raises(ValueError, match="overlap"):
        plan_items(EnvPlan(env="maze", bc_items=5, explore_items=10, extra_eval_ids=[107]))


def test_keep_successes_thresholds_and_one_per_item():
    def traj(item: int, sample: int, reward: float, stop: str = "done") -> Trajectory:
        return Trajectory(
            item_id=f"maze_{item}",
            env="maze",
            task_id=item,
            sample=sample,
            reward=reward,
            success=reward >= 1,
            stop=stop,
        )

    trajs = [traj(1, 0, 1.0), traj(1, 1, 1.0), traj(2, 0, 0.0), traj(3, 0, 1.0, "error"), traj(4, 1, 1.0)]
    kept = keep_successes(trajs, per_item=1, by="reward")  # AgentEvol's filter (env threshold 1.0)
    assert [(t.item_id, t.sample) for t in kept] == [("maze_1", 0), ("maze_4", 1)]
    assert len(keep_successes(trajs, per_item=2, by="reward")) == 3
    assert len(keep_successes(trajs, 0.0, per_item=None, by="reward")) == 4  # min_reward 0: all but the error


@pytest.mark.slow  # ~4 s idle, > 10 s under load (a whole evol run): out of `make test-fast`
def test_evol_end_to_end(tmp_path):
    cfg = EvolConfig.model_validate(small_config(tmp_path / "run"))
    res = run_evol(cfg, log=lambda _m: None)
    run = res.run_dir
    stages = sorted(p.stem for p in (run / "stages").glob("*.json"))
    assert stages == sorted(
        ["collect_bc", "base", "eval_random", "train_0", "eval_0", "explore_1", "train_1", "eval_1"]
    )
    d0 = jsonl(run / "data" / "D0.jsonl")
    assert len(d0) == 2 and all(  # tasks 101 and 102 need 6 and 9 moves > 5 rounds
        r["success"] and r["agent"]["name"] == "expert" for r in d0
    )
    explored = jsonl(run / "iter1" / "explore" / "trajectories.jsonl")
    assert len(explored) == 4 * 2  # K = 2 samples per exploration item
    assert all(r["rounds"] <= 3 for r in explored)  # explore_max_rounds applies to exploration only
    assert any(r["rounds"] > 3 for r in jsonl(run / "random" / "trajectories.jsonl"))
    d1 = jsonl(run / "data" / "D1.jsonl")
    kept = [r for r in d1[: len(d1) - len(d0)]]
    assert d1[len(kept) :] == d0  # D_1 = kept U D_0
    assert all(r["success"] and r["split"] == "train" for r in kept)
    assert len({r["item_id"] for r in kept}) == len(kept)  # one per item
    lineage = json.loads((run / "lineage.json").read_text())
    it0, it1 = lineage["iterations"]
    assert it0["init"] == it1["init"] == lineage["base_model"]  # re-trained from the base model
    assert it1["explored_with"] == it0["checkpoint"] and it1["data"].endswith("D1.jsonl")
    assert it1["records"] == len(d1)
    for it in (it0, it1):
        ev = it["eval"]["maze"]
        assert ev["episodes"] == 3 and ev["test_episodes"] == 2 and 0 <= ev["success_rate"] <= 1
        assert (Path(it["checkpoint"]) / "config.json").exists()
    assert lineage["random"]["maze"]["episodes"] == 3
    assert res.plot is not None and res.plot.stat().st_size > 1000
    assert "BC" in res.summary and "evol 1" in res.summary and "random" in res.summary
    assert res.success("maze", 1) == it1["eval"]["maze"]["success_rate"]
    # the paired comparison with BC is over the same 3 held-out items and agrees with the rates
    vs = it1["vs_bc"]["maze"]
    assert vs["items"] == 3 and vs["ci"][0] <= vs["delta"] <= vs["ci"][1]
    assert vs["delta"] == pytest.approx(
        100 * (it1["eval"]["maze"]["success_rate"] - it0["eval"]["maze"]["success_rate"])
    )
    assert "vs BC (paired)" in res.summary and "vs_bc" not in it0
    assert "control" not in it1  # off unless asked for
    # the same run folder with a different experiment is refused
    other = small_config(run)
    other["temperature"] = 0.5
    with pytest.raises(ValueError, match="different config"):
        run_evol(other, log=lambda _m: None)
    # ... but switching the control on later only adds its stages
    later = {**small_config(run), "control": True}
    res2 = run_evol(later, log=lambda _m: None)
    assert res2.lineage["iterations"][1]["eval"] == it1["eval"] and "control" in res2.lineage["iterations"][1]


@pytest.mark.slow  # ~3 s idle, > 10 s under load (a whole evol run): out of `make test-fast`
def test_same_compute_control(tmp_path):
    """``control: true``: per iteration, the same training on D_0 alone, evaluated and compared."""
    cfg = {**small_config(tmp_path / "run"), "control": True}
    res = run_evol(cfg, log=lambda _m: None)
    run = res.run_dir
    it0, it1 = res.lineage["iterations"]
    ctl = it1["control"]
    assert ctl["data"].endswith("D0.jsonl") and ctl["records"] == it0["records"]
    assert ctl["init"] == it1["init"] == lineage_base(res)  # retrain_from: base
    assert (Path(ctl["checkpoint"]) / "config.json").exists() and Path(ctl["checkpoint"]).name == "control"
    assert ctl["eval"]["maze"]["episodes"] == 3
    assert len(jsonl(run / "iter1" / "control_eval" / "trajectories.jsonl")) == 3
    assert ctl["train"]["steps"] == it1["train"]["steps"]  # same compute as the evol model
    vs = it1["vs_control"]["maze"]
    delta = it1["eval"]["maze"]["success_rate"] - ctl["eval"]["maze"]["success_rate"]
    assert vs["items"] == 3 and vs["delta"] == pytest.approx(100 * delta)
    assert "control 1" in res.summary and "vs control 1" in res.summary
    assert {"control_train_1", "control_eval_1"} <= {p.stem for p in (run / "stages").glob("*.json")}


def lineage_base(res) -> str:
    return res.lineage["base_model"]


@pytest.mark.slow  # ~8-15 s (an evol run killed and resumed): out of `make test-fast`
def test_resume_after_sigkill(tmp_path):
    run = tmp_path / "run"
    cfg_path = tmp_path / "evol.yaml"
    cfg_path.write_text(yaml.safe_dump(small_config(run)))
    code = f"from agentgym.train.evol import run_evol; run_evol({str(cfg_path)!r}, log=print)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = run / "stages" / "train_0.json"
    try:
        deadline = time.time() + 300
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the first run never finished BC training"
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = {p.stem: json.loads(p.read_text()) for p in (run / "stages").glob("*.json")}
    assert {"collect_bc", "base", "train_0"} <= set(before) and "eval_1" not in before
    logs: list[str] = []
    res = run_evol(str(cfg_path), log=logs.append)
    after = {p.stem: json.loads(p.read_text()) for p in (run / "stages").glob("*.json")}
    assert set(after) == {
        "collect_bc",
        "base",
        "eval_random",
        "train_0",
        "eval_0",
        "explore_1",
        "train_1",
        "eval_1",
    }
    for name, marker_data in before.items():  # finished stages were not redone
        assert after[name] == marker_data
        assert any(f"stage {name}: done earlier" in m for m in logs)
    assert all(after[n]["pid"] == os.getpid() for n in set(after) - set(before))
    assert len(res.lineage["iterations"]) == 2


def test_vllm_backend_is_selectable_and_says_how_to_install(tmp_path):
    """``backend: vllm`` routes exploration/eval to VLLMAgent; without vLLM the error says what to do."""
    pytest.importorskip("transformers")
    from agentgym.train.config import EvolConfig
    from agentgym.train.evol import _model_agent

    cfg = EvolConfig.model_validate({**small_config(tmp_path), "backend": "vllm"})
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"agentgym\[vllm\]"):
            _model_agent(tmp_path, 1.0, cfg, seed=0)
    else:  # pragma: no cover - GPU machines
        pytest.skip("vLLM is installed here; the selection is exercised by a real run")
    with pytest.raises(ValueError):
        EvolConfig.model_validate({**small_config(tmp_path), "backend": "sglang"})


def test_cli_flags_override_the_config_and_bad_settings_are_clear(tmp_path):
    import typer
    from typer.testing import CliRunner

    from agentgym.train.cli import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    cfg_path = tmp_path / "evol.yaml"
    cfg_path.write_text(yaml.safe_dump(small_config(tmp_path / "unused")))
    run = tmp_path / "run"
    args = ["evol", "--config", str(cfg_path), "--run-dir", str(run), "--iterations", "0"]
    res = runner.invoke(app, [*args, "--temperature", "0.5", "--epochs", "1", "--bc-items", "3"])
    assert res.exit_code == 0, res.output
    saved = json.loads((run / "config.json").read_text())
    assert saved["temperature"] == 0.5 and saved["iterations"] == 0
    assert saved["envs"][0]["bc_items"] == 3 and saved["train"]["epochs"] == 1
    assert saved["train"]["lr"] == 1e-3  # the config's other training settings are kept
    assert (run / "iter0" / "eval" / "results.json").exists()
    res = runner.invoke(app, ["evol", "--envs", "maze"])
    assert res.exit_code == 2 and "--run-dir" in res.output
    res = runner.invoke(app, [*args, "--retrain-from", "middle"])
    assert res.exit_code == 2 and "invalid AgentEvol settings" in res.output
