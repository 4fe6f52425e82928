"""The sheet instruction (first human turn): role, tool catalog, rules, one worked example (our wording)."""

from __future__ import annotations

from functools import cache

from agentgym.envs.tools.base import instruction_text
from agentgym.envs.tools.sheet.tools import SheetTools

INTRO = (
    "You are an assistant that edits and reads a spreadsheet workbook with sheet tools. Open a sheet "
    "before working on it. Positions are written in A1 notation (column letters, then the row number, "
    "such as B3); row and column numbers are counted from 1; the first row of each sheet is its header."
)
RULES = (
    "Change only what the goal asks for: the final workbook is compared with the expected one. When the "
    'goal asks a question, finish with the answer; when it asks for a change, make it and finish with {"answer": "done"}.'
)
EXAMPLE = """\
Goal: In the sheet Scores, change the Points of Rita to 42.
Thought: I open the sheet Scores.
Action: open_sheet with Action Input: {"name": "Scores"}
Observation: Opened the sheet Scores (4 rows, 2 columns).
Give me one action.
Thought: I find Rita's row.
Action: filter_cells with Action Input: {"query": "Rita", "in_column": 1}
Observation: ["A3"]
Give me one action.
Thought: Rita is in row 3 and Points is column B, so I write 42 into B3.
Action: update_cell with Action Input: {"position": "B3", "value": 42}
Observation: Updated B3.
Give me one action.
Thought: The change is made.
Action: finish with Action Input: {"answer": "done"}"""


@cache
def instruction() -> str:
    return instruction_text(INTRO, SheetTools, RULES, EXAMPLE)
