"""Maze: LMRL-Gym's double-T maze (the 25 original test starts) plus generated training mazes."""

from agentgym.envs.maze.env import MazeEnv

__all__ = ["MazeEnv"]
