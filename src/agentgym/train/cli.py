"""``agentgym train bc|tiny`` and ``agentgym evol``: thin typer wrappers over sft.py, tiny.py, evol.py.

Heavy imports (torch, transformers) happen inside the commands so ``agentgym --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

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
    lr: float = typer.Option(1e-5, help="Learning rate (tiny models from scratch: ~1e-3)."),
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
    seed: int = typer.Option(42),
    progress: bool = typer.Option(False, help="Show a progress bar."),
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
    out: Path = typer.Option(..., "--out"),
    layers: int = typer.Option(4),
    hidden: int = typer.Option(128),
    heads: int = typer.Option(4),
    kv_heads: int = typer.Option(2),
    vocab_size: int = typer.Option(1024),
    max_positions: int = typer.Option(2048),
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
    run_dir: Path = typer.Option(None, "--run-dir", help="Override the config's run folder."),
    iterations: int = typer.Option(None, help="Override the number of AgentEvol iterations."),
) -> None:
    """AgentEvol: BC, then M rounds of explore -> keep successes -> merge -> re-train -> evaluate.

    A killed run resumes at the stage it was in when started again with the same run folder.
    """
    from agentgym.train.config import EvolConfig
    from agentgym.train.evol import run_evol

    if config is None:
        raise typer.BadParameter("--config is required (see configs/evol-demo.yaml)")
    if not config.exists():
        raise typer.BadParameter(f"config file not found: {config}")
    cfg = EvolConfig.from_yaml(config)
    updates = {}
    if run_dir is not None:
        updates["run_dir"] = run_dir
    if iterations is not None:
        updates["iterations"] = iterations
    if updates:
        cfg = cfg.model_copy(update=updates)
    result = run_evol(cfg)
    typer.echo(f"run folder: {result.run_dir}\nplot: {result.plot}")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("evol")(evol)
