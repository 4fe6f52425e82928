"""Rollouts: the concurrent episode runner and the crash-safe run store."""

from agentgym.rollout.runner import EpisodeItem, Runner, run_episodes, to_messages
from agentgym.rollout.store import RunLocked, RunStore, read_trajectories

__all__ = [
    "EpisodeItem",
    "RunLocked",
    "RunStore",
    "Runner",
    "read_trajectories",
    "run_episodes",
    "to_messages",
]
