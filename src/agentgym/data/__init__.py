"""Trajectory data: the original AgentTraj / AgentEval formats and conversions for training."""

from agentgym.data.agenttraj import (
    env_of_item,
    load_agenttraj,
    load_eval_items,
    original_item_id,
    save_agenttraj,
    save_eval_items,
    successful,
    to_chat,
    to_dataset,
)

__all__ = [
    "env_of_item",
    "load_agenttraj",
    "load_eval_items",
    "original_item_id",
    "save_agenttraj",
    "save_eval_items",
    "successful",
    "to_chat",
    "to_dataset",
]
