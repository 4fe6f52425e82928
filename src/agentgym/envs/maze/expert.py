"""Maze expert: breadth-first search from the goal, then step to a neighbour one move closer.

Ties between equally short paths are broken in the fixed order up, down, left, right, so the
expert is deterministic. Its thought is short and always shaped the same way: it becomes training
data for tiny models.
"""

from __future__ import annotations

from agentgym.core.react import format_reply
from agentgym.envs.maze.tasks import MOVES, Pos, goal_distances


def best_move(dist_to_goal: dict[Pos, int], pos: Pos) -> str | None:
    """The first move (in up/down/left/right order) that gets one step closer to the goal."""
    here = dist_to_goal.get(pos)
    if here is None or here == 0:
        return None
    for name, (dr, dc) in MOVES.items():
        if dist_to_goal.get((pos[0] + dr, pos[1] + dc)) == here - 1:
            return name
    return None


def expert_reply(grid: tuple[str, ...], pos: Pos, goal: Pos) -> str:
    dist = goal_distances(grid, goal)
    move = best_move(dist, pos)
    if move is None:  # unreachable or already there: nothing useful to do
        return format_reply("I cannot get any closer to the goal from here.", "move up")
    steps = dist[pos]
    plural = "move" if steps == 1 else "moves"
    return format_reply(
        f"The shortest path to the goal takes {steps} {plural} and goes {move} next.", f"move {move}"
    )
