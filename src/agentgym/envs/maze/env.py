"""`MazeEnv`: reach the goal of a grid maze with ``move up|down|left|right``.

Rules (LMRL-Gym's maze, as served by AgentGym):

* actions are ``move up``, ``move down``, ``move left``, ``move right`` (case, extra spaces and a
  trailing full stop are tolerated); anything else is an **invalid action**: the position is
  unchanged, the observation says why and lists the valid actions;
* moving into a wall keeps you in place and the observation says so. It is a well-formed move of
  the game, so it is *not* counted as invalid (``info["hit_wall"]`` marks it instead): the
  invalid-action metric measures format errors, a wall bump is a policy mistake;
* reward 1 and ``terminated`` on reaching the goal, else 0; 15 rounds (truncated there).
"""

from __future__ import annotations

import re
from typing import Any

from agentgym.core.env import Env, invalid
from agentgym.core.errors import NotReset
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.maze import expert, prompt
from agentgym.envs.maze.tasks import MOVES, TEST_IDS, TRAIN_IDS, MazeTask, Pos, get_task, goal_distances

_ACTION = re.compile(r"move\s++(up|down|left|right)", re.IGNORECASE)  # possessive: linear, one pass


def parse_move(action: str) -> str | None:
    """``"Move  Up."`` -> ``"up"``; None when the text is not exactly one move."""
    m = _ACTION.fullmatch(action.strip().strip("\"'`").rstrip(".").strip())
    return m.group(1).lower() if m else None


class MazeEnv(Env):
    spec = EnvSpec(
        id="maze",
        version="2",  # 2: double-T train tasks with other goals (ids 100-619)
        max_rounds=15,
        metric="success",
        action_format="react_first",
        splits={"train": TRAIN_IDS, "test": TEST_IDS},
        description="LMRL-Gym double-T maze (25 test starts); training on the double-T with other goals "
        "and on generated braided mazes.",
    )

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.task: MazeTask | None = None
        self.pos: Pos = (0, 0)

    def instruction(self) -> str:
        return prompt.instruction(self.max_rounds)

    def available_actions(self) -> list[str]:
        return list(prompt.ACTIONS)

    def walls(self) -> dict[str, bool]:
        assert self.task is not None
        r, c = self.pos
        return {name: not self.task.free((r + dr, c + dc)) for name, (dr, dc) in MOVES.items()}

    def describe(self) -> str:
        assert self.task is not None
        return prompt.describe(self.pos, self.task.goal, self.walls())

    def _info(self) -> dict[str, Any]:
        assert self.task is not None
        return {"position": list(self.pos), "goal": list(self.task.goal)}

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.task = get_task(task_id)
        self.pos = self.task.start
        return self.describe(), self._info()

    def _step(self, action: str) -> StepResult:
        assert self.task is not None
        move = parse_move(action)
        if move is None:
            shown = action.strip()[:80]
            return invalid(
                f'Invalid action "{shown}". Valid actions: {", ".join(prompt.ACTIONS)}. {self.describe()}',
                **self._info(),
            )
        dr, dc = MOVES[move]
        nxt = (self.pos[0] + dr, self.pos[1] + dc)
        if not self.task.free(nxt):
            text = f"You cannot move {move}: there is a wall. You stay where you are. {self.describe()}"
            return StepResult(text, 0.0, False, False, {"hit_wall": True, **self._info()})
        self.pos = nxt
        if self.pos == self.task.goal:
            text = f"Success! You reached the goal at {prompt.fmt(self.pos)}."
            return StepResult(text, 1.0, True, False, {"hit_wall": False, **self._info()})
        return StepResult(self.describe(), 0.0, False, False, {"hit_wall": False, **self._info()})

    def expert_reply(self) -> str:
        if self.task is None:
            raise NotReset("maze: call reset(task_id) before asking the expert")
        return expert.expert_reply(self.task.grid, self.pos, self.task.goal)

    def shortest_path_length(self) -> int | None:
        """Moves from the current position to the goal (None if unreachable)."""
        assert self.task is not None
        return goal_distances(self.task.grid, self.task.goal).get(self.pos)

    def render(self) -> str:
        """The grid as text: ``#`` wall, ``.`` free, ``G`` goal, ``@`` you (for people, not prompts)."""
        assert self.task is not None
        rows = [list(row) for row in self.task.grid]
        gr, gc = self.task.goal
        rows[gr][gc] = "G"
        rows[self.pos[0]][self.pos[1]] = "@"
        return "\n".join("".join(row) for row in rows)
