"""Behavioural cloning: supervised fine-tuning on the agent turns of trajectories.

``train_bc(BCConfig)`` reads AgentTraj JSON files and/or ``trajectories.jsonl`` files, renders each
conversation with the model's chat template, labels the agent tokens (`agentgym.train.masks`), and
trains with transformers' `Trainer`:

* length-grouped batches (padding dominates CPU cost) or packing (whole examples packed into rows,
  position ids restarting per example so attention stays block-diagonal);
* full fine-tune or LoRA (peft; merged into the weights on save, so the output is a plain model);
* gradient checkpointing and bf16 only where a GPU provides them;
* an optional per-example weight in the loss: sum_i w_i sum_t nll_it / sum_i w_i n_i - the paper's
  reward-weighted objective J_Evol with non-binary rewards (w = 1 everywhere is plain SFT).

Multi-GPU: run the same command under ``accelerate launch`` (see configs/accelerate/).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agentgym.data.trajfile import read_records
from agentgym.train.config import BCConfig, TrainConfig
from agentgym.train.masks import IGNORE, encode_conversation
from agentgym.train.tiny import MARKER, load_tokenizer

# ----------------------------------------------------------------------------------------------- data


def load_records(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Trajectory records from AgentTraj JSON (a list of ``{"item_id", "conversations"}``) and JSONL
    files (one record per line, e.g. a run's ``trajectories.jsonl``), read by
    `agentgym.data.trajfile.read_records`. Clear errors on bad files."""
    records: list[dict[str, Any]] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"training data file not found: {p}")
        rows = read_records(p)
        for i, r in enumerate(rows):
            if not isinstance(r.get("conversations"), list):
                raise ValueError(f"{p}: record {i} has no 'conversations' list")
        records.extend(rows)
    return records


def encode_records(
    tokenizer: Any,
    records: Sequence[dict[str, Any]],
    cfg: TrainConfig,
) -> list[dict[str, Any]]:
    """Tokenise + label each record; drops records with no trained token or zero weight."""
    rows = []
    for rec in records:
        if not rec.get("conversations"):
            continue
        weight = 1.0
        if cfg.weight_field:
            if cfg.weight_field not in rec:
                raise ValueError(f"record {rec.get('item_id')!r} has no weight field {cfg.weight_field!r}")
            weight = float(rec[cfg.weight_field])
            if weight < 0 or not math.isfinite(weight):
                raise ValueError(
                    f"record {rec.get('item_id')!r}: weight must be finite and >= 0, got {weight}"
                )
        enc = encode_conversation(
            tokenizer, rec["conversations"], loss_on=cfg.loss_on, max_length=cfg.max_length
        )
        if enc.n_trained == 0 or weight == 0:
            continue
        rows.append({"input_ids": enc.input_ids, "labels": enc.labels, "weight": weight})
    return rows


def pack_rows(rows: list[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
    """First-fit-decreasing packing of whole examples into rows of <= max_length tokens.

    Position ids restart at 0 for each example; without an attention mask transformers then builds
    a block-diagonal causal mask, so packed examples do not attend to each other.
    """
    bins: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: -len(r["input_ids"])):
        n = len(r["input_ids"])
        target = next((b for b in bins if b["n"] + n <= max_length), None)
        if target is None:
            target = {"n": 0, "input_ids": [], "labels": [], "position_ids": [], "weights": []}
            bins.append(target)
        target["input_ids"] += r["input_ids"]
        target["labels"] += r["labels"]
        target["position_ids"] += list(range(n))
        target["weights"] += [r["weight"]] * n
        target["n"] += n
    return [{k: v for k, v in b.items() if k != "n"} for b in bins]


class Collator:
    """Right-pads a batch; labels -100 and weight 0 on padding; per-token weights for the loss."""

    def __init__(self, pad_id: int, packed: bool) -> None:
        self.pad_id = pad_id
        self.packed = packed

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids, labels, weights, attn, pos = [], [], [], [], []
        for b in batch:
            n = len(b["input_ids"])
            pad = width - n
            ids.append(b["input_ids"] + [self.pad_id] * pad)
            labels.append(b["labels"] + [IGNORE] * pad)
            w = b["weights"] if "weights" in b else [b["weight"]] * n
            weights.append(list(w) + [0.0] * pad)
            attn.append([1] * n + [0] * pad)
            if self.packed:
                pos.append(list(b["position_ids"]) + list(range(pad)))
        out = {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "token_weights": torch.tensor(weights, dtype=torch.float32),
        }
        if self.packed:
            # no attention_mask: transformers derives a block-diagonal mask from restarting positions
            # (only without a KV cache: the forward must get use_cache=False)
            out["position_ids"] = torch.tensor(pos)
        else:
            out["attention_mask"] = torch.tensor(attn)
        return out


# ---------------------------------------------------------------------------------------------- model


def weighted_nll(logits: Any, labels: Any, weights: Any) -> Any:
    """sum_t w_t nll_t / sum_t w_t over labelled tokens (next-token shift applied here)."""
    import torch.nn.functional as F

    logits = logits[:, :-1, :].float()
    labels = labels[:, 1:]
    weights = weights[:, 1:]
    nll = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE, reduction="none"
    )
    w = weights.reshape(-1) * (labels.reshape(-1) != IGNORE)
    return (nll * w).sum() / w.sum().clamp_min(1e-8)


def _trainer_class():
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """`Trainer` whose loss is the per-token weighted NLL (`weighted_nll`)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.model_accepts_loss_kwargs = (
                False  # our loss is a per-micro-batch mean: Trainer divides by GA
            )
            self.trained_tokens = 0
            self.first_loss: float | None = None  # before any update: what `StallCheck` compares to

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            weights = inputs.pop("token_weights")
            outputs = model(**inputs, use_cache=False)  # a cache would also defeat packed masks
            loss = weighted_nll(outputs.logits, labels, weights)
            if model.training:
                self.trained_tokens += int((labels != IGNORE).sum())
                if self.first_loss is None:  # one host sync per run, not per step
                    self.first_loss = float(loss.detach())
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


STALL_AT = 0.2
"""`StallCheck` looks at the loss once this share of the optimizer steps is done (and >= 10 steps)."""
STALL_MIN_DROP = 0.05
"""... and warns if the logged loss is less than this share below the first micro-batch's loss."""
STALL_LOW_LOSS = 1.0
"""A loss under this (nats per token) means the model already fits the data: a flat curve is expected."""


def stall_message(start: float, now: float, step: int, max_steps: int, lr: float) -> str | None:
    """The warning to print when training has not moved the loss, else None.

    ``start`` is the loss of the first micro-batch (before any update), ``now`` the last logged
    loss (the Trainer's mean over the last ``logging_steps``). Why these numbers - measured on a
    tiny model from scratch (2 layers, hidden 64), 32 Maze expert trajectories, batch 4, 60 steps:
    at step 12 (20 %) the loss was 0.3 % below its start at lr 1e-5 (the paper's, right for a
    pretrained 7B model), 3.5 % at 1e-4 and 19 % at 1e-3; the first logged mean (steps 1-10) was
    already 7-8 % below at 1e-3. A 4-layer model (hidden 128) at 1e-5 was 1.4 % below after 6
    steps, 4 % after 30. So at 1e-5 the model learns nothing and nothing said so; 5 % separates
    that from a learning run at the earliest check (step 10). A loss already under 1 nat/token
    (continuing from a checkpoint trained on the same data, as ``retrain_from: last``) is left alone.
    """
    if start <= 0 or now < STALL_LOW_LOSS or now < start * (1 - STALL_MIN_DROP):
        return None
    drop = (start - now) / start
    where = f"only {drop:.1%} below" if drop >= 0 else f"{-drop:.1%} above"
    return (
        f"warning: after {step} of {max_steps} steps the training loss is {now:.3f}, "
        f"{where} where it started ({start:.3f}): the model is hardly learning. "
        f"The learning rate is {lr:g}; a small model trained from scratch (agentgym train tiny) "
        "needs about 1e-3 (--lr 1e-3), a pretrained model 1e-5 to 1e-4 (1e-4 or more with --lora). "
        "Also check the data: agent turns to learn on (--loss-on) and max_length truncation."
    )


def _stall_check_class():
    from transformers import TrainerCallback

    class StallCheck(TrainerCallback):
        """Warn once, early, when the loss has not moved (`stall_message`): a wrong learning rate
        otherwise costs a whole run that silently learns nothing."""

        def __init__(self, trainer: Any, lr: float) -> None:
            self.trainer = trainer
            self.lr = lr
            self.message: str | None = None
            self.checked = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.checked or not logs or "loss" not in logs or not state.max_steps:
                return
            if state.global_step < max(STALL_AT * state.max_steps, 10):
                return
            self.checked = True
            start = self.trainer.first_loss
            if start is None:
                return
            self.message = stall_message(
                start, float(logs["loss"]), state.global_step, state.max_steps, self.lr
            )
            if self.message and state.is_world_process_zero:
                print(self.message, file=sys.stderr, flush=True)

    return StallCheck


def _log_lines_class():
    from transformers import TrainerCallback

    class LogLines(TrainerCallback):
        """Training progress as plain, flushed lines (stdout is a file or pipe: no tqdm bar):
        ``[train] step 40/225 (17.8%) | loss 3.120 | lr 9.8e-04 | elapsed 1m10s | ETA 5m20s``."""

        def __init__(self) -> None:
            self.t0 = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            from agentgym.rollout.progress import format_duration

            elapsed = time.monotonic() - self.t0
            step, total = state.global_step, state.max_steps or 0
            parts = [f"step {step}/{total}" + (f" ({100 * step / total:.1f}%)" if total else "")]
            parts.append(f"loss {float(logs['loss']):.3f}")
            if "learning_rate" in logs:
                parts.append(f"lr {float(logs['learning_rate']):.1e}")
            parts.append(f"elapsed {format_duration(elapsed)}")
            if step and total > step:
                parts.append(f"ETA {format_duration(elapsed / step * (total - step))}")
            print("[train] " + " | ".join(parts), flush=True)

    return LogLines


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _resolve(flag: bool | str, available: bool) -> bool:
    return available if flag == "auto" else bool(flag) and available


def load_model(path: str | Path, cfg: TrainConfig) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    bf16 = _resolve(cfg.bf16, _has_cuda() and torch.cuda.is_bf16_supported())
    model: Any = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=torch.bfloat16 if bf16 else torch.float32
    )
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_targets,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lcfg)
    return model


def save_model(
    trainer: Any, tokenizer: Any, out: Path, source: str | Path, *, keep_adapter: bool = True
) -> None:
    """Save a plain HF folder; a LoRA model is merged first (its adapter also kept in ``out/adapter``).

    Under ``accelerate launch`` every rank calls this: `Trainer.save_model` gathers sharded weights
    (DeepSpeed ZeRO-3) and writes on the main process only; the rest is main-process work too.
    """
    out.mkdir(parents=True, exist_ok=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.config.use_cache = True
    if hasattr(model, "merge_and_unload"):
        if trainer.is_world_process_zero():
            if keep_adapter:
                model.save_pretrained(out / "adapter")
            merged = model.merge_and_unload()
            merged.config.use_cache = True
            merged.save_pretrained(out)
    else:
        trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        marker = Path(source) / MARKER
        if marker.exists():
            shutil.copy(marker, out / MARKER)


# ------------------------------------------------------------------------------------------- training


def train_on_records(
    records: Sequence[dict[str, Any]],
    model_path: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    *,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model_path`` on ``records``, save to ``out``; returns the run summary (also in bc_meta.json)."""
    from datasets import Dataset
    from transformers import TrainingArguments, set_seed

    out = Path(out)
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(model_path)
    rows = encode_records(tokenizer, records, cfg)
    if not rows:
        raise ValueError("no trainable examples: every record was empty, had no agent turn or weight 0")
    n_examples = len(rows)
    if cfg.packing:
        rows = pack_rows(rows, cfg.max_length)
    data = {k: [r[k] for r in rows] for k in rows[0]}
    data["length"] = [len(r["input_ids"]) for r in rows]
    dataset = Dataset.from_dict(data)

    cuda = _has_cuda()
    model = load_model(model_path, cfg)
    grad_ckpt = _resolve(cfg.gradient_checkpointing, cuda)
    args = TrainingArguments(
        output_dir=str(out / "_trainer"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.scheduler,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=_resolve(cfg.bf16, cuda and __import__("torch").cuda.is_bf16_supported()),
        activation_checkpointing=grad_ckpt,
        use_cpu=not cuda,
        train_sampling_strategy="group_by_length" if cfg.group_by_length and not cfg.packing else "random",
        length_column_name="length",
        remove_unused_columns=False,
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        report_to="none",
        disable_tqdm=not (cfg.progress and sys.stdout.isatty()),  # a bar only on a terminal
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every parameter is used; the check costs a graph walk
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset.remove_columns(["length"])
        if not args.train_sampling_strategy.startswith("group")
        else dataset,
        data_collator=Collator(tokenizer.pad_token_id, cfg.packing),
        processing_class=tokenizer,
    )
    if args.disable_tqdm:  # Trainer then prints raw dicts, unflushed: plain lines instead (or nothing)
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        if cfg.progress:
            trainer.add_callback(_log_lines_class()())
    stall = _stall_check_class()(trainer, cfg.lr)
    trainer.add_callback(stall)
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    save_model(trainer, tokenizer, out, model_path)
    if not trainer.is_world_process_zero():
        return {"rank": trainer.args.process_index}
    shutil.rmtree(out / "_trainer", ignore_errors=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    summary = {
        "model": str(model_path),
        "examples": n_examples,
        "rows": len(rows),
        "steps": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        "train_loss": result.training_loss,
        "first_loss": trainer.first_loss,  # the first micro-batch, before any update
        "loss_curve": losses,
        "trained_tokens": trainer.trained_tokens,  # of this process (x world_size in DDP)
        "input_tokens": int(sum(data["length"]) * max(cfg.epochs, 0)) if cfg.max_steps <= 0 else None,
        "seconds": round(seconds, 2),
        "trained_tokens_per_s": round(trainer.trained_tokens / seconds, 1) if seconds else None,
        "config": json.loads(cfg.model_dump_json()),
        "warnings": [stall.message] if stall.message else [],
        **(meta or {}),
    }
    (out / "bc_meta.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def train_bc(cfg: BCConfig) -> Path:
    """``agentgym train bc``: load the data files, train, save a plain model folder at ``cfg.out``."""
    records = load_records(cfg.data)
    if cfg.only_success:
        records = [r for r in records if r.get("success", True)]
    train_cfg = cfg.train_config()
    train_on_records(records, cfg.model, cfg.out, train_cfg, meta={"data": [str(p) for p in cfg.data]})
    return Path(cfg.out)
