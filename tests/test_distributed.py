"""The multi-process training path, smoke-tested on this CPU: DDP over gloo with 2 processes.

GPUs are not available here, so the accelerate/DeepSpeed YAML files are checked by accelerate's
own config loader, and the distributed code path of `agentgym train bc` (one Trainer per process,
gradients all-reduced, only the main process writes the folder) runs for real under torchrun.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_load(path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert cfg.num_machines == 1 and cfg.num_processes >= 2
    if "deepspeed" in path.name:
        stage = int(path.stem[-1])
        assert cfg.distributed_type.value == "DEEPSPEED" and cfg.deepspeed_config["zero_stage"] == stage
    else:
        assert cfg.distributed_type.value == "MULTI_GPU"


def test_bc_under_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    from agentgym.train.tiny import build_tiny_model

    records = [
        {
            "item_id": f"toy_{i}",
            "conversations": [
                {"from": "human", "value": f"Room {i}. The exit is {d}.", "loss": None},
                {"from": "gpt", "value": f"Thought: the exit is {d}.\nAction: move {d}", "loss": True},
            ],
        }
        for i, d in enumerate(["up", "down", "left", "right"] * 4)
    ]
    data = tmp_path / "d.json"
    data.write_text(json.dumps(records))
    texts = [t["value"] for r in records for t in r["conversations"]]
    base = build_tiny_model(
        texts, tmp_path / "base", layers=1, hidden=32, heads=2, kv_heads=1, vocab_size=300
    )
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "agentgym.cli", "train", "bc", "--data", str(data), "--model", str(base),
        "--out", str(out), "--max-steps", "2", "--lr", "1e-3", "--batch-size", "2",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "bc_meta.json").read_text())
    assert meta["steps"] == 2 and meta["world_size"] == 2
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
