"""Typed configs for BC and AgentEvol (pydantic: a typo in a YAML key is an error, not a silent default).

`TrainConfig` holds the optimisation settings shared by BC and every AgentEvol re-training;
`BCConfig` adds data, model and output; `EvolConfig` describes a whole AgentEvol run (and is what
``configs/evol-demo.yaml`` and ``agentgym evol --config`` load).

Learning-rate note: the original trains Llama-2-7B with lr 1e-5; a tiny model trained from scratch
needs ~1e-3 (3e-3 got stuck in the probe, see reference/training-notes.md). At 1e-5 a tiny model
learns nothing (its loss stays near chance) and nothing fails, so `BCConfig` leaves ``lr`` unset by
default and `default_lr` picks by the model: 1e-3 for our tiny models, 1e-5 for any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Auto = Literal["auto"]

PRETRAINED_LR = 1e-5
"""The original's learning rate (Llama-2-7B, full fine-tune): right for pretrained models."""
FROM_SCRATCH_LR = 1e-3
"""What a tiny model built from scratch (`agentgym.train.tiny`) needs to learn at all."""


def default_lr(model: str | Path) -> float:
    """The learning rate to use when none is given: `FROM_SCRATCH_LR` for a tiny model built by
    ``agentgym train tiny`` (or trained from one: the folder holds its ``agentgym_tiny.json``
    marker), `PRETRAINED_LR` for any other model folder or hub name."""
    from agentgym.train.tiny import MARKER

    return FROM_SCRATCH_LR if (Path(model) / MARKER).is_file() else PRETRAINED_LR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainConfig(_Strict):
    """Optimisation settings (Trainer arguments we expose)."""

    epochs: float = Field(3.0, gt=0, description="Passes over the data (the paper trains in epochs).")
    max_steps: int = Field(
        -1, description="If > 0, stop after this many optimizer steps (tests, benchmarks)."
    )
    lr: float = Field(1e-5, gt=0)
    batch_size: int = Field(8, ge=1, description="Per-device micro-batch size.")
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(
        2048, ge=16, description="Tokens per example (right-truncated) or per packed row."
    )
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    loss_on: Literal["all_gpt", "loss_true"] = Field(
        "all_gpt", description="Train on every gpt turn (the original) or only on turns with loss: true."
    )
    packing: bool = Field(
        False, description="Pack whole examples into max_length rows (block-diagonal attention)."
    )
    group_by_length: bool = Field(
        True, description="Length-grouped batches (less padding); ignored with packing."
    )
    weight_field: str | None = Field(
        None,
        description="Record field holding a per-example loss weight (e.g. 'reward': reward-weighted NLL).",
    )
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] | str = "all-linear"
    gradient_checkpointing: bool | Auto = Field("auto", description="auto: only on a GPU.")
    bf16: bool | Auto = Field("auto", description="auto: only where the GPU supports bf16.")
    logging_steps: int = 10
    progress: bool = Field(False, description="Show the Trainer's progress bar.")


class BCConfig(TrainConfig):
    """One behavioural-cloning run: ``agentgym train bc``."""

    data: list[Path] = Field(description="AgentTraj JSON files and/or trajectories.jsonl files.")
    model: str = Field(description="Model folder or hub name to start from.")
    out: Path = Field(description="Output folder (a plain HF model folder; LoRA is merged on save).")
    lr: float | None = Field(  # type: ignore[assignment]  # None: resolved per model, see default_lr
        None, gt=0, description="Learning rate; None = `default_lr(model)` (1e-3 tiny, 1e-5 otherwise)."
    )
    only_success: bool = Field(False, description="Drop records whose success is false (when present).")

    @field_validator("data")
    @classmethod
    def _nonempty(cls, v: list[Path]) -> list[Path]:
        if not v:
            raise ValueError("at least one --data file is needed")
        return v

    def train_config(self) -> TrainConfig:
        """The optimisation settings, with the learning rate resolved (`default_lr` if unset)."""
        fields = self.model_dump(include=set(TrainConfig.model_fields))
        fields["lr"] = self.lr if self.lr is not None else default_lr(self.model)
        return TrainConfig.model_validate(fields)


class TinySpec(_Strict):
    """A from-scratch tiny model (`agentgym.train.tiny.build_tiny_model`) used when no base model is given."""

    layers: int = 4
    hidden: int = 128
    heads: int = 4
    kv_heads: int = 2
    vocab_size: int = 1024
    max_positions: int = 2048
    generic_corpus: bool = False
    seed: int = 0


class EnvPlan(_Strict):
    """Per-env task ids for each stage of AgentEvol.

    Ids are global task ids; ``None`` means the env's own split. Counts take the first n ids of the
    split (deterministic). The BC, exploration and eval sets are checked to be disjoint from eval.
    """

    env: str
    bc_items: int | None = Field(20, description="Expert trajectories for D_0: the first n train ids.")
    explore_items: int | None = Field(None, description="Train ids explored per iteration (None = all).")
    explore_offset: int | None = Field(
        None, description="Skip this many train ids before the exploration pool (None = the BC items)."
    )
    eval_ids: list[int] | None = Field(None, description="Held-out ids (None = the test split).")
    extra_eval_ids: list[int] = Field(default_factory=list, description="More held-out ids (tighter CIs).")
    env_kwargs: dict = Field(default_factory=dict)
    explore_max_rounds: int | None = Field(
        None,
        ge=1,
        description="Round limit during exploration only (None = the env's). A tighter limit than at "
        "evaluation keeps only efficient successes and cuts the cost of failing episodes.",
    )


class EvolConfig(_Strict):
    """A whole AgentEvol run (``agentgym evol --config FILE``)."""

    run_dir: Path
    envs: list[EnvPlan]
    base_model: str | None = Field(None, description="Model folder/hub name; None = build a tiny model.")
    tiny: TinySpec = Field(default_factory=TinySpec)
    bc_data: list[Path] = Field(
        default_factory=list,
        description="D_0 files; empty = collect with the expert agent (bc_items per env).",
    )
    iterations: int = Field(2, ge=0, description="AgentEvol iterations after BC (M).")
    samples: int = Field(1, ge=1, description="K samples per exploration item.")
    temperature: float = Field(1.0, ge=0)
    eval_temperature: float = Field(0.0, ge=0, description="0 = greedy, as the original's evaluation.")
    max_new_tokens: int = 64
    concurrency: int = Field(64, ge=1, description="Episodes run at once (one batched generate per turn).")
    backend: Literal["hf", "vllm"] = Field(
        "hf",
        description="Inference for exploration and evaluation: transformers' batched generate (any machine) "
        "or vLLM's offline engine (GPU, `pip install 'agentgym[vllm]'`).",
    )
    backend_kwargs: dict = Field(
        default_factory=dict,
        description="Extra arguments for the backend (vLLM: tensor_parallel_size, gpu_memory_utilization, ...).",
    )
    retrain_from: Literal["base", "last"] = "base"
    keep_per_item: int = Field(1, ge=1, description="Successful samples kept per item (the original: 1).")
    min_reward: float | None = Field(
        None,
        description="Keep explored trajectories with reward >= this (None = each env's success threshold). "
        "With train.weight_field: reward this gives the paper's reward-weighted J_Evol on non-binary rewards.",
    )
    random_baseline: bool = True
    control: bool = Field(
        False,
        description="Also train and evaluate a same-compute control per iteration: as many optimizer "
        "steps with that iteration's settings on D_0 alone (no explored data), from the matching init. "
        "Without it, a gain over BC may come from the extra training rather than from what exploration "
        "found.",
    )
    seed: int = 0
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(lr=1e-3, batch_size=16, max_length=1024))
    evol_train: TrainConfig | None = Field(
        None,
        description="Training settings for iterations >= 1 (None = `train`); e.g. fewer epochs on the bigger D_m.",
    )

    @classmethod
    def from_yaml(cls, path: str | Path) -> EvolConfig:
        import yaml

        data = yaml.safe_load(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.model_validate(data)
