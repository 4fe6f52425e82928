"""`TodoEnv`: manage a todo list with the original Todoist-style tools over a private SQLite store.

15 rounds. As the original, ``finish`` earns 1 only when the answer matches (operation tasks have
no answer to check) AND the final store equals the expected one; else 0. Each episode loads its
task's world into its own in-memory database, so sessions never see each other's changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentgym.core.types import EnvSpec
from agentgym.envs.tools.base import MAX_REPLY_CHARS, ToolEnv, ToolTask
from agentgym.envs.tools.todo import prompt, tasks
from agentgym.envs.tools.todo.tools import TodoTools


class TodoEnv(ToolEnv):
    spec = EnvSpec(
        id="todo",
        version=tasks.VERSION,
        max_rounds=15,
        metric="success",
        action_format="raw",
        max_action_chars=MAX_REPLY_CHARS,
        ack="Ok.",
        splits=tasks.splits(),
        description="A todo list (projects, tasks, due dates, durations) in a per-episode SQLite store.",
    )
    toolbox_cls = TodoTools

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.expected: object = None  # the store the episode must end with

    def instruction(self) -> str:
        return prompt.instruction()

    def task_list(self) -> Sequence[ToolTask]:
        return tasks.all_tasks()

    def make_toolbox(self, task: ToolTask) -> TodoTools:
        self.expected = tasks.expected_state(task.config, list(task.calls))
        return TodoTools(task.config)

    def state_score(self) -> float:
        assert isinstance(self.box, TodoTools)
        return 1.0 if self.box.snapshot() == self.expected else 0.0
