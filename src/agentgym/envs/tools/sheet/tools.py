"""The sheet tools (the original gspread-based names and arguments) over the episode's own workbook.

Conventions, as the original: positions are A1 notation ("B3"); row and column numbers are
1-based; ``values_list`` is a list of rows (``insert_rows``, ``update_range``) or of columns
(``insert_cols``). Most tools act on the open sheet: call ``open_sheet`` first. The first row is a
header: ``sort_sheet_by_col`` keeps it (and any further frozen rows) in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentgym.envs.tools.base import Toolbox, ToolError, as_int, as_str, tool
from agentgym.envs.tools.sheet import data
from agentgym.envs.tools.sheet.formula import FUNCS, a1, evaluate, is_number, parse_a1

OPERATORS = (*FUNCS, "MINUS", "DIVIDE")
Remap = Callable[[int], int | None]


def _pos(value: Any, name: str) -> tuple[int, int]:
    text = as_str(value, name)
    try:
        row, col = parse_a1(text)
    except ValueError as e:
        raise ToolError(f"{name}: {e}") from None
    if row >= data.MAX_ROWS or col >= data.MAX_COLS:
        raise ToolError(f"{name} {text} is outside the sheet ({data.MAX_ROWS} rows, {data.MAX_COLS} columns)")
    return row, col


def _grid(value: Any, name: str) -> list[list[Any]]:
    """A list of lists of cell values (a flat list is one row/column)."""
    if isinstance(value, list) and value and all(not isinstance(v, (list, dict)) for v in value):
        value = [value]
    if not (isinstance(value, list) and value and all(isinstance(r, list) for r in value)):
        raise ToolError(f"{name} must be a list of lists of values, such as [[1, 2], [3, 4]]")
    for r in value:
        if any(isinstance(v, (list, dict)) for v in r):
            raise ToolError(f"{name}: a cell value must be a number or a text")
    return value


class SheetTools(Toolbox):
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.book = data.generate(int(config["world"]))
        self.current: str | None = None

    @property
    def sheet(self) -> data.Sheet:
        if self.current is None or self.current not in self.book.sheets:
            raise ToolError(
                f"no sheet is open: call open_sheet first (sheets: {', '.join(self.book.sheets)})"
            )
        return self.book.sheets[self.current]

    # ------------------------------------------------------------------ structure helpers
    def _remap(self, rows: Remap | None = None, cols: Remap | None = None) -> None:
        """Move notes and merged ranges after rows/columns were inserted, deleted or reordered."""
        sh = self.sheet
        keep_r: Remap = rows or (lambda r: r)
        keep_c: Remap = cols or (lambda c: c)
        notes = {}
        for (r, c), text in sh.notes.items():
            nr, nc = keep_r(r), keep_c(c)
            if nr is not None and nc is not None:
                notes[(nr, nc)] = text
        sh.notes = notes
        merged = []
        for r1, c1, r2, c2 in sh.merged:
            new = (keep_r(r1), keep_c(c1), keep_r(r2), keep_c(c2))
            if None not in new and new[2] - new[0] == r2 - r1 and new[3] - new[1] == c2 - c1:  # type: ignore[operator]
                merged.append(new)
        sh.merged = merged  # type: ignore[assignment]

    def _range(self, start_position: Any, end_position: Any) -> tuple[int, int, int, int]:
        (r1, c1), (r2, c2) = _pos(start_position, "start_position"), _pos(end_position, "end_position")
        return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)

    def _formula(self, start_position: Any, end_position: Any, position_list: Any, operator: Any) -> str:
        op = as_str(operator, "operator").upper()
        if op not in OPERATORS:
            raise ToolError(f"operator must be one of {', '.join(OPERATORS)}")
        if position_list not in (None, "", []):
            if not isinstance(position_list, list) or not position_list:
                raise ToolError('position_list must be a list of positions, such as ["B2", "C4"]')
            refs = [a1(*_pos(p, "position_list")) for p in position_list]
        elif start_position not in (None, "") and end_position not in (None, ""):
            r1, c1, r2, c2 = self._range(start_position, end_position)
            refs = [f"{a1(r1, c1)}:{a1(r2, c2)}"]
            if op in ("MINUS", "DIVIDE"):
                refs = [a1(r1, c1), a1(r2, c2)]
        else:
            raise ToolError("give start_position and end_position, or position_list")
        if op in ("MINUS", "DIVIDE"):
            if len(refs) != 2:
                raise ToolError(f"{op} takes exactly two positions")
            return f"={refs[0]}{'-' if op == 'MINUS' else '/'}{refs[1]}"
        return f"={op}({','.join(refs)})"

    # ------------------------------------------------------------------ sheets
    @tool("Open a sheet of the workbook by name; the other tools act on the open sheet.")
    def open_sheet(self, name: Any) -> str:
        key = as_str(name, "name")
        if key not in self.book.sheets:
            raise ToolError(f"there is no sheet named {key!r} (sheets: {', '.join(self.book.sheets)})")
        self.current = key
        sh = self.book.sheets[key]
        return f"Opened the sheet {key} ({sh.n_rows} rows, {sh.n_cols} columns)."

    @tool("Delete a sheet of the workbook by name.")
    def del_sheet(self, name: Any) -> str:
        key = as_str(name, "name")
        if key not in self.book.sheets:
            raise ToolError(f"there is no sheet named {key!r} (sheets: {', '.join(self.book.sheets)})")
        if len(self.book.sheets) == 1:
            raise ToolError("the last sheet of a workbook cannot be deleted")
        del self.book.sheets[key]
        if self.current == key:
            self.current = None
        return f"Deleted the sheet {key}."

    @tool('Freeze the first num rows or columns (dimension: "rows" or "columns"; num 0 unfreezes).')
    def freeze_data(self, dimension: Any, num: Any) -> str:
        dim = as_str(dimension, "dimension").lower()
        n = as_int(num, "num")
        sh = self.sheet
        if n < 0 or n > 20:
            raise ToolError("num must be between 0 and 20")
        if dim in ("rows", "row"):
            sh.frozen_rows = n
        elif dim in ("columns", "column", "cols", "col"):
            sh.frozen_cols = n
        else:
            raise ToolError('dimension must be "rows" or "columns"')
        return f"Froze {n} {'rows' if dim.startswith('row') else 'columns'}."

    @tool("Translate a 1-based (row, col) pair into A1 notation.", 'the position, such as "C2"')
    def get_A1_annotation(self, row: Any, col: Any) -> str:  # the original tool name
        r, c = as_int(row, "row"), as_int(col, "col")
        if not (1 <= r <= data.MAX_ROWS and 1 <= c <= data.MAX_COLS):
            raise ToolError(f"row must be 1-{data.MAX_ROWS} and col 1-{data.MAX_COLS}")
        return a1(r - 1, c - 1)

    # ------------------------------------------------------------------ structure
    @tool(
        "Insert columns before column col_idx (1-based); values_list is a list of columns, each a list of cell values from row 1 down."
    )
    def insert_cols(self, values_list: Any, col_idx: Any) -> str:
        cols = _grid(values_list, "values_list")
        sh = self.sheet
        at = as_int(col_idx, "col_idx") - 1
        if not 0 <= at <= sh.n_cols:
            raise ToolError(f"col_idx must be between 1 and {sh.n_cols + 1}")
        if sh.n_cols + len(cols) > data.MAX_COLS:
            raise ToolError(f"the sheet is limited to {data.MAX_COLS} columns")
        height = max(sh.n_rows, max(len(c) for c in cols))
        if height > data.MAX_ROWS:
            raise ToolError(f"the sheet is limited to {data.MAX_ROWS} rows")
        sh.ensure(height - 1, 0)
        for r, row in enumerate(sh.cells):
            row[at:at] = [data.coerce(col[r]) if r < len(col) else "" for col in cols]
        n = len(cols)
        self._remap(cols=lambda c: c + n if c >= at else c)
        return f"Inserted {n} column(s) at column {at + 1}."

    @tool(
        "Insert rows before row row_idx (1-based); values_list is a list of rows, each a list of cell values."
    )
    def insert_rows(self, values_list: Any, row_idx: Any) -> str:
        rows = _grid(values_list, "values_list")
        sh = self.sheet
        at = as_int(row_idx, "row_idx") - 1
        if not 0 <= at <= sh.n_rows:
            raise ToolError(f"row_idx must be between 1 and {sh.n_rows + 1}")
        if sh.n_rows + len(rows) > data.MAX_ROWS or max(len(r) for r in rows) > data.MAX_COLS:
            raise ToolError(f"the sheet is limited to {data.MAX_ROWS} rows and {data.MAX_COLS} columns")
        sh.cells[at:at] = [[data.coerce(v) for v in r] for r in rows]
        sh.square()
        n = len(rows)
        self._remap(rows=lambda r: r + n if r >= at else r)
        return f"Inserted {n} row(s) at row {at + 1}."

    @tool('Delete whole rows or columns (dimension: "row" or "col"; index_list: 1-based numbers).')
    def delete_batch_data(self, dimension: Any, index_list: Any) -> str:
        dim = as_str(dimension, "dimension").lower()
        if not isinstance(index_list, list) or not index_list:
            raise ToolError("index_list must be a non-empty list of 1-based numbers")
        idx = sorted({as_int(i, "index_list") - 1 for i in index_list})
        sh = self.sheet
        if dim in ("row", "rows"):
            limit, what = sh.n_rows, "row"
        elif dim in ("col", "cols", "column", "columns"):
            limit, what = sh.n_cols, "column"
        else:
            raise ToolError('dimension must be "row" or "col"')
        if idx[0] < 0 or idx[-1] >= limit:
            raise ToolError(f"{what} numbers must be between 1 and {limit}")
        gone = set(idx)

        def remap(i: int) -> int | None:
            return None if i in gone else i - sum(1 for g in idx if g < i)

        if what == "row":
            sh.cells = [r for i, r in enumerate(sh.cells) if i not in gone]
            self._remap(rows=remap)
        else:
            sh.cells = [[v for j, v in enumerate(r) if j not in gone] for r in sh.cells]
            self._remap(cols=remap)
        return f"Deleted {what}(s) {', '.join(str(i + 1) for i in idx)}."

    # ------------------------------------------------------------------ writing
    @tool("Write a value (a number, a text, or a formula such as =SUM(B2:B5)) into a cell.")
    def update_cell(self, position: Any, value: Any) -> str:
        r, c = _pos(position, "position")
        if isinstance(value, (list, dict)):
            raise ToolError("value must be a number or a text")
        self.sheet.set(r, c, value)
        return f"Updated {a1(r, c)}."

    @tool(
        "Write a formula into result_position over the range start_position:end_position, or over the "
        "cells of position_list. operator: SUM, AVERAGE, COUNT, MAX, MIN, PRODUCT, MINUS or DIVIDE (the "
        "last two take exactly two cells)."
    )
    def update_cell_by_formula(
        self,
        start_position: Any = None,
        end_position: Any = None,
        position_list: Any = None,
        result_position: Any = None,
        operator: Any = None,
    ) -> str:
        formula = self._formula(start_position, end_position, position_list, operator)
        r, c = _pos(result_position, "result_position")
        sh = self.sheet
        sh.set(r, c, formula)
        return f"Wrote {formula} into {a1(r, c)}; its value is {sh.value(r, c)}."

    @tool(
        "Write a block of values into the range start_position:end_position (values_list: a list of rows that fits the range)."
    )
    def update_range(self, start_position: Any, end_position: Any, values_list: Any) -> str:
        r1, c1, r2, c2 = self._range(start_position, end_position)
        rows = _grid(values_list, "values_list")
        if len(rows) != r2 - r1 + 1 or any(len(r) != c2 - c1 + 1 for r in rows):
            raise ToolError(
                f"values_list must have {r2 - r1 + 1} row(s) of {c2 - c1 + 1} value(s) for this range"
            )
        sh = self.sheet
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                sh.set(r1 + i, c1 + j, v)
        return f"Updated {a1(r1, c1)}:{a1(r2, c2)}."

    @tool('Sort the rows below the header by column col_num (1-based); order: "asc" or "des".')
    def sort_sheet_by_col(self, col_num: Any, order: Any) -> str:
        sh = self.sheet
        col = as_int(col_num, "col_num") - 1
        if not 0 <= col < sh.n_cols:
            raise ToolError(f"col_num must be between 1 and {sh.n_cols}")
        how = as_str(order, "order").lower()
        if how not in ("asc", "des", "desc", "ascending", "descending"):
            raise ToolError('order must be "asc" or "des"')
        head = max(1, sh.frozen_rows)
        body = list(range(head, sh.n_rows))
        filled = [i for i in body if sh.value(i, col) != ""]
        empty = [i for i in body if sh.value(i, col) == ""]

        def key(i: int) -> tuple[int, Any]:
            v = sh.value(i, col)
            return (0, v) if is_number(v) else (1, str(v).casefold())

        filled.sort(key=key, reverse=how.startswith("des"))
        order_rows = list(range(head)) + filled + empty
        sh.cells = [sh.cells[i] for i in order_rows]
        where = {old: new for new, old in enumerate(order_rows)}
        self._remap(rows=lambda r: where.get(r, r))
        return (
            f"Sorted the rows by column {col + 1} ({'descending' if how.startswith('des') else 'ascending'})."
        )

    @tool("Merge the cells of the range start_position:end_position (only the top-left value is kept).")
    def merge_cells(self, start_position: Any, end_position: Any) -> str:
        r1, c1, r2, c2 = self._range(start_position, end_position)
        if (r1, c1) == (r2, c2):
            raise ToolError("a merge needs at least two cells")
        sh = self.sheet
        for m in sh.merged:
            if not (r2 < m[0] or m[2] < r1 or c2 < m[1] or m[3] < c1):
                raise ToolError(f"the range overlaps the merged range {a1(m[0], m[1])}:{a1(m[2], m[3])}")
        sh.ensure(r2, c2)
        for r in range(r1, r2 + 1):
            for c in range(c1, c2 + 1):
                if (r, c) != (r1, c1):
                    sh.cells[r][c] = ""
        sh.merged.append((r1, c1, r2, c2))
        return f"Merged {a1(r1, c1)}:{a1(r2, c2)}."

    @tool("Set the note of a cell (an empty content removes the note).")
    def update_note(self, position: Any, content: Any) -> str:
        r, c = _pos(position, "position")
        text = "" if content is None else str(content)
        if text.strip():
            self.sheet.notes[(r, c)] = text
        else:
            self.sheet.notes.pop((r, c), None)
        return f"Updated the note of {a1(r, c)}."

    # ------------------------------------------------------------------ reading
    @tool("Get all values of the open sheet.", "a list of rows (formulas are shown as their values)")
    def get_all_values(self) -> list[list[Any]]:
        return self.sheet.values()

    @tool("Get the values of the range start_position:end_position.", "a list of rows")
    def get_range_values(self, start_position: Any, end_position: Any) -> list[list[Any]]:
        r1, c1, r2, c2 = self._range(start_position, end_position)
        sh = self.sheet
        return [[sh.value(r, c) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]

    @tool("Get the value of a cell.")
    def get_cell_value(self, position: Any) -> Any:
        r, c = _pos(position, "position")
        return self.sheet.value(r, c)

    @tool(
        "Compute a formula over start_position:end_position or over position_list without writing it "
        "(operator as for update_cell_by_formula).",
        "the value",
    )
    def get_value_by_formula(
        self,
        start_position: Any = None,
        end_position: Any = None,
        position_list: Any = None,
        operator: Any = None,
    ) -> Any:
        formula = self._formula(start_position, end_position, position_list, operator)
        sh = self.sheet
        return evaluate(formula, sh.value)

    @tool(
        "Find the cells whose value equals query, optionally only in row in_row or column in_column (1-based).",
        "the positions in A1 notation",
    )
    def filter_cells(self, query: Any, in_row: Any = None, in_column: Any = None) -> list[str]:
        if query is None or isinstance(query, (list, dict)):
            raise ToolError("query must be a number or a text")
        sh = self.sheet
        rows = range(sh.n_rows) if in_row in (None, "") else [as_int(in_row, "in_row") - 1]
        cols = range(sh.n_cols) if in_column in (None, "") else [as_int(in_column, "in_column") - 1]
        want = data.coerce(query)
        hits = []
        for r in rows:
            for c in cols:
                v = sh.value(r, c)
                same = (is_number(v) and is_number(want) and abs(v - want) < 1e-9) or (
                    str(v).strip().casefold() == str(want).strip().casefold() and v != ""
                )
                if same:
                    hits.append(a1(r, c))
        return hits

    @tool("Get the note of a cell.", "the note, or an empty text when there is none")
    def get_note(self, position: Any) -> str:
        r, c = _pos(position, "position")
        return self.sheet.notes.get((r, c), "")

    def snapshot(self) -> dict[Any, Any]:
        return data.state(self.book)
