"""Sheet tasks: changes to make to a generated workbook (and a few questions about it).

Each task has its own workbook (seed = the generation attempt); a goal recurs only with another
workbook. Operation tasks have no answer to
check; query tasks have an answer and expect the workbook unchanged. The expected final workbook
is obtained at reset by running the expert's calls on a fresh copy (`expected_state`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import cache
from statistics import mean
from typing import Any

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.base import Call, ToolTask, split_ids, unique_tasks
from agentgym.envs.tools.sheet import data
from agentgym.envs.tools.sheet.formula import a1
from agentgym.envs.tools.sheet.tools import SheetTools

N_TEST, N_TRAIN = 20, 300
VERSION = data.VERSION

Made = tuple[str, object, list[Call]] | None
NUMERIC = {"Sales": ("Units", "Price"), "Grades": ("Math", "English", "Science"),
           "Inventory": ("Stock", "Reorder Level"), "Expenses": ("Rent", "Food", "Transport")}  # fmt: skip
NOTES = (
    "check this value",
    "confirmed by the manager",
    "needs review",
    "updated last week",
    "verify with finance",
)


def _open(name: str) -> Call:
    return Call("open_sheet", {"name": name}, f"I open the sheet {name}.")


def _look() -> Call:
    return Call("get_all_values", {}, "I read the whole sheet to find the rows and columns.")


def _pick(rng: random.Random, book: data.Workbook) -> tuple[str, data.Sheet]:
    name = rng.choice(sorted(book.sheets))
    return name, book.sheets[name]


def _col(sh: data.Sheet, header: str) -> int:
    return sh.cells[0].index(header)


def sort_rows(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    desc = rng.random() < 0.5
    goal = f"In the sheet {name}, sort the rows by {header} in {'descending' if desc else 'ascending'} order (keep the header row on top)."
    calls = [_open(name), _look(),
             Call("sort_sheet_by_col", {"col_num": _col(sh, header) + 1, "order": "des" if desc else "asc"},
                  f"{header} is column {_col(sh, header) + 1}; I sort by it.")]  # fmt: skip
    return goal, None, calls


def total_below(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    c, last = _col(sh, header), sh.n_rows - 1
    op, word = rng.choice(
        (("SUM", "total"), ("AVERAGE", "average"), ("MAX", "largest value"), ("MIN", "smallest value"))
    )
    goal = f"In the sheet {name}, write the {word} of the {header} column into the cell just below its last value."
    args = {
        "start_position": a1(1, c),
        "end_position": a1(last, c),
        "result_position": a1(last + 1, c),
        "operator": op,
    }
    calls = [
        _open(name),
        _look(),
        Call("update_cell_by_formula", args, f"I put a {op} formula under the {header} values."),
    ]
    return goal, None, calls


def set_value(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    r = rng.randint(1, sh.n_rows - 1)
    key = sh.cells[r][0]
    new = rng.randint(1, 999)
    if new == sh.cells[r][_col(sh, header)]:
        return None
    goal = f"In the sheet {name}, change the {header} of {key} to {new}."
    calls = [_open(name),
             Call("filter_cells", {"query": key, "in_column": 1}, f"I find the row of {key}."),
             Call("update_cell", {"position": a1(r, _col(sh, header)), "value": new}, f"{header} is column {_col(sh, header) + 1}; I write {new}.")]  # fmt: skip
    return goal, None, calls


def delete_low(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    c = _col(sh, header)
    values = sorted({sh.cells[r][c] for r in range(1, sh.n_rows)})
    if len(values) < 4:
        return None
    bound = values[rng.randint(1, min(3, len(values) - 2))]
    rows = [r + 1 for r in range(1, sh.n_rows) if sh.cells[r][c] < bound]
    goal = f"In the sheet {name}, delete every row whose {header} is below {bound}."
    calls = [_open(name), _look(),
             Call("delete_batch_data", {"dimension": "row", "index_list": rows}, f"Rows {rows} have {header} below {bound}.")]  # fmt: skip
    return goal, None, calls


def insert_row(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    src = sh.cells[rng.randint(1, sh.n_rows - 1)]
    label = f"New {sh.cells[0][0]}"
    row = [label, *(v if isinstance(v, str) else rng.randint(1, 300) for v in src[1:])]
    goal = f"In the sheet {name}, add the row {json.dumps(row)} directly below the header."
    calls = [
        _open(name),
        Call(
            "insert_rows", {"values_list": [row], "row_idx": 2}, "The header is row 1, so I insert at row 2."
        ),
    ]
    return goal, None, calls


def id_column(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    col = ["ID", *range(1, sh.n_rows)]
    goal = f'In the sheet {name}, insert a new first column with the header "ID" numbering the data rows 1, 2, 3, ...'
    calls = [_open(name), _look(),
             Call("insert_cols", {"values_list": [col], "col_idx": 1}, f"There are {sh.n_rows - 1} data rows.")]  # fmt: skip
    return goal, None, calls


def note_max(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    c = _col(sh, header)
    vals = [sh.cells[r][c] for r in range(1, sh.n_rows)]
    if vals.count(max(vals)) != 1:
        return None
    r = 1 + vals.index(max(vals))
    text = rng.choice(NOTES)
    goal = f'In the sheet {name}, add the note "{text}" to the cell holding the largest {header} value.'
    calls = [_open(name), _look(),
             Call("update_note", {"position": a1(r, c), "content": text}, f"The largest {header} is in {a1(r, c)}.")]  # fmt: skip
    return goal, None, calls


def freeze(rng: random.Random, book: data.Workbook) -> Made:
    name, _ = _pick(rng, book)
    dim, n = rng.choice((("rows", 1), ("rows", 2), ("columns", 1)))
    what = {
        ("rows", 1): "the header row",
        ("rows", 2): "the first two rows",
        ("columns", 1): "the first column",
    }[(dim, n)]
    goal = f"In the sheet {name}, freeze {what}."
    return (
        goal,
        None,
        [_open(name), Call("freeze_data", {"dimension": dim, "num": n}, f"I freeze {n} {dim}.")],
    )


def remove_sheet(rng: random.Random, book: data.Workbook) -> Made:
    name, _ = _pick(rng, book)
    return (
        f"Delete the sheet {name} from the workbook.",
        None,
        [Call("del_sheet", {"name": name}, f"I delete {name}.")],
    )


def average(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    c = _col(sh, header)
    avg = round(mean(sh.cells[r][c] for r in range(1, sh.n_rows)), 2)
    goal = f"What is the average {header} in the sheet {name}? Round to 2 decimals; do not change the sheet."
    args = {"start_position": a1(1, c), "end_position": a1(sh.n_rows - 1, c), "operator": "AVERAGE"}
    calls = [_open(name), _look(), Call("get_value_by_formula", args, f"I average the {header} column.")]
    return goal, avg, calls


def lookup(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    r = rng.randint(1, sh.n_rows - 1)
    c = rng.randint(1, sh.n_cols - 1)
    key, header = sh.cells[r][0], sh.cells[0][c]
    goal = f"In the sheet {name}, what is the {header} of {key}? Do not change the sheet."
    calls = [_open(name), Call("filter_cells", {"query": key, "in_column": 1}, f"I find the row of {key}."),
             Call("get_cell_value", {"position": a1(r, c)}, f"{header} is column {c + 1}.")]  # fmt: skip
    return goal, sh.cells[r][c], calls


def replace_column(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    header = rng.choice(NUMERIC[name])
    c = _col(sh, header)
    n = sh.n_rows - 1
    new = [rng.randint(1, 500) for _ in range(n)]
    goal = f"In the sheet {name}, replace the {header} values, top to bottom, with {new}."
    args = {"start_position": a1(1, c), "end_position": a1(n, c), "values_list": [[v] for v in new]}
    calls = [
        _open(name),
        _look(),
        Call("update_range", args, f"I write the {n} values into the {header} column."),
    ]
    return goal, None, calls


def merge_header(rng: random.Random, book: data.Workbook) -> Made:
    name, sh = _pick(rng, book)
    title = f"{name} report"
    goal = (f'In the sheet {name}, insert a new first row whose first cell says "{title}", then merge that '
            "row's cells across all the table's columns.")  # fmt: skip
    calls = [_open(name), Call("insert_rows", {"values_list": [[title]], "row_idx": 1}, "I insert the title row."),
             Call("merge_cells", {"start_position": "A1", "end_position": a1(0, sh.n_cols - 1)}, "I merge the title row.")]  # fmt: skip
    return goal, None, calls


TEMPLATES: tuple[Callable[[random.Random, data.Workbook], Made], ...] = (
    sort_rows, total_below, set_value, delete_low, insert_row, id_column, note_max, freeze,
    remove_sheet, average, lookup, replace_column, merge_header,
)  # fmt: skip


def expected_state(config: dict[str, Any], calls: list[Call]) -> dict[Any, Any]:
    """The workbook after ``calls`` on a fresh copy (a failing call is a generator bug: it raises)."""
    box = SheetTools(config)
    for c in calls:
        box.call(c.name, c.args)
    return box.snapshot()


def _make(attempt: int) -> ToolTask | None:
    rng = make_rng("sheet-task", VERSION, attempt)
    build = TEMPLATES[attempt % len(TEMPLATES)]
    made = build(rng, data.generate(attempt))
    if made is None:
        return None
    goal, answer, calls = made
    return ToolTask(goal, answer, tuple(calls), {"world": attempt}, build.__name__)


@cache
def all_tasks() -> list[ToolTask]:
    # the same goal on another workbook (other rows and values) is another task
    return unique_tasks(_make, N_TEST + N_TRAIN, N_TEST, key=lambda t: f"{t.goal}|{t.config['world']}")


def splits() -> dict[str, list[int]]:
    return split_ids(N_TEST, N_TRAIN)
