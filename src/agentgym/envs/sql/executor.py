"""Run model-written SQL safely: read-only, one statement, time-, size- and row-limited.

Layers, each enough on its own for its threat:

* the file is opened ``file:...?mode=ro`` (SQLite refuses every write) and ``PRAGMA query_only``
  is set, so ``DROP``/``INSERT``/``UPDATE`` fail;
* an authorizer allows only reads (SELECT, column reads, functions, recursive CTEs): ``ATTACH``
  (which could create files), ``PRAGMA`` (which could change settings) and DDL are denied;
* a progress handler aborts the query after ``timeout_ms`` (a runaway recursive CTE, a cross join);
* ``SQLITE_LIMIT_LENGTH`` caps any string/blob (``zeroblob(1e9)``), and more than ``max_rows``
  result rows is an error, so memory stays bounded;
* Python's sqlite3 executes one statement only (``SELECT 1; DROP TABLE x`` is rejected).

A fresh connection per call keeps this thread-safe; opening one costs well under a millisecond.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_TIMEOUT_MS = 2000
DEFAULT_MAX_ROWS = 10_000
MAX_VALUE_BYTES = 1_000_000
MAX_SQL_CHARS = 20_000

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_DENY_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


class SQLError(Exception):
    """The query was rejected, failed, ran too long or returned too many rows."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    rows: list[tuple]
    columns: list[str]
    elapsed_ms: float


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action not in _ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENY_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` with the authorizer and limits installed."""
    path = Path(path)
    if not path.is_file():
        raise SQLError(f"database file not found: {path}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_authorizer)
    return conn


def execute(
    path: str | Path, sql: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS, max_rows: int = DEFAULT_MAX_ROWS
) -> QueryResult:
    """Run one read-only statement; raises `SQLError` with a clear message on any failure."""
    if len(sql) > MAX_SQL_CHARS:
        raise SQLError(f"the query is longer than {MAX_SQL_CHARS} characters")
    conn = connect_readonly(path)
    start = time.monotonic()
    deadline = start + timeout_ms / 1000
    timed_out = False

    def progress() -> int:
        nonlocal timed_out
        if time.monotonic() > deadline:
            timed_out = True
            return 1
        return 0

    conn.set_progress_handler(progress, 2000)
    try:
        cur = conn.execute(sql)
        rows = cur.fetchmany(max_rows + 1)
        if len(rows) > max_rows:
            raise SQLError(f"the query returned more than {max_rows} rows")
        columns = [d[0] for d in cur.description or []]
        return QueryResult([tuple(r) for r in rows], columns, (time.monotonic() - start) * 1000)
    except sqlite3.Error as e:
        if timed_out:
            raise SQLError(f"the query was stopped after the time limit of {timeout_ms} ms") from None
        msg = str(e)
        if "not authorized" in msg:
            msg += " (only read-only SELECT queries are allowed)"
        raise SQLError(f"{type(e).__name__}: {msg}") from None
    except (ValueError, OverflowError, MemoryError) as e:  # e.g. an embedded NUL, a huge integer
        raise SQLError(f"{type(e).__name__}: {e}") from None
    finally:
        conn.close()


def format_rows(rows: list[tuple], max_chars: int = 100) -> str:
    """The result as the original shows it: ``str(rows)`` cut at ``max_chars`` with ``...``."""
    text = str(rows)
    return text if len(text) <= max_chars else text[:max_chars] + "..."
