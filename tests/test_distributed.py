"""The multi-process training path on this CPU: DDP over gloo with 2 processes.

GPUs are not available here, so the accelerate/DeepSpeed YAML files are checked by accelerate's
own config loader, and the distributed code path of `agentgym train bc` (one Trainer per process,
gradients all-reduced, only the main process writes the folder) runs for real under torchrun.

What the second test observes, and how: torchrun starts `PROBE` (below) on each rank, which runs
the real ``agentgym train bc`` command after attaching a probe to its Trainer - a transformers
`TrainerCallback` plus a `compute_loss` that first records a digest of the batch (the Trainer
class comes from `agentgym.train.sft._trainer_class`, which the probe wraps; nothing is replaced).
Only because the test asks (``$AGENTGYM_TEST_DDP_DUMP``) each rank writes, to its own file in a
separate folder: the digest of each batch it trained on, of the gradients just before each
optimizer step, and of its parameters at the end. The ranks also run with different umasks (rank
0: 022, rank 1: 027), so a file's mode tells which rank created it: 0640 would be rank 1's.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
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


PROBE = textwrap.dedent(
    """
    import hashlib, json, os, sys
    from pathlib import Path

    rank = int(os.environ["RANK"])
    os.umask(0o022 if rank == 0 else 0o027)  # a file's mode says which rank created it

    from transformers import TrainerCallback

    import agentgym.train.sft as sft


    def digest(tensors):
        h = hashlib.sha256()
        for t in tensors:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


    class Probe(TrainerCallback):
        def __init__(self):
            self.batches, self.grads = [], []

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            # after backward (DDP's all-reduce) and clipping, before the update
            self.grads.append(digest(p.grad for p in model.parameters()))

        def on_train_end(self, args, state, control, model=None, **kwargs):
            dump = os.environ.get("AGENTGYM_TEST_DDP_DUMP")
            if dump:  # only when the test asks, into its own folder
                record = {
                    "rank": rank,
                    "world_size": args.world_size,
                    "batches": self.batches,
                    "grads": self.grads,
                    "params": digest(model.parameters()),
                }
                Path(dump, f"rank{rank}.json").write_text(json.dumps(record))


    probe = Probe()
    original = sft._trainer_class


    def probed_trainer_class():
        base = original()

        class Probed(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.add_callback(probe)

            def compute_loss(self, model, inputs, *args, **kwargs):
                if model.training:
                    probe.batches.append(digest([inputs["input_ids"]]))
                return super().compute_loss(model, inputs, *args, **kwargs)

        return Probed


    sft._trainer_class = probed_trainer_class
    from agentgym.cli import app

    app(sys.argv[1:], prog_name="agentgym")
    """
)


def param_digest(model) -> str:  # a transformers model
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.slow
def test_bc_under_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

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
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    dump = tmp_path / "dump"
    dump.mkdir()
    out = tmp_path / "ddp"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": "1",
        "AGENTGYM_TEST_DDP_DUMP": str(dump),
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(probe), "train", "bc", "--data", str(data), "--model", str(base),
        "--out", str(out), "--max-steps", "3", "--lr", "1e-3", "--batch-size", "2",
    ]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "bc_meta.json").read_text())
    assert meta["steps"] == 3 and meta["world_size"] == 2
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()

    ranks = [json.loads((dump / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(p.name for p in dump.iterdir()) == ["rank0.json", "rank1.json"]
    r0, r1 = ranks
    assert r0["world_size"] == r1["world_size"] == 2
    # each rank trained on its own shard of the data: different batches at every step ...
    assert len(r0["batches"]) == len(r1["batches"]) == 3
    assert all(a != b for a, b in zip(r0["batches"], r1["batches"], strict=True))
    # ... yet the gradients each applied were the same (all-reduced) at every step, so the ranks
    # ended with identical parameters, which moved away from the base model
    assert len(r0["grads"]) == len(r1["grads"]) == 3 and r0["grads"] == r1["grads"]
    assert len(set(r0["grads"])) == 3
    assert r0["params"] == r1["params"]
    assert r0["params"] != param_digest(AutoModelForCausalLM.from_pretrained(base))
    # the folder holds exactly what rank 0 trained
    assert param_digest(AutoModelForCausalLM.from_pretrained(out)) == r0["params"]

    # only the main process wrote the folder: no file has rank 1's mode (its umask 027 gives 0640)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"config.json", "model.safetensors", "bc_meta.json", "tokenizer.json"} <= {p.name for p in files}
    modes = {str(p.relative_to(out)): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert not [f for f, m in modes.items() if m == 0o640], modes
    assert all(m & 0o004 or m == 0o600 for m in modes.values()), (
        modes
    )  # rank 0's 0644 (or a temp file's 0600)
    assert not (out / "_trainer").exists()
