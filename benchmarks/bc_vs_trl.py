"""BC trainer throughput: agentgym's `train_on_records` vs TRL's `SFTTrainer` on the same model and data.

Both train the same tiny Llama (built here) on the same maze expert trajectories for the same number
of epochs, batch size and learning rate, with agent-only labels (ours: `agentgym.train.masks`; TRL:
``assistant_only_loss=True`` on our ``{% generation %}`` template). Each trainer runs in its own
subprocess so peak memory (max RSS) is its own. Reported: input tokens (non-padding) per second of
``train()`` wall time, and the ratio to TRL.

    .venv/bin/python benchmarks/bc_vs_trl.py --items 64 --epochs 2 --out benchmarks/results/bc.md

Figures drift on shared machines (other processes take the cores): compare the ratio, and repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 8
LR = 1e-3
MAX_LEN = 2048


def make_data(tmp: Path, items: int) -> tuple[Path, Path]:
    """Expert maze trajectories (train split) and a tiny model whose tokenizer is trained on them."""
    from agentgym.agents.expert import ExpertAgent
    from agentgym.client.local import AsyncLocalClient
    from agentgym.rollout.runner import EpisodeItem, run_episodes
    from agentgym.train.tiny import build_tiny_model, texts_from_records

    eps = [EpisodeItem("maze", 1000 + i, "train") for i in range(items)]
    trajs = asyncio.run(run_episodes(eps, ExpertAgent(), AsyncLocalClient(), concurrency=32))
    records = [t.dump() for t in trajs if t.success]
    data = tmp / "data.json"
    data.write_text(json.dumps(records))
    model = build_tiny_model(texts_from_records(records), tmp / "tiny", layers=4, hidden=128, vocab_size=1024)
    return data, model


def worker(kind: str, data: Path, model: Path, epochs: float, out: Path) -> dict:
    import torch

    torch.manual_seed(0)
    records = json.loads(data.read_text())
    if kind == "agentgym":
        from agentgym.train.config import TrainConfig
        from agentgym.train.sft import train_on_records

        cfg = TrainConfig(
            epochs=epochs, lr=LR, batch_size=BATCH, max_length=MAX_LEN, warmup_ratio=0.0, logging_steps=1000
        )
        t0 = time.perf_counter()
        s = train_on_records(records, model, out, cfg)
        wall = time.perf_counter() - t0
        return {"seconds": s["seconds"], "wall": wall, "steps": s["steps"], "train_loss": s["train_loss"]}
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from agentgym.train.masks import to_messages
    from agentgym.train.tiny import load_tokenizer

    tok = load_tokenizer(model)
    ds = Dataset.from_list([{"messages": to_messages(r["conversations"], "all_gpt")} for r in records])
    tuned = kind == "trl-tuned"
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=epochs,
        learning_rate=LR,
        per_device_train_batch_size=BATCH,
        max_length=MAX_LEN,
        assistant_only_loss=True,
        packing=False,
        use_cpu=True,
        warmup_steps=0,
        lr_scheduler_type="cosine",
        report_to="none",
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
        **({"gradient_checkpointing": False, "train_sampling_strategy": "group_by_length"} if tuned else {}),
    )
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(model)),
        args=args,
        train_dataset=ds,
        processing_class=tok,
    )
    t0 = time.perf_counter()
    res = trainer.train()
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "wall": seconds,
        "steps": trainer.state.global_step,
        "train_loss": res.training_loss,
    }


def count_tokens(data: Path, model: Path) -> int:
    from agentgym.train.masks import encode_conversation
    from agentgym.train.tiny import load_tokenizer

    tok = load_tokenizer(model)
    return sum(
        len(encode_conversation(tok, r["conversations"], max_length=MAX_LEN).input_ids)
        for r in json.loads(data.read_text())
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=None, help="Write a markdown report here.")
    ap.add_argument("--worker", choices=["agentgym", "trl", "trl-tuned"], default=None)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--dir", type=Path)
    a = ap.parse_args()
    if a.worker:
        res = worker(a.worker, a.data, a.model, a.epochs, a.dir)
        res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(res))
        return

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data, model = make_data(tmp, a.items)
        tokens = int(count_tokens(data, model) * a.epochs)
        rows = {}
        for kind in ("agentgym", "trl", "trl-tuned"):
            cmd = [sys.executable, __file__, "--worker", kind, "--data", str(data), "--model", str(model)]
            cmd += ["--dir", str(tmp / kind), "--epochs", str(a.epochs)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
            r = json.loads(line[7:])
            r["tokens_per_s"] = tokens / r["seconds"]
            rows[kind] = r
            print(kind, json.dumps(r))
    base = rows["trl"]["tokens_per_s"]
    lines = [
        "| trainer | steps | train loss | input tok/s | ratio to TRL default | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    names = {
        "agentgym": "agentgym `train_on_records` (group_by_length)",
        "trl": "TRL SFTTrainer (defaults: grad-ckpt on, random sampler)",
        "trl-tuned": "TRL SFTTrainer (grad-ckpt off, group_by_length)",
    }
    for kind, r in rows.items():
        lines.append(
            f"| {names[kind]} | {r['steps']} | {r['train_loss']:.3f} | {r['tokens_per_s']:.0f} | "
            f"{r['tokens_per_s'] / base:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    if a.out:
        cmd = (
            f".venv/bin/python benchmarks/bc_vs_trl.py --items {a.items} --epochs {a.epochs:g} --out {a.out}"
        )
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(
            f"# BC trainer throughput vs TRL\n\nCommand: `{cmd}`\n\n"
            f"Data: {a.items} maze expert trajectories ({tokens} input tokens over {a.epochs:g} epochs), tiny Llama "
            f"(4 layers, hidden 128), batch {BATCH}, lr {LR}, fp32 on CPU, agent-only labels in all three.\n\n"
            f"{table}\n"
        )


if __name__ == "__main__":
    main()
