"""The todo tools (the original Todoist-style names and arguments) over the episode's SQLite store.

Every query is parameterised; the agent's values are never spliced into SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from agentgym.envs.tools.base import Toolbox, ToolError, UserContext, as_str, tool
from agentgym.envs.tools.todo import data


class TodoTools(UserContext, Toolbox):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.conn = data.open_store(data.world(int(config["world"]), str(config["current_date"])))

    def close(self) -> None:
        self.conn.close()

    def snapshot(self) -> Any:
        return data.snapshot(self.conn)

    def _task(self, task_id: Any) -> Any:
        tid = as_str(task_id, "task_id")
        row = self.conn.execute("SELECT * FROM tasks WHERE id = ? AND is_completed = 0", (tid,)).fetchone()
        if row is None:
            raise ToolError(f"no open task with id {tid} (get_tasks lists a project's task ids)")
        return row

    def _change(self, sql: str, params: tuple[Any, ...]) -> None:
        self.conn.execute(sql, params)
        self.conn.commit()

    @tool(
        "List all projects.", "the projects with their id, name, order, color and whether they are favourites"
    )
    def get_projects(self) -> list[dict[str, Any]]:
        rows = self.conn.execute('SELECT * FROM projects ORDER BY "order"').fetchall()
        return [
            {"id": r["id"], "name": r["name"], "order": r["order"], "color": r["color"],
             "is_favorite": bool(r["is_favorite"])}
            for r in rows
        ]  # fmt: skip

    @tool("Mark a project as a favourite or not (is_favorite: true or false).")
    def update_project(self, project_id: Any, is_favorite: Any) -> dict[str, Any]:
        pid = as_str(project_id, "project_id")
        if isinstance(is_favorite, str) and is_favorite.strip().lower() in ("true", "false"):
            is_favorite = is_favorite.strip().lower() == "true"
        if not isinstance(is_favorite, bool):
            raise ToolError("is_favorite must be true or false")
        if self.conn.execute("SELECT 1 FROM projects WHERE id = ?", (pid,)).fetchone() is None:
            raise ToolError(f"no project with id {pid} (get_projects lists them)")
        self._change("UPDATE projects SET is_favorite = ? WHERE id = ?", (int(is_favorite), pid))
        return {"success": True, "id": pid, "is_favorite": is_favorite}

    @tool("List the open (not completed) tasks of a project.",
          "the tasks with id, content, priority (4 is the most urgent) and due date")  # fmt: skip
    def get_tasks(self, project_id: Any) -> list[dict[str, Any]]:
        pid = as_str(project_id, "project_id")
        if self.conn.execute("SELECT 1 FROM projects WHERE id = ?", (pid,)).fetchone() is None:
            raise ToolError(f"no project with id {pid} (get_projects lists them)")
        rows = self.conn.execute(
            'SELECT * FROM tasks WHERE project_id = ? AND is_completed = 0 ORDER BY "order"', (pid,)
        ).fetchall()
        return [
            {"id": r["id"], "project_id": r["project_id"], "order": r["order"], "content": r["content"],
             "is_completed": False, "priority": r["priority"],
             "due": None if r["due_date"] is None else {"date": r["due_date"]}}
            for r in rows
        ]  # fmt: skip

    @tool("Get the description of a task.")
    def get_task_description(self, task_id: Any) -> dict[str, Any]:
        r = self._task(task_id)
        return {"id": r["id"], "content": r["content"], "description": r["description"]}

    @tool("Get the planned duration of a task (an amount and a unit: minute or day).")
    def get_task_duration(self, task_id: Any) -> dict[str, Any]:
        r = self._task(task_id)
        duration = (
            None
            if r["duration_unit"] is None
            else {"amount": r["duration_amount"], "unit": r["duration_unit"]}
        )
        return {"id": r["id"], "content": r["content"], "duration": duration}

    @tool("Mark a task as completed.")
    def complete_task(self, task_id: Any) -> dict[str, Any]:
        r = self._task(task_id)
        self._change("UPDATE tasks SET is_completed = 1 WHERE id = ?", (r["id"],))
        return {"success": True, "id": r["id"]}

    @tool("Change the due date of a task (due_date: YYYY-MM-DD).")
    def update_task(self, task_id: Any, due_date: Any) -> dict[str, Any]:
        r = self._task(task_id)
        text = as_str(due_date, "due_date")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ToolError(f"due_date must be written YYYY-MM-DD, not {text!r}") from None
        self._change("UPDATE tasks SET due_date = ? WHERE id = ?", (day.isoformat(), r["id"]))
        return {"success": True, "id": r["id"], "due": {"date": day.isoformat()}}

    @tool("Delete a task.")
    def delete_task(self, task_id: Any) -> dict[str, Any]:
        r = self._task(task_id)
        self._change("DELETE FROM tasks WHERE id = ?", (r["id"],))
        return {"success": True, "id": r["id"]}

    @tool("List the tools you can use.")
    def check_valid_actions(self) -> list[str]:
        return [*self.catalog(), "finish"]
