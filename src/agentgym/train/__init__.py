"""Training: behavioural cloning and AgentEvol, on tiny from-scratch models or real HF models.

* `agentgym.train.tiny` - byte-level BPE tokenizer + small Llama built from scratch (no download);
* `agentgym.train.masks` - token-exact labels on the agent turns (chat template aware);
* `agentgym.train.sft` - BC with transformers' Trainer (LoRA, packing, per-example weights);
* `agentgym.train.evol` - AgentEvol: explore -> keep rewarded -> merge -> re-train -> evaluate;
* `agentgym.train.config` - the typed configs (`BCConfig`, `EvolConfig`);
* `agentgym.train.cli` - ``agentgym train bc|tiny`` and ``agentgym evol``.

Importing this package does not import torch; the modules above import it when used.
"""

from agentgym.train.config import BCConfig, EnvPlan, EvolConfig, TinySpec, TrainConfig

__all__ = ["BCConfig", "EnvPlan", "EvolConfig", "TinySpec", "TrainConfig", "run_evol", "train_bc"]


def run_evol(config, log=None):  # thin lazy wrapper
    """`agentgym.train.evol.run_evol` (imported lazily)."""
    from agentgym.train.evol import run_evol as _run

    return _run(config, log)


def train_bc(config):
    """`agentgym.train.sft.train_bc` (imported lazily)."""
    from agentgym.train.sft import train_bc as _train

    return _train(config)
