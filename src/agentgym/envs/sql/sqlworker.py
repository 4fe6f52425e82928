"""Run one SQL query on a read-only SQLite connection with every in-process limit; also the main loop
of a sandbox worker process (``python -I -S sqlworker.py``, see `agentgym.envs.sql.executor`).

This module imports the standard library only, on purpose: the sandbox runs it as a script in a
fresh interpreter that never imports agentgym (it starts in ~30 ms and holds none of the server's
state). In-process callers (trusted gold queries, the question generator) import it as a module.

In-process limits, each for its own threat (the worker process adds the hard ones, see executor):

* the file is opened ``mode=ro`` and ``PRAGMA query_only`` is set: every write fails;
* an authorizer allows only reads (SELECT, column reads, functions, recursive CTEs): ``ATTACH``,
  ``PRAGMA``, DDL and ``load_extension`` are denied (and ``SQLITE_LIMIT_ATTACHED`` is 0);
* ``SQLITE_LIMIT_LENGTH`` caps every string/blob (``zeroblob(1e9)``, ``randomblob``, a ``replace``
  that doubles a string thirty times), ``SQLITE_LIMIT_SQL_LENGTH`` the statement text, and
  ``SQLITE_LIMIT_LIKE_PATTERN_LENGTH`` a LIKE/GLOB pattern;
* ``printf``/``format`` are replaced by a checked version: SQLite 3.40's ``%.*c`` loops once per
  unit of precision *inside one function call* (``printf('%.*c', 1e9, 'x')`` spins ~9 s), where
  neither the progress handler nor ``interrupt()`` can stop it; a width or precision above
  `MAX_PRINTF_WIDTH` is an error before the real printf runs;
* a progress handler *and* a watchdog timer calling ``connection.interrupt()`` stop the query at
  its deadline (a runaway recursive CTE, a cartesian join; the timer also covers the parser);
* more than ``max_rows`` rows or ``max_bytes`` bytes of result is an error, so memory stays bounded;
* Python's sqlite3 executes one statement only (``SELECT 1; DROP TABLE x`` is rejected).

What no in-process limit can stop is C code that never checks for an interrupt: ``instr`` or
``replace`` of two 500 kB strings (O(n*m) in one call), or an exponential chain of CTEs whose
*code generation* takes seconds and gigabytes before the first row. Those are why untrusted SQL
runs in a worker process that is killed at the deadline (executor.py).
"""

from __future__ import annotations

import marshal
import math
import re
import sqlite3
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

MAX_VALUE_BYTES = 1_000_000
"""Longest string or blob any expression may build (``SQLITE_LIMIT_LENGTH``)."""
MAX_SQL_CHARS = 20_000
MAX_LIKE_PATTERN = 10_000
MAX_PRINTF_WIDTH = 100_000
"""Largest printf width or precision: enough for any real format, far below a spin of seconds."""
PROGRESS_OPS = 1000
"""The progress handler runs every this many VM instructions (~tens of microseconds)."""
WORKER_HEAP_BYTES = 256 << 20
"""SQLite's own heap limit in a worker process (``PRAGMA hard_heap_limit``): NOMEM, not a crash."""
WORKER_MEMORY_BYTES = 768 << 20
"""The worker's address-space limit (``RLIMIT_AS``): the backstop under SQLite's heap limit."""
READY = b"R"
_FRAME = struct.Struct(">Q")

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))
_DENY_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})

# One printf directive. Every part after "%" is optional, so a match never backtracks: finditer
# is linear in the format's length whatever it holds ("0" is a flag here; SQLite reads "%010d" as
# flag 0 + width 10, and "%0000100000000c" is still caught because the digits after the flag
# zeros form the width).
_PRINTF_DIRECTIVE = re.compile(r"%(?:%|[-+ #,!0]*(\*|[0-9]*)(?:\.(\*|[0-9]*))?l*([A-Za-z]?))")


class SQLError(Exception):
    """The query was rejected, failed, ran too long or returned too much."""


class _Conn(sqlite3.Connection):
    """A connection that remembers why a checked function refused its arguments (sqlite3 turns an
    exception in a user function into a generic "user-defined function raised exception")."""

    refused: str | None = None


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
    if action not in _ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENY_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# ---------------------------------------------------------------------------------- checked printf
_helper = threading.local()


def _builtin_printf(args: tuple[Any, ...]) -> Any:
    """SQLite's own printf, on a per-thread in-memory connection that has no override."""
    conn = getattr(_helper, "conn", None)
    if conn is None:
        conn = _helper.conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    marks = ", ".join("?" * len(args))
    return conn.execute(f"SELECT printf({marks})", args).fetchone()[0]


def _star_value(value: Any) -> int:
    """The int a ``*`` width/precision argument stands for, or `ValueError` if it is too big or
    not plainly a number (we pass SQLite the int we checked, never a value it might read larger)."""
    if value is None:
        return 0
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a printf '*' width or precision is not finite")
        value = int(value)
    elif isinstance(value, (str, bytes)):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if len(text) > 20:
            raise ValueError("a printf '*' width or precision must be a number")
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError("a printf '*' width or precision must be a number") from None
    if not isinstance(value, int) or abs(value) > MAX_PRINTF_WIDTH:
        raise ValueError(f"a printf width or precision above {MAX_PRINTF_WIDTH:,}")
    return value


def _checked_printf_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with every ``*`` argument replaced by the checked int; `ValueError` if a width or a
    precision (literal or ``*``) exceeds `MAX_PRINTF_WIDTH`."""
    if not args or args[0] is None:
        return args
    fmt = args[0]
    text = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else str(fmt)
    out = list(args)
    i = 1  # the next argument a directive consumes
    for m in _PRINTF_DIRECTIVE.finditer(text):
        if m.group(0) == "%%":
            continue
        width, precision, conversion = m.groups()
        for part in (width, precision):
            if part == "*":
                if i < len(out):
                    out[i] = _star_value(out[i])
                i += 1
            elif part and (len(part) > 7 or int(part) > MAX_PRINTF_WIDTH):
                raise ValueError(f"a printf width or precision above {MAX_PRINTF_WIDTH:,}")
        if conversion:
            i += 1
    return tuple(out)


def _install_checked_printf(conn: _Conn) -> None:
    def checked(*args: Any) -> Any:
        try:
            safe = _checked_printf_args(args)
        except ValueError as e:
            conn.refused = f"printf refused: {e}"
            raise
        return _builtin_printf(safe)

    for name in ("printf", "format"):
        conn.create_function(name, -1, checked, deterministic=True)


# ------------------------------------------------------------------------------------- connection
def connect_readonly(path: str | Path, *, sandboxed: bool = False) -> sqlite3.Connection:
    """A read-only connection to ``path`` with the authorizer, the limits and the checked printf.

    ``sandboxed`` (a worker process) also keeps temporary tables and sorts in memory, where the
    worker's heap and address-space limits bound them, instead of in temp files on the server's disk.
    """
    path = Path(path)
    if not path.is_file():
        raise SQLError(f"database file not found: {path}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, factory=_Conn)
    assert isinstance(conn, _Conn)
    conn.execute("PRAGMA query_only = ON")
    if sandboxed:
        conn.execute("PRAGMA temp_store = MEMORY")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 4 * MAX_SQL_CHARS)  # bytes; chars are checked first
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    _install_checked_printf(conn)
    conn.set_authorizer(_authorizer)
    return conn


def row_bytes(row: tuple[Any, ...]) -> int:
    """What a row costs, an upper bound on its encoded size: 16 bytes a value plus the payloads
    (a non-ASCII string counted at 4 bytes a character, its UTF-8 worst case; ``isascii`` is O(1))."""
    n = 16 * len(row)
    for v in row:
        if isinstance(v, bytes):
            n += len(v)
        elif isinstance(v, str):
            n += len(v) if v.isascii() else 4 * len(v)
    return n


def run_query(
    conn: sqlite3.Connection, sql: str, *, timeout_ms: int, max_rows: int, max_bytes: int
) -> tuple[list[tuple[Any, ...]], list[str], float]:
    """Run ``sql`` on ``conn``: (rows, column names, elapsed ms); `SQLError` with a clear message
    on any failure. Stops at ``timeout_ms`` wherever SQLite checks for an interrupt."""
    if len(sql) > MAX_SQL_CHARS:
        raise SQLError(f"the query is longer than {MAX_SQL_CHARS:,} characters")
    if isinstance(conn, _Conn):
        conn.refused = None
    start = time.monotonic()
    deadline = start + timeout_ms / 1000
    timed_out = False

    def progress() -> int:
        nonlocal timed_out
        if time.monotonic() > deadline:
            timed_out = True
            return 1
        return 0

    def watchdog() -> None:  # reaches the parser and long opcodes, which the handler does not
        nonlocal timed_out
        timed_out = True
        try:
            conn.interrupt()
        except sqlite3.Error:  # already closed by a caller that gave up: nothing left to stop
            pass

    conn.set_progress_handler(progress, PROGRESS_OPS)
    timer = threading.Timer(timeout_ms / 1000, watchdog)
    timer.daemon = True
    timer.start()
    try:
        cur = conn.execute(sql)
        rows: list[tuple[Any, ...]] = []
        size = 0
        while batch := cur.fetchmany(256):
            rows.extend(batch)
            size += sum(row_bytes(r) for r in batch)
            if len(rows) > max_rows:
                raise SQLError(f"the query returned more than {max_rows:,} rows")
            if size > max_bytes:
                raise SQLError(f"the query's result is larger than {max_bytes:,} bytes")
        columns = [d[0] for d in cur.description or []]
        return rows, columns, (time.monotonic() - start) * 1000
    except sqlite3.Error as e:
        if timed_out:
            raise SQLError(f"the query was stopped after the time limit of {timeout_ms} ms") from None
        refused = getattr(conn, "refused", None)
        if refused:
            raise SQLError(refused) from None
        msg = str(e)
        if "not authorized" in msg:
            msg += " (only read-only SELECT queries are allowed)"
        raise SQLError(f"{type(e).__name__}: {msg}") from None
    except (ValueError, OverflowError, MemoryError) as e:  # an embedded NUL, a huge integer, ...
        raise SQLError(f"{type(e).__name__}: {str(e) or 'the query ran out of memory'}") from None
    finally:
        timer.cancel()
        timer.join()  # no interrupt() may land on this connection after we return
        conn.set_progress_handler(None, 0)


# ------------------------------------------------------------------------------ worker process
def write_frame(out: BinaryIO, obj: Any) -> None:
    data = marshal.dumps(obj)
    out.write(_FRAME.pack(len(data)) + data)
    out.flush()


def _read_exact(inp: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = inp.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _answer(request: Any) -> tuple[Any, ...]:
    try:
        path, sql, timeout_ms, max_rows, max_bytes = request
        conn = connect_readonly(path, sandboxed=True)
        try:
            rows, columns, ms = run_query(
                conn, sql, timeout_ms=timeout_ms, max_rows=max_rows, max_bytes=max_bytes
            )
        finally:
            conn.close()
        return ("ok", rows, columns, ms)
    except SQLError as e:
        return ("error", str(e))
    except MemoryError:
        return ("error", "MemoryError: the query ran out of memory")
    except Exception as e:  # the worker answers every request; it never dies of one
        return ("error", f"{type(e).__name__}: {e}")


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer length-prefixed marshal frames ``(path, sql, timeout_ms, max_rows, max_bytes)`` with
    ``("ok", rows, columns, ms)`` or ``("error", message)`` until stdin closes.

    marshal is safe here because both ends are this module: the client controls SQL *values*, which
    arrive as plain ints/floats/strs/bytes, never the bytes of the encoding."""
    while True:
        head = _read_exact(inp, _FRAME.size)
        if head is None:
            return
        body = _read_exact(inp, _FRAME.unpack(head)[0])
        if body is None:
            return
        reply = _answer(marshal.loads(body))
        try:
            write_frame(out, reply)
        except MemoryError:
            write_frame(out, ("error", "MemoryError: the query's result did not fit in memory"))


def _limit_process() -> None:
    """Hard limits on this worker process: memory, no file writes, no core dumps, lower priority."""
    import os
    import resource
    import signal

    for limit, value in (
        (resource.RLIMIT_AS, WORKER_MEMORY_BYTES),
        (resource.RLIMIT_FSIZE, 0),  # writing any file fails (EFBIG; SIGXFSZ is ignored below)
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # a lower hard limit already applies: keep it
            pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then closes us
    try:
        os.nice(5)  # the server's event loop outranks a hostile query on a busy machine
    except OSError:
        pass
    probe = sqlite3.connect(":memory:")
    probe.execute(f"PRAGMA hard_heap_limit = {WORKER_HEAP_BYTES}")  # process-wide
    probe.close()


def main() -> None:
    _limit_process()
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the pipe
    out.write(READY)
    out.flush()
    serve(inp, out)


if __name__ == "__main__":
    main()
