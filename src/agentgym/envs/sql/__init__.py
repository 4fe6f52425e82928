"""BIRD (text-to-SQL): questions over SQLite databases, scored by execution match."""

from agentgym.envs.sql.env import BirdEnv

__all__ = ["BirdEnv"]
