"""The local todo store: generated projects and tasks, loaded into a private SQLite database per episode.

Stands in for the Todoist REST API (which needed an account and a key). A world - projects, their
tasks with due dates, durations, priorities and descriptions - is a pure function of a seed; each
episode loads it into its own in-memory SQLite database, so writes never leak between sessions.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass
from functools import lru_cache

from agentgym.core.seeding import make_rng

VERSION = "1"

PROJECTS: dict[str, tuple[str, ...]] = {
    "Work": ("Prepare the quarterly report", "Review the budget draft", "Send slides to the team",
             "Book the meeting room", "Reply to the client email", "Update the project roadmap",
             "Write the release notes", "Interview a candidate"),
    "Home": ("Fix the kitchen tap", "Clean the garage", "Water the plants", "Pay the electricity bill",
             "Change the bed sheets", "Replace the hallway bulb", "Defrost the freezer"),
    "Groceries": ("Buy milk", "Buy eggs", "Buy coffee beans", "Buy apples", "Buy rice", "Buy olive oil",
                  "Buy bread", "Buy cheese"),
    "Travel": ("Renew the passport", "Book the train tickets", "Reserve a hotel", "Pack the suitcase",
               "Buy travel insurance", "Print the boarding pass", "Exchange currency"),
    "Fitness": ("Go for a 5 km run", "Attend the yoga class", "Swim 20 laps", "Book a tennis court",
                "Stretch for 15 minutes", "Cycle to the lake"),
    "Study": ("Read chapter 4", "Finish the statistics homework", "Review flashcards",
              "Submit the essay", "Watch the recorded lecture", "Prepare for the quiz"),
    "Garden": ("Plant the tomatoes", "Mow the lawn", "Trim the hedge", "Spread the compost",
               "Repair the fence", "Harvest the herbs"),
    "Finance": ("File the tax return", "Check the bank statement", "Cancel the old subscription",
                "Set up a savings plan", "Pay the credit card"),
    "Family": ("Call grandma", "Plan the birthday party", "Pick up the kids", "Buy a gift for Sam",
               "Visit the dentist with Mia"),
}  # fmt: skip
PLACES = (
    "the office",
    "the city library",
    "the post office",
    "the community centre",
    "the bank",
    "the supermarket",
    "the gym",
    "the train station",
    "the town hall",
    "the garden centre",
    "home",
)
COLORS = ("berry_red", "blue", "green", "orange", "grape", "teal", "charcoal", "yellow")


@dataclass(frozen=True)
class TaskRow:
    id: str
    project_id: str
    content: str
    description: str
    due_date: str | None
    duration_amount: int | None
    duration_unit: str | None
    priority: int  # Todoist: 4 is the most urgent
    order: int
    is_completed: int = 0


@dataclass(frozen=True)
class ProjectRow:
    id: str
    name: str
    order: int
    color: str
    is_favorite: int


@dataclass(frozen=True)
class World:
    today: dt.date
    projects: tuple[ProjectRow, ...]
    tasks: tuple[TaskRow, ...]


def _id(rng: random.Random, used: set[str]) -> str:
    while True:
        out = str(rng.randint(2_200_000_000, 2_299_999_999))
        if out not in used:
            used.add(out)
            return out


@lru_cache(maxsize=512)
def world(seed: int, today: str) -> World:
    """The projects and tasks of world ``seed`` around the date ``today``."""
    rng = make_rng("todo-world", VERSION, seed)
    day0 = dt.date.fromisoformat(today)
    used: set[str] = set()
    projects: list[ProjectRow] = []
    tasks: list[TaskRow] = []
    for order, name in enumerate(rng.sample(sorted(PROJECTS), rng.randint(4, 6)), start=1):
        pid = _id(rng, used)
        projects.append(ProjectRow(pid, name, order, rng.choice(COLORS), int(rng.random() < 0.2)))
        for t_order, content in enumerate(
            rng.sample(PROJECTS[name], rng.randint(3, min(6, len(PROJECTS[name])))), start=1
        ):
            due = day0 + dt.timedelta(rng.randint(-5, 14)) if rng.random() < 0.85 else None
            if rng.random() < 0.7:
                unit = "minute" if rng.random() < 0.75 else "day"
                amount = rng.choice((15, 20, 30, 45, 60, 90, 120)) if unit == "minute" else rng.randint(1, 4)
            else:
                unit, amount = None, None
            place = rng.choice(PLACES)
            desc = f"Location: {place}." + (" Bring the documents." if rng.random() < 0.3 else "")
            tasks.append(
                TaskRow(
                    _id(rng, used),
                    pid,
                    content,
                    desc,
                    due.isoformat() if due else None,
                    amount,
                    unit,
                    rng.randint(1, 4),
                    t_order,
                )  # fmt: skip
            )
    return World(day0, tuple(projects), tuple(tasks))


SCHEMA = """
CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, "order" INTEGER, color TEXT,
                       is_favorite INTEGER NOT NULL DEFAULT 0);
CREATE TABLE tasks (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id),
                    content TEXT NOT NULL, description TEXT, due_date TEXT, duration_amount INTEGER,
                    duration_unit TEXT, priority INTEGER, "order" INTEGER,
                    is_completed INTEGER NOT NULL DEFAULT 0);
"""


def open_store(w: World) -> sqlite3.Connection:
    """A fresh in-memory database holding world ``w`` (private to one episode)."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)  # the server serialises calls per session
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO projects VALUES (?,?,?,?,?)", [tuple(vars(p).values()) for p in w.projects])
    conn.executemany(
        "INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?,?,?)", [tuple(vars(t).values()) for t in w.tasks]
    )
    conn.commit()
    return conn


def snapshot(conn: sqlite3.Connection) -> tuple[tuple[tuple, ...], tuple[tuple, ...]]:
    """The whole store as sorted rows: what the final-state check compares."""
    projects = tuple(tuple(r) for r in conn.execute("SELECT * FROM projects ORDER BY id"))
    tasks = tuple(tuple(r) for r in conn.execute("SELECT * FROM tasks ORDER BY id"))
    return projects, tasks
