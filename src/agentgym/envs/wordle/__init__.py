"""Wordle: LMRL-Gym's rules (the hidden word is re-drawn among the consistent words after every
guess) over the official answer and guess lists."""

from agentgym.envs.wordle.env import WordleEnv

__all__ = ["WordleEnv"]
