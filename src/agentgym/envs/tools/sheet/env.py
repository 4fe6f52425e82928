"""`SheetEnv`: edit and read a spreadsheet workbook with the original sheet tools, in memory.

15 rounds. As the original, the reward of ``finish`` is the content-match score of the final
workbook against the expected one (the share of equal cells, notes, merges, freezes and sheet
names; 1.0 only when identical), and 0 when a query task's answer is wrong. Each episode edits
its own copy of the task's workbook.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentgym.core.types import EnvSpec
from agentgym.envs.tools.base import MAX_REPLY_CHARS, ToolEnv, ToolTask
from agentgym.envs.tools.sheet import data, prompt, tasks
from agentgym.envs.tools.sheet.tools import SheetTools


class SheetEnv(ToolEnv):
    spec = EnvSpec(
        id="sheet",
        version=tasks.VERSION,
        max_rounds=15,
        metric="success",
        action_format="raw",
        max_action_chars=MAX_REPLY_CHARS,
        ack="Ok.",
        splits=tasks.splits(),
        description="Spreadsheet edits and questions on generated workbooks (in-memory model, formulas evaluated).",
    )
    toolbox_cls = SheetTools

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.expected: dict = {}  # the workbook state the episode must end with

    def instruction(self) -> str:
        return prompt.instruction()

    def task_list(self) -> Sequence[ToolTask]:
        return tasks.all_tasks()

    def make_toolbox(self, task: ToolTask) -> SheetTools:
        self.expected = tasks.expected_state(task.config, list(task.calls))
        return SheetTools(task.config)

    def state_score(self) -> float:
        assert isinstance(self.box, SheetTools)
        return data.match_score(self.box.snapshot(), self.expected)

    def final_reward(self, answer_ok: bool) -> float:
        return self.state_score() if answer_ok else 0.0
