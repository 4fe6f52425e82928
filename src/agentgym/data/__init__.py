"""Trajectory data: reading, writing, converting and filtering trajectory files (`trajfile`), and
what the original AgentTraj / AgentEval files mean here (`agenttraj`)."""

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
from agentgym.data.trajfile import keep_successes, read_records, to_messages, write_records

__all__ = [
    "env_of_item",
    "keep_successes",
    "load_agenttraj",
    "load_eval_items",
    "original_item_id",
    "read_records",
    "save_agenttraj",
    "save_eval_items",
    "successful",
    "to_chat",
    "to_dataset",
    "to_messages",
    "write_records",
]
