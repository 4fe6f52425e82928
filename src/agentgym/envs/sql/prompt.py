"""BIRD's texts: the instruction (first human turn), the schema and the question observation.

The schema is read from the database file itself (so BIRD's own databases work unchanged) and
written in one of two styles:

* ``"nl"`` (default) - natural language, in the spirit of the original SQLGym prompt: the tables,
  each table's columns and primary key, then the foreign keys;
* ``"sql"`` - the ``CREATE TABLE`` statements as stored in the database.

The observation is ``<schema>\\n\\nQuestion: <question>`` plus ``\\nEvidence: <hint>`` when the
question has one (BIRD's "external knowledge"; the original prompt left it out).
"""

from __future__ import annotations

import sqlite3
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

INSTRUCTION = """\
You are an expert in SQLite. Each task gives you the schema of a database and a question about \
its data, sometimes with evidence: hints about what the words of the question mean in the data.
Write one SQLite query whose result answers the question; it is run on the database and scored \
by whether it returns the same rows as the reference answer (row order does not matter). Select \
only the columns the question asks for. The database is read-only and you have a single try.

Answer with a short thought, then the query in a ```sql block, in this form:
Thought: <your reasoning>
Action:
```sql
SELECT ...;
```"""

_lock = threading.Lock()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def _schema_rows(
    path: str,
) -> tuple[list[tuple[str, str]], dict[str, list[tuple[str, int]]], list[tuple[str, str, str, str]]]:
    conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    try:
        tables = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        columns: dict[str, list[tuple[str, int]]] = {}
        fks: list[tuple[str, str, str, str]] = []
        for name, _ in tables:
            columns[name] = [(r[1], r[5]) for r in conn.execute(f"PRAGMA table_info({_q(name)})")]
            for r in conn.execute(f"PRAGMA foreign_key_list({_q(name)})"):
                ref_col = r[4]
                if ref_col is None:  # FK to the referenced table's primary key
                    pk = [c for c, k in columns.get(r[2], []) if k] or ["rowid"]
                    ref_col = pk[0]
                fks.append((name, r[3], r[2], ref_col))
        return tables, columns, fks
    finally:
        conn.close()


def schema_text(path: str | Path, db_id: str, style: str = "nl") -> str:
    """The schema of the database at ``path`` in ``style`` ("nl" or "sql")."""
    with _lock:
        tables, columns, fks = _schema_rows(str(Path(path).resolve()))
    if style == "sql":
        return "\n\n".join(sql.strip() + ";" for _, sql in tables if sql)
    if style != "nl":
        raise ValueError(f"schema style must be 'nl' or 'sql', not {style!r}")
    lines = [f"The database {db_id} has the tables {', '.join(n for n, _ in tables)}."]
    for name, _ in tables:
        cols = columns[name]
        line = f"Table {name} has the columns {', '.join(c for c, _ in cols)}."
        pk = [c for c, k in sorted(cols, key=lambda ck: ck[1]) if k]
        if len(pk) == 1:
            line += f" {pk[0]} is the primary key."
        elif pk:
            line += f" ({', '.join(pk)}) is the primary key."
        lines.append(line)
    for table, col, ref_table, ref_col in fks:
        lines.append(f"The {col} of {table} is a foreign key to {ref_col} of {ref_table}.")
    return "\n".join(lines)


def table_names(path: str | Path) -> list[str]:
    with _lock:
        tables, _, _ = _schema_rows(str(Path(path).resolve()))
    return [name for name, _ in tables]


def observation(schema: str, question: str, evidence: str) -> str:
    text = f"{schema}\n\nQuestion: {question}"
    return f"{text}\nEvidence: {evidence}" if evidence else text
