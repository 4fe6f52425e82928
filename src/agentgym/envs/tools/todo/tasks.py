"""Todo tasks: questions about a generated store and changes to make to it.

Each task has its own world (seed = the generation attempt) and current date. Query tasks have an
answer and expect the store unchanged; operation tasks (complete, reschedule, delete, favourite)
have no answer to check (``None``) and an expected final store. The expected store is obtained at
reset by running the expert's calls on a fresh copy (`expected_state`), so the check and the
expert cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from functools import cache

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.base import Call, ToolTask, split_ids, unique_tasks
from agentgym.envs.tools.todo import data
from agentgym.envs.tools.todo.tools import TodoTools

N_TEST, N_TRAIN = 20, 300
VERSION = data.VERSION
CITIES = ("Berlin", "Toronto", "Osaka", "Lisbon", "Denver", "Melbourne", "Nairobi", "Oslo")

Made = tuple[str, object, list[Call]] | None


def _projects() -> Call:
    return Call("get_projects", {}, "I list the projects to find the project id.")


def _tasks(p: data.ProjectRow) -> Call:
    return Call("get_tasks", {"project_id": p.id}, f'I list the tasks of the project "{p.name}".')


def _pick(rng: random.Random, w: data.World, cond: Callable[[data.TaskRow], bool] = lambda t: True):
    rows = [t for t in w.tasks if cond(t)]
    if not rows:
        return None, None
    t = rng.choice(rows)
    return t, next(p for p in w.projects if p.id == t.project_id)


def _in(w: data.World, p: data.ProjectRow) -> list[data.TaskRow]:
    return [t for t in w.tasks if t.project_id == p.id]


def due_date(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w, lambda t: t.due_date is not None)
    if t is None:
        return None
    return (f'When is the task "{t.content}" in the project "{p.name}" due? Answer YYYY-MM-DD.', t.due_date,
            [_projects(), _tasks(p)])  # fmt: skip


def duration(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w, lambda t: t.duration_unit is not None)
    if t is None:
        return None
    goal = f'How long is the task "{t.content}" in the project "{p.name}" planned to take, in {t.duration_unit}s?'
    calls = [
        _projects(),
        _tasks(p),
        Call("get_task_duration", {"task_id": t.id}, "I read the task's duration."),
    ]
    return goal, t.duration_amount, calls


def top_priority(rng: random.Random, w: data.World) -> Made:
    p = rng.choice(w.projects)
    rows = _in(w, p)
    top = max(t.priority for t in rows)
    best = [t for t in rows if t.priority == top]
    if len(best) != 1:
        return None
    goal = f'Which task in the project "{p.name}" has the highest priority (4 is the most urgent)?'
    return goal, best[0].content, [_projects(), _tasks(p)]


def due_first(rng: random.Random, w: data.World) -> Made:
    p = rng.choice(w.projects)
    dated = [t for t in _in(w, p) if t.due_date]
    if not dated:
        return None
    first = min(t.due_date for t in dated if t.due_date)
    best = [t for t in dated if t.due_date == first]
    if len(best) != 1:
        return None
    return f'Which task in the project "{p.name}" is due first?', best[0].content, [_projects(), _tasks(p)]


def due_today(rng: random.Random, w: data.World) -> Made:
    p = rng.choice(w.projects)
    n = sum(1 for t in _in(w, p) if t.due_date == w.today.isoformat())
    goal = f'How many tasks in the project "{p.name}" are due today?'
    calls = [Call("get_user_current_date", {}, "I need today's date."), _projects(), _tasks(p)]
    return goal, n, calls


def location(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w)
    place = t.description.split(".")[0].removeprefix("Location: ")
    goal = f'Where do I need to be for the task "{t.content}" in the project "{p.name}"?'
    calls = [
        _projects(),
        _tasks(p),
        Call("get_task_description", {"task_id": t.id}, "The description says where."),
    ]
    return goal, place, calls


def complete(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w)
    goal = f'Mark the task "{t.content}" in the project "{p.name}" as completed.'
    return (
        goal,
        None,
        [_projects(), _tasks(p), Call("complete_task", {"task_id": t.id}, "I complete the task.")],
    )


def reschedule(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w)
    new = (w.today + dt.timedelta(rng.randint(1, 30))).isoformat()
    if new == t.due_date:
        return None
    goal = f'Change the due date of the task "{t.content}" in the project "{p.name}" to {new}.'
    calls = [
        _projects(),
        _tasks(p),
        Call("update_task", {"task_id": t.id, "due_date": new}, "I set the new due date."),
    ]
    return goal, None, calls


def postpone(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w, lambda t: t.due_date is not None)
    if t is None:
        return None
    n = rng.randint(1, 7)
    new = (dt.date.fromisoformat(t.due_date) + dt.timedelta(n)).isoformat()
    goal = f'Postpone the task "{t.content}" in the project "{p.name}" by {n} day{"s" * (n > 1)}.'
    calls = [_projects(), _tasks(p),
             Call("update_task", {"task_id": t.id, "due_date": new}, f"It is due {t.due_date}; {n} days later is {new}.")]  # fmt: skip
    return goal, None, calls


def delete(rng: random.Random, w: data.World) -> Made:
    t, p = _pick(rng, w)
    goal = f'Delete the task "{t.content}" from the project "{p.name}".'
    return goal, None, [_projects(), _tasks(p), Call("delete_task", {"task_id": t.id}, "I delete the task.")]


def favourite(rng: random.Random, w: data.World) -> Made:
    plain = [p for p in w.projects if not p.is_favorite]
    if not plain:
        return None
    p = rng.choice(plain)
    goal = f'Mark the project "{p.name}" as a favourite.'
    return (
        goal,
        None,
        [_projects(), Call("update_project", {"project_id": p.id, "is_favorite": True}, "I mark it.")],
    )


def complete_overdue(rng: random.Random, w: data.World) -> Made:
    p = rng.choice(w.projects)
    late = [t for t in _in(w, p) if t.due_date and t.due_date < w.today.isoformat()]
    if not 1 <= len(late) <= 3:
        return None
    goal = f'Complete every task in the project "{p.name}" that is overdue (due before today).'
    calls = [Call("get_user_current_date", {}, "I need today's date."), _projects(), _tasks(p)]
    calls += [
        Call("complete_task", {"task_id": t.id}, f'"{t.content}" was due {t.due_date}: I complete it.')
        for t in late
    ]
    return goal, None, calls


TEMPLATES: tuple[Callable[[random.Random, data.World], Made], ...] = (
    due_date, complete, duration, reschedule, top_priority, delete, due_first, favourite,
    due_today, postpone, location, complete_overdue,
)  # fmt: skip


def expected_state(config: dict[str, object], calls: list[Call]) -> object:
    """The store after ``calls`` on a fresh copy (a failing call is a generator bug: it raises)."""
    box = TodoTools(config)
    try:
        for c in calls:
            box.call(c.name, c.args)
        return box.snapshot()
    finally:
        box.close()


def _make(attempt: int) -> ToolTask | None:
    rng = make_rng("todo-task", VERSION, attempt)
    today = (dt.date(2024, 1, 1) + dt.timedelta(rng.randint(0, 600))).isoformat()
    config = {"current_date": today, "current_location": rng.choice(CITIES), "world": attempt}
    build = TEMPLATES[attempt % len(TEMPLATES)]
    made = build(rng, data.world(attempt, today))
    if made is None:
        return None
    goal, answer, calls = made
    return ToolTask(goal, answer, tuple(calls), config, build.__name__)


@cache
def all_tasks() -> list[ToolTask]:
    # the same goal in another world (other tasks, another date) is another task
    return unique_tasks(_make, N_TEST + N_TRAIN, N_TEST, key=lambda t: f"{t.goal}|{t.config['current_date']}")


def splits() -> dict[str, list[int]]:
    return split_ids(N_TEST, N_TRAIN)
