"""`AcademiaEnv`: answer questions over a citation graph with AgentBoard's academia tools.

12 rounds; reward 1 when ``finish`` gives the task's answer, else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentgym.core.types import EnvSpec
from agentgym.envs.tools.academia import prompt, tasks
from agentgym.envs.tools.academia.tools import AcademiaTools
from agentgym.envs.tools.base import MAX_REPLY_CHARS, ToolEnv, ToolTask


class AcademiaEnv(ToolEnv):
    spec = EnvSpec(
        id="academia",
        version=tasks.VERSION,
        max_rounds=12,
        metric="success",
        action_format="raw",
        max_action_chars=MAX_REPLY_CHARS,
        ack="Ok.",
        splits=tasks.splits(),
        description="Questions over a generated citation graph (PaperNet) and co-author graph (AuthorNet).",
    )
    toolbox_cls = AcademiaTools

    def instruction(self) -> str:
        return prompt.instruction()

    def task_list(self) -> Sequence[ToolTask]:
        return tasks.all_tasks()

    def make_toolbox(self, task: ToolTask) -> AcademiaTools:
        return AcademiaTools(task.config)
