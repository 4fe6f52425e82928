"""`WeatherEnv`: answer weather questions with the original weather tools over local data.

10 rounds; reward 1 when ``finish`` gives the task's answer (numbers within 0.01), else 0 - the
original's progress rate, which is binary for single-subgoal tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentgym.core.types import EnvSpec
from agentgym.envs.tools.base import MAX_REPLY_CHARS, ToolEnv, ToolTask
from agentgym.envs.tools.weather import prompt, tasks
from agentgym.envs.tools.weather.tools import WeatherTools


class WeatherEnv(ToolEnv):
    spec = EnvSpec(
        id="weather",
        version=tasks.VERSION,
        max_rounds=10,
        metric="success",
        action_format="raw",
        max_action_chars=MAX_REPLY_CHARS,
        ack="Ok.",
        splits=tasks.splits(),
        description="Weather questions answered with open-meteo-style tools over generated local weather data.",
    )
    toolbox_cls = WeatherTools

    def instruction(self) -> str:
        return prompt.instruction()

    def task_list(self) -> Sequence[ToolTask]:
        return tasks.all_tasks()

    def make_toolbox(self, task: ToolTask) -> WeatherTools:
        return WeatherTools(task.config)
