"""Agents: the `Agent` interface and its backends.

=====================  ==========================================================  ==============
class                  what it drives                                              needs
=====================  ==========================================================  ==============
`OpenAIAgent`          any OpenAI-compatible chat endpoint (vLLM, SGLang, OpenAI,  httpx
                       Ollama, ``agentgym serve-model``)
`HFAgent`              a local transformers model, batched ``generate``            ``[train]``
`VLLMAgent`            vLLM's offline engine, batched ``LLM.chat``                 ``[vllm]``, GPU
`ExpertAgent`          the env's expert solver (AgentTraj)                         -
`RandomAgent`          random valid actions (a baseline)                           -
=====================  ==========================================================  ==============

Backends are imported on first use (``from agentgym.agents import HFAgent`` loads torch only then),
so ``import agentgym.agents`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from agentgym.agents.base import Agent, AgentError, AgentReply, ContextOverflow, EpisodeContext

_LAZY = {
    "OpenAIAgent": "agentgym.agents.openai_compat",
    "HFAgent": "agentgym.agents.hf",
    "HFGenerator": "agentgym.agents.hf",
    "SamplingParams": "agentgym.agents.hf",
    "VLLMAgent": "agentgym.agents.vllm",
    "ExpertAgent": "agentgym.agents.expert",
    "RandomAgent": "agentgym.agents.random",
    "load_smollm2": "agentgym.agents.smollm2",
}

__all__ = ["Agent", "AgentError", "AgentReply", "ContextOverflow", "EpisodeContext", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentgym.agents' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
