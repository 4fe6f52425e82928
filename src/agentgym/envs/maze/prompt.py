"""Maze texts: the instruction (first human turn) and the observation sentences.

Our own wording of LMRL-Gym's maze prompt: the goal, the current position and the walls in the
four directions, with positions as (row, column) and row 0 at the top.
"""

from __future__ import annotations

from agentgym.envs.maze.tasks import Pos

ACTIONS = ["move up", "move down", "move left", "move right"]
_WALL_WORDS = {"up": "above you", "down": "below you", "left": "to your left", "right": "to your right"}

INSTRUCTION = """\
You are in a maze drawn on a grid and your task is to reach the goal.
Positions are written (row, column): row 0 is the top edge and column 0 the left edge. \
"move up" lowers your row by one, "move down" raises it, "move left" lowers your column and \
"move right" raises it.
After every move you are told where the goal is, where you are, and on which sides walls block \
you. Walking into a wall leaves you where you are. You win as soon as you stand on the goal; you \
have at most {max_rounds} moves.

Valid actions: move up, move down, move left, move right.

Answer every time with one short thought and exactly one action, in this form:
Thought: <your reasoning>
Action: <one valid action>

Example:
Observation: The goal is at (3, 1). You are at (1, 1). There are walls above you, to your left \
and to your right; you can move down.
Thought: The only open side is down, and the goal is further down.
Action: move down"""


def instruction(max_rounds: int) -> str:
    return INSTRUCTION.format(max_rounds=max_rounds)


def _join(words: list[str], last: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def describe(pos: Pos, goal: Pos, walls: dict[str, bool]) -> str:
    """The observation at ``pos``: goal, position, walls and the open directions."""
    blocked = [_WALL_WORDS[d] for d, wall in walls.items() if wall]
    open_ = [d for d, wall in walls.items() if not wall]
    text = f"The goal is at {fmt(goal)}. You are at {fmt(pos)}."
    if not blocked:
        return f"{text} There are no walls around you; you can move in any direction."
    walls_txt = ("There is a wall " if len(blocked) == 1 else "There are walls ") + _join(blocked, "and")
    if not open_:
        return f"{text} {walls_txt}; you cannot move."
    return f"{text} {walls_txt}; you can move {_join(open_, 'or')}."


def fmt(pos: Pos) -> str:
    return f"({pos[0]}, {pos[1]})"
