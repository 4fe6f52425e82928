"""Maze expert: breadth-first search from the goal, then step to a neighbour one move closer.

Ties between equally short paths are broken in the fixed order up, down, left, right, so the
expert is deterministic. Its thought is short, always shaped the same way, and grounded in the
observation: it first restates the open sides in the observation's words (what the agent sees), then names the one that
the shortest path takes. That becomes training data for small models, which learn far faster from
"copy what is visible, then choose among it" than from facts they cannot see (an earlier version
stated the remaining distance, which a model can only guess).
"""

from __future__ import annotations

from agentgym.core.react import format_reply
from agentgym.envs.maze.tasks import MOVES, Grid, MazeTask, Pos, goal_distances


def best_move(dist_to_goal: dict[Pos, int], pos: Pos) -> str | None:
    """The first move (in up/down/left/right order) that gets one step closer to the goal."""
    here = dist_to_goal.get(pos)
    if here is None or here == 0:
        return None
    for name, (dr, dc) in MOVES.items():
        if dist_to_goal.get((pos[0] + dr, pos[1] + dc)) == here - 1:
            return name
    return None


def open_sides(grid: Grid, pos: Pos) -> list[str]:
    """The directions without a wall, in up/down/left/right order (as the observation lists them)."""
    task = MazeTask(grid, pos, pos)
    return [name for name, (dr, dc) in MOVES.items() if task.free((pos[0] + dr, pos[1] + dc))]


def expert_reply(grid: Grid, pos: Pos, goal: Pos) -> str:
    dist = goal_distances(grid, goal)
    move = best_move(dist, pos)
    if move is None:  # unreachable or already there: nothing useful to do
        return format_reply("I cannot get any closer to the goal from here.", "move up")
    sides = open_sides(grid, pos)
    if len(sides) == 1:
        thought = f"I can only move {move}."
    else:  # the open sides in the observation's own words ("up, down or left"): a plain copy
        listed = f"{', '.join(sides[:-1])} or {sides[-1]}"
        thought = f"I can move {listed}. The shortest way to the goal goes {move}."
    return format_reply(thought, f"move {move}")
