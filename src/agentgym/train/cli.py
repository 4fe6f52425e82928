"""``agentgym train bc|tiny`` and ``agentgym evol``: thin typer wrappers over sft.py, tiny.py, evol.py.

Heavy imports (torch, transformers) happen inside the commands so ``agentgym --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from agentgym.rollout.progress import DEFAULT_EVERY_S, PROGRESS_EVERY_HELP, PROGRESS_HELP, ProgressOptions

train_app = typer.Typer(
    help="Train models: behavioural cloning, tiny models from scratch.", no_args_is_help=True
)


@train_app.command("bc")
def bc(
    data: list[Path] = typer.Option(..., "--data", help="AgentTraj JSON or trajectories.jsonl (repeatable)."),
    model: str = typer.Option(..., "--model", help="Model folder or hub name to start from."),
    out: Path = typer.Option(..., "--out", help="Output model folder."),
    epochs: float = typer.Option(3.0, help="Passes over the data."),
    max_steps: int = typer.Option(-1, help="Stop after this many optimizer steps (overrides epochs if > 0)."),
    lr: float | None = typer.Option(
        None,
        help="Learning rate. Default: 1e-3 for a tiny model from `agentgym train tiny` (from scratch), "
        "1e-5 (the paper's) for any other model.",
        show_default=False,
    ),
    batch_size: int = typer.Option(8, help="Per-device micro-batch size."),
    grad_accum: int = typer.Option(1, help="Gradient accumulation steps."),
    max_length: int = typer.Option(2048, help="Max tokens per example / packed row."),
    lora: bool = typer.Option(False, help="Train a LoRA adapter (merged into the saved model)."),
    lora_r: int = typer.Option(16, help="LoRA rank."),
    lora_alpha: int = typer.Option(32, help="LoRA alpha."),
    loss_on: str = typer.Option("all_gpt", help="all_gpt (every agent turn, as the original) or loss_true."),
    packing: bool = typer.Option(False, help="Pack examples into max_length rows."),
    group_by_length: bool = typer.Option(True, help="Length-grouped batches (ignored with --packing)."),
    weight_field: str = typer.Option(None, help="Per-example loss weight field, e.g. reward (J_Evol)."),
    only_success: bool = typer.Option(False, help="Drop records with success false."),
    seed: int = typer.Option(42, help="Seed of the weight init (LoRA), data order and dropout."),
    progress: bool = typer.Option(
        True, help="Report progress: a bar on a terminal, the loss as plain lines when stdout is a file."
    ),
) -> None:
    """Behavioural cloning: SFT on the agent turns of trajectories."""
    from pydantic import ValidationError

    from agentgym.train.config import BCConfig

    try:
        cfg = BCConfig(
            data=data,
            model=model,
            out=out,
            epochs=epochs,
            max_steps=max_steps,
            lr=lr,
            batch_size=batch_size,
            grad_accum=grad_accum,
            max_length=max_length,
            lora=lora,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            loss_on=loss_on,
            packing=packing,
            group_by_length=group_by_length,
            weight_field=weight_field,
            only_success=only_success,
            seed=seed,
            progress=progress,
        )
    except ValidationError as e:
        raise typer.BadParameter(str(e)) from None
    if lr is None:
        from agentgym.train.config import FROM_SCRATCH_LR, default_lr

        chosen = default_lr(model)
        why = "a tiny model trained from scratch" if chosen == FROM_SCRATCH_LR else "a pretrained model"
        typer.echo(f"learning rate {chosen:g} (the default for {why}; set --lr to change it)")
    from agentgym.train.sft import train_bc

    try:
        path = train_bc(cfg)
    except (FileNotFoundError, ValueError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from None
    meta_path = path / "bc_meta.json"
    if meta_path.exists():  # only the main process writes it under accelerate launch
        meta = json.loads(meta_path.read_text())
        keys = ("examples", "steps", "world_size", "train_loss", "seconds", "trained_tokens_per_s")
        typer.echo(f"saved {path}: " + ", ".join(f"{k}={meta.get(k)}" for k in keys))


@train_app.command("tiny")
def tiny(
    data: list[Path] = typer.Option(..., "--data", help="Trajectory files whose text trains the tokenizer."),
    out: Path = typer.Option(..., "--out", help="Model folder to create (an ordinary HF model folder)."),
    layers: int = typer.Option(4, help="Transformer layers."),
    hidden: int = typer.Option(128, help="Hidden size (divisible by --heads)."),
    heads: int = typer.Option(4, help="Attention heads (divisible by --kv-heads)."),
    kv_heads: int = typer.Option(2, help="Key/value heads (grouped-query attention)."),
    vocab_size: int = typer.Option(1024, help="BPE vocabulary size (small vocab = faster on a CPU)."),
    max_positions: int = typer.Option(2048, help="Context length in tokens."),
    generic_corpus: bool = typer.Option(False, help="Add the stdlib sources to the tokenizer corpus."),
) -> None:
    """Build a tiny Llama + BPE tokenizer from scratch (random weights) as an HF model folder."""
    from agentgym.train.sft import load_records
    from agentgym.train.tiny import build_tiny_model, texts_from_records

    texts = list(texts_from_records(load_records(data)))
    path = build_tiny_model(
        texts,
        out,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=kv_heads,
        vocab_size=vocab_size,
        max_positions=max_positions,
        generic_corpus=generic_corpus,
    )
    typer.echo(f"saved {path}: {(path / 'agentgym_tiny.json').read_text()}")


def evol(
    config: Path = typer.Option(None, "--config", help="EvolConfig YAML (e.g. configs/evol-demo.yaml)."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Run folder (required without --config)."),
    envs: str = typer.Option(None, help="Comma-separated envs, e.g. maze,wordle (without --config)."),
    model: str = typer.Option(None, "--model", help="Base model folder or hub name (default: a tiny model)."),
    bc_data: list[Path] = typer.Option(None, "--bc-data", help="D_0 files (default: expert rollouts)."),
    bc_items: int = typer.Option(None, help="Expert trajectories per env for D_0."),
    explore_items: int = typer.Option(None, help="Train items explored per env and iteration."),
    iterations: int = typer.Option(None, help="AgentEvol iterations after BC (M)."),
    samples: int = typer.Option(None, help="K samples per exploration item."),
    temperature: float = typer.Option(None, help="Exploration temperature T."),
    retrain_from: str = typer.Option(None, help="base (the paper) or last (continue from the last model)."),
    backend: str = typer.Option(None, help="hf (transformers) or vllm (GPU) for exploration and eval."),
    epochs: float = typer.Option(None, help="Training epochs per stage."),
    lr: float = typer.Option(None, help="Learning rate."),
    lora: bool = typer.Option(None, "--lora/--no-lora", help="Train LoRA adapters (merged on save)."),
    control: bool = typer.Option(
        None, "--control/--no-control", help="Also run a same-compute control (as many steps on D_0 alone)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    progress_every: float = typer.Option(
        DEFAULT_EVERY_S, "--progress-every", min=0, help=PROGRESS_EVERY_HELP
    ),
) -> None:
    """AgentEvol: BC, then M rounds of explore -> keep successes -> merge -> re-train -> evaluate.

    Settings come from --config, and the flags override them (or describe the whole run without a
    config: --envs and --run-dir at least). A killed run resumes at the stage it was in when
    started again with the same run folder and settings.
    """
    from pydantic import ValidationError

    from agentgym.train.config import EvolConfig
    from agentgym.train.evol import run_evol

    if config is not None and not config.exists():
        raise typer.BadParameter(f"config file not found: {config}")
    data: dict = {}
    if config is not None:
        import yaml

        data = yaml.safe_load(config.read_text()) or {}
    elif envs is None or run_dir is None:
        raise typer.BadParameter("give --config FILE, or --envs and --run-dir (see configs/evol-demo.yaml)")
    if envs is not None:
        data["envs"] = [{"env": e.strip()} for e in envs.split(",") if e.strip()]
    for plan in data.get("envs") or []:
        if bc_items is not None:
            plan["bc_items"] = bc_items
        if explore_items is not None:
            plan["explore_items"] = explore_items
    top = {
        "run_dir": run_dir and str(run_dir),
        "base_model": model,
        "bc_data": [str(p) for p in bc_data] if bc_data else None,
        "iterations": iterations,
        "samples": samples,
        "temperature": temperature,
        "retrain_from": retrain_from,
        "backend": backend,
        "control": control,
    }
    data.update({k: v for k, v in top.items() if v is not None})
    train = {k: v for k, v in {"epochs": epochs, "lr": lr, "lora": lora}.items() if v is not None}
    if train:
        default = EvolConfig.model_fields["train"].get_default(call_default_factory=True).model_dump()
        data["train"] = {**(data.get("train") or default), **train}
        if data.get("evol_train") is not None:
            data["evol_train"] = {**data["evol_train"], **train}
    try:
        cfg = EvolConfig.model_validate(data)
    except ValidationError as e:
        raise typer.BadParameter(f"invalid AgentEvol settings:\n{e}") from e
    result = run_evol(cfg, progress=ProgressOptions(progress, progress_every))
    typer.echo(f"run folder: {result.run_dir}\nplot: {result.plot}")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("evol")(evol)
