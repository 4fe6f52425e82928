"""`MovieEnv`: answer movie questions with the original TMDB-style tools over a local movie database.

12 rounds; reward 1 when ``finish`` gives the task's answer (lists in any order), else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentgym.core.types import EnvSpec
from agentgym.envs.tools.base import MAX_REPLY_CHARS, ToolEnv, ToolTask
from agentgym.envs.tools.movie import prompt, tasks
from agentgym.envs.tools.movie.tools import MovieTools


class MovieEnv(ToolEnv):
    spec = EnvSpec(
        id="movie",
        version=tasks.VERSION,
        max_rounds=12,
        metric="success",
        action_format="raw",
        max_action_chars=MAX_REPLY_CHARS,
        ack="Ok.",
        splits=tasks.splits(),
        description="Movie questions answered with TMDB-style tools over a generated local movie database.",
    )
    toolbox_cls = MovieTools

    def instruction(self) -> str:
        return prompt.instruction()

    def task_list(self) -> Sequence[ToolTask]:
        return tasks.all_tasks()

    def make_toolbox(self, task: ToolTask) -> MovieTools:
        return MovieTools(task.config)
