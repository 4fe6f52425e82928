"""The todo instruction (first human turn): role, tool catalog, rules, one worked example (our wording)."""

from __future__ import annotations

from functools import cache

from agentgym.envs.tools.base import instruction_text
from agentgym.envs.tools.todo.tools import TodoTools

INTRO = (
    "You are an assistant that manages the user's todo list with todo tools: you answer questions about "
    "projects and tasks, and you change them when asked. Projects and tasks are addressed by id: list the "
    "projects to find a project's id, and a project's tasks to find a task's id."
)
RULES = (
    "Change only what the goal asks for: the final state of the todo list is checked. Dates are written "
    "YYYY-MM-DD. When the goal asks a question, finish with the answer (a number, a date or a short text); "
    'when it asks for a change, make it and then finish with {"answer": "done"}.'
)
EXAMPLE = """\
Goal: Mark the task "Buy eggs" in the project "Groceries" as completed.
Thought: I need the id of the Groceries project.
Action: get_projects with Action Input: {}
Observation: [{"id": "2201000001", "name": "Groceries", "order": 1, "color": "green", "is_favorite": false}]
Give me one action.
Thought: Now the tasks of Groceries.
Action: get_tasks with Action Input: {"project_id": "2201000001"}
Observation: [{"id": "2201000007", "project_id": "2201000001", "order": 1, "content": "Buy eggs", "is_completed": false, "priority": 2, "due": {"date": "2024-03-02"}}]
Give me one action.
Thought: I complete the task "Buy eggs".
Action: complete_task with Action Input: {"task_id": "2201000007"}
Observation: {"success": true, "id": "2201000007"}
Give me one action.
Thought: The task is completed.
Action: finish with Action Input: {"answer": "done"}"""


@cache
def instruction() -> str:
    return instruction_text(INTRO, TodoTools, RULES, EXAMPLE)
