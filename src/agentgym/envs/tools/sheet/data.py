"""The local spreadsheet backend: an in-memory workbook model and generated workbooks.

Stands in for Google Sheets (gspread, a service account and the network in the original). A
`Workbook` holds named sheets; a `Sheet` is a grid of raw values (numbers, text, or formulas
starting with ``=``, evaluated by `sheet.formula` on read), plus notes, merged ranges and frozen
rows/columns. Each episode gets its own copy (`generate` builds it from the task's seed), so
sessions never share a sheet. `state` flattens a workbook into what the final check compares.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agentgym.core.seeding import make_rng
from agentgym.envs.tools.sheet.formula import FormulaError, a1, evaluate, is_number

VERSION = "1"
MAX_ROWS, MAX_COLS = 500, 50


class CellError(Exception):
    pass


def coerce(value: Any) -> Any:
    """A written value as a spreadsheet stores it: numbers from numeric text, ``None`` -> empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if is_number(value):
        return value
    text = str(value)
    stripped = text.strip()
    if stripped and not stripped.startswith("="):
        try:
            num = float(stripped.replace(",", "")) if stripped.count(",") == 0 else None
        except ValueError:
            num = None
        if num is not None:
            return (
                int(num) if num.is_integer() and "." not in stripped and "e" not in stripped.lower() else num
            )
    return text


@dataclass
class Sheet:
    name: str
    cells: list[list[Any]]
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # r1, c1, r2, c2 (inclusive)
    frozen_rows: int = 0
    frozen_cols: int = 0

    # ------------------------------------------------------------------ size
    @property
    def n_rows(self) -> int:
        return len(self.cells)

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.cells), default=0)

    def ensure(self, row: int, col: int) -> None:
        """Grow the grid (rectangular) so that (row, col) exists."""
        if row >= MAX_ROWS or col >= MAX_COLS:
            raise CellError(f"the sheet is limited to {MAX_ROWS} rows and {MAX_COLS} columns")
        while len(self.cells) <= row:
            self.cells.append([])
        self.square(col + 1)

    def square(self, width: int = 0) -> None:
        width = max(width, self.n_cols)
        for r in self.cells:
            r.extend([""] * (width - len(r)))

    # ------------------------------------------------------------------ values
    def raw(self, row: int, col: int) -> Any:
        if 0 <= row < self.n_rows and 0 <= col < len(self.cells[row]):
            return self.cells[row][col]
        return ""

    def value(self, row: int, col: int, memo: dict[tuple[int, int], Any] | None = None) -> Any:
        """The computed value of a cell (formulas evaluated, cycles reported as ``#CYCLE!``).

        ``memo`` holds the formula values computed so far in one read of the sheet: each formula
        cell is evaluated once, so a chain such as ``B2 = B1+B1, B3 = B2+B2, ...`` stays linear
        instead of exponential (a model could otherwise stall the server with a few cells).
        """
        return self._value(row, col, {} if memo is None else memo, set())

    def _value(
        self, row: int, col: int, memo: dict[tuple[int, int], Any], stack: set[tuple[int, int]]
    ) -> Any:
        raw = self.raw(row, col)
        if not (isinstance(raw, str) and raw.startswith("=")):
            return raw
        key = (row, col)
        if key in memo:
            return memo[key]
        stack.add(key)

        def read(r: int, c: int) -> Any:
            if (r, c) in stack:
                raise FormulaError("#CYCLE!")
            return self._value(r, c, memo, stack)

        out = evaluate(raw, read)
        stack.discard(key)
        memo[key] = out
        return out

    def values(self) -> list[list[Any]]:
        memo: dict[tuple[int, int], Any] = {}
        return [[self.value(r, c, memo) for c in range(self.n_cols)] for r in range(self.n_rows)]

    def set(self, row: int, col: int, value: Any) -> None:
        self.ensure(row, col)
        self.cells[row][col] = coerce(value)


@dataclass
class Workbook:
    sheets: dict[str, Sheet]

    def copy(self) -> Workbook:
        return copy.deepcopy(self)


def _norm(value: Any) -> Any:
    if is_number(value):
        return round(float(value), 6)
    return str(value).strip()


def state(book: Workbook) -> dict[Any, Any]:
    """The workbook as comparable items: sheet names, computed non-empty cells, notes, merges, freezes."""
    out: dict[Any, Any] = {("sheets",): tuple(book.sheets)}
    for name, sh in book.sheets.items():
        for r, row in enumerate(sh.values()):
            for c, v in enumerate(row):
                if v != "":
                    out[(name, a1(r, c))] = _norm(v)
        for (r, c), note in sh.notes.items():
            out[(name, "note", a1(r, c))] = note.strip()
        out[(name, "merged")] = tuple(sorted(sh.merged))
        out[(name, "frozen")] = (sh.frozen_rows, sh.frozen_cols)
    return out


def match_score(got: dict[Any, Any], want: dict[Any, Any]) -> float:
    """Share of items (over both states) that are equal: 1.0 only for an identical workbook."""
    keys = set(got) | set(want)
    if not keys:
        return 1.0
    same = sum(1 for k in keys if k in got and k in want and got[k] == want[k])
    return same / len(keys)


# ------------------------------------------------------------------------------------ generation
PRODUCTS = ("Laptop", "Monitor", "Keyboard", "Mouse", "Headset", "Webcam", "Printer", "Tablet", "Router",
            "Speaker", "Charger", "Desk Lamp", "Microphone", "Scanner")  # fmt: skip
REGIONS = ("North", "South", "East", "West", "Central")
STUDENTS = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hiro", "Isla", "Jamal", "Kira",
            "Luis", "Mona", "Nils", "Olga", "Priya")  # fmt: skip
ITEMS = (("Bolts", "Hardware"), ("Screws", "Hardware"), ("Nails", "Hardware"), ("Glue", "Supplies"),
         ("Tape", "Supplies"), ("Paint", "Supplies"), ("Gloves", "Safety"), ("Goggles", "Safety"),
         ("Helmet", "Safety"), ("Drill", "Tools"), ("Saw", "Tools"), ("Hammer", "Tools"), ("Pliers", "Tools"))  # fmt: skip
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip


def _sales(rng: random.Random) -> list[list[Any]]:
    rows: list[list[Any]] = [["Product", "Region", "Units", "Price"]]
    for p in rng.sample(PRODUCTS, rng.randint(6, 10)):
        rows.append([p, rng.choice(REGIONS), rng.randint(5, 200), round(rng.uniform(5, 900), 2)])
    return rows


def _grades(rng: random.Random) -> list[list[Any]]:
    rows: list[list[Any]] = [["Student", "Math", "English", "Science"]]
    for s in rng.sample(STUDENTS, rng.randint(6, 10)):
        rows.append([s, *(rng.randint(35, 100) for _ in range(3))])
    return rows


def _inventory(rng: random.Random) -> list[list[Any]]:
    rows: list[list[Any]] = [["Item", "Category", "Stock", "Reorder Level"]]
    for item, cat in rng.sample(ITEMS, rng.randint(6, 10)):
        rows.append([item, cat, rng.randint(0, 500), rng.choice((20, 50, 100))])
    return rows


def _expenses(rng: random.Random) -> list[list[Any]]:
    rows: list[list[Any]] = [["Month", "Rent", "Food", "Transport"]]
    start = rng.randint(0, 5)
    for m in MONTHS[start : start + rng.randint(5, 7)]:
        rows.append([m, rng.choice((900, 1100, 1250)), rng.randint(180, 650), rng.randint(40, 220)])
    return rows


KINDS = {"Sales": _sales, "Grades": _grades, "Inventory": _inventory, "Expenses": _expenses}


@lru_cache(maxsize=512)
def _generate(seed: int) -> Workbook:
    rng = make_rng("sheet-book", VERSION, seed)
    names = rng.sample(sorted(KINDS), rng.randint(2, 3))
    return Workbook({n: Sheet(n, KINDS[n](rng)) for n in names})


def generate(seed: int) -> Workbook:
    """A fresh copy of workbook ``seed`` (the caller may change it)."""
    return _generate(seed).copy()
