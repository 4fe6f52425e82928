"""A1 notation and a small spreadsheet formula evaluator (no ``eval``: a tokenizer and a parser).

Grammar (case-insensitive function names)::

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | CELL | FUNC "(" arg ("," arg)* ")" | "(" expr ")" | "-" factor
    arg    := CELL ":" CELL | expr
    FUNC   := SUM | AVERAGE | MIN | MAX | COUNT | PRODUCT

As in a spreadsheet, the functions skip text and empty cells in ranges; COUNT counts numbers.
Errors are values (``#DIV/0!``, ``#REF!``, ``#NAME?``, ``#VALUE!``, ``#CYCLE!``), never exceptions
out of `evaluate`; an error in a referenced cell propagates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_CELL = re.compile(r"([A-Za-z]{1,3})([1-9][0-9]{0,5})")
_TOKEN = re.compile(
    r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z]{1,3}[1-9][0-9]{0,5})(?![A-Za-z(])|([A-Za-z]+)|(.))"
)
FUNCS = ("SUM", "AVERAGE", "MIN", "MAX", "COUNT", "PRODUCT")
ERRORS = frozenset({"#DIV/0!", "#REF!", "#NAME?", "#VALUE!", "#CYCLE!"})
MAX_FORMULA = 500
MAX_RANGE_CELLS = 25_000  # a sheet holds at most 500 x 50 cells; "A1:ZZZ999999" is refused


class FormulaError(Exception):
    """Carries a spreadsheet error value (``#REF!``, ...)."""


def col_letters(col: int) -> str:
    """0-based column index -> letters (0 -> A, 26 -> AA)."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def a1(row: int, col: int) -> str:
    """0-based (row, col) -> A1 notation."""
    return f"{col_letters(col)}{row + 1}"


def parse_a1(text: str) -> tuple[int, int]:
    """A1 notation -> 0-based (row, col); raises `ValueError`."""
    m = _CELL.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a cell position in A1 notation (such as B3)")
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _apply(name: str, values: list[Any]) -> Any:
    nums = [v for v in values if is_number(v)]
    if name == "COUNT":
        return len(nums)
    if name == "SUM":
        return sum(nums)
    if name == "PRODUCT":
        out = 1.0
        for v in nums:
            out *= v
        return out
    if not nums:
        if name == "AVERAGE":
            raise FormulaError("#DIV/0!")
        return 0
    if name == "AVERAGE":
        return sum(nums) / len(nums)
    return min(nums) if name == "MIN" else max(nums)


class _Parser:
    def __init__(self, text: str, cell: Callable[[int, int], Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                break
            pos = m.end()
            num, ref, name, other = m.groups()
            if num is not None:
                self.tokens.append(("num", num))
            elif ref is not None:
                self.tokens.append(("ref", ref))
            elif name is not None:
                self.tokens.append(("name", name.upper()))
            elif other is not None and not other.isspace():
                self.tokens.append(("op", other))
        self.i = 0
        self._cell = cell

    def cell(self, row: int, col: int) -> Any:
        """A referenced cell's value; an error value there propagates, as in a spreadsheet."""
        value = self._cell(row, col)
        if isinstance(value, str) and value in ERRORS:
            raise FormulaError(value)
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise FormulaError("#VALUE!")
        self.i += 1
        return tok

    def number(self, value: Any) -> float:
        if value == "" or value is None:
            return 0
        if is_number(value):
            return value
        raise FormulaError("#VALUE!")

    def expr(self) -> Any:
        out = self.term()
        while (tok := self.peek()) and tok[1] in "+-":
            self.take()
            right = self.term()
            out = (
                self.number(out) + self.number(right)
                if tok[1] == "+"
                else self.number(out) - self.number(right)
            )
        return out

    def term(self) -> Any:
        out = self.factor()
        while (tok := self.peek()) and tok[1] in "*/":
            self.take()
            right = self.number(self.factor())
            if tok[1] == "*":
                out = self.number(out) * right
            else:
                if right == 0:
                    raise FormulaError("#DIV/0!")
                out = self.number(out) / right
        return out

    def factor(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "ref":
            return self.cell(*parse_a1(value))
        if kind == "op" and value == "-":
            return -self.number(self.factor())
        if kind == "op" and value == "(":
            out = self.expr()
            self.take(")")
            return out
        if kind == "name":
            if value not in FUNCS:
                raise FormulaError("#NAME?")
            self.take("(")
            values: list[Any] = []
            while True:
                values.extend(self.arg())
                if (tok := self.peek()) and tok[1] == ",":
                    self.take()
                    continue
                break
            self.take(")")
            return _apply(value, values)
        raise FormulaError("#VALUE!")

    def arg(self) -> list[Any]:
        tok = self.peek()
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if tok and tok[0] == "ref" and nxt and nxt[1] == ":":
            self.take()
            self.take(":")
            end = self.take()
            if end[0] != "ref":
                raise FormulaError("#REF!")
            (r1, c1), (r2, c2) = parse_a1(tok[1]), parse_a1(end[1])
            if (abs(r2 - r1) + 1) * (abs(c2 - c1) + 1) > MAX_RANGE_CELLS:
                raise FormulaError("#REF!")
            return [
                self.cell(r, c)
                for r in range(min(r1, r2), max(r1, r2) + 1)
                for c in range(min(c1, c2), max(c1, c2) + 1)
            ]
        return [self.expr()]


def evaluate(formula: str, cell: Callable[[int, int], Any]) -> Any:
    """The value of ``formula`` (with or without the leading ``=``); ``cell(row, col)`` reads a cell."""
    text = formula[1:] if formula.startswith("=") else formula
    if len(text) > MAX_FORMULA:
        return "#VALUE!"
    try:
        p = _Parser(text, cell)
        out = p.expr()
        if p.peek() is not None:
            return "#VALUE!"
    except FormulaError as e:
        return str(e)
    except (ValueError, RecursionError):
        return "#VALUE!"
    if isinstance(out, float) and out.is_integer() and abs(out) < 1e15:
        return int(out)
    return round(out, 10) if isinstance(out, float) else out
