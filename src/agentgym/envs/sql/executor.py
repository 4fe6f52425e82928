"""Run model-written SQL safely: read-only, one statement, time-, size- and row-limited - with a
wall-clock limit that holds for *every* query.

`execute` sends the query to a **sandbox worker**: a separate Python process running
`agentgym.envs.sql.sqlworker` (stdlib only), which applies every in-process limit of that module
(read-only connection, authorizer, length limits, checked printf, progress handler + interrupt
watchdog, row and byte caps) and adds what only a process can:

* **a hard deadline**: the parent waits ``timeout_ms`` + `KILL_GRACE_S` for the answer, then kills
  the worker (SIGKILL) and reports the time limit. Some SQLite work never checks for an interrupt:
  ``instr``/``replace``/``trim`` of two long strings is O(n*m) inside one function call, and a chain
  of CTEs that each use the previous one twice makes *code generation* exponential (seconds and
  gigabytes before the first row). In-process, such a query held a server thread and a core for as
  long as it liked; in a worker it dies at the deadline;
* **memory**: ``RLIMIT_AS`` and SQLite's ``hard_heap_limit`` in the worker, so a query that
  allocates without bound fails (or the worker dies) instead of the server being OOM-killed;
* **no files**: ``RLIMIT_FSIZE = 0`` and in-memory temp storage, so no query fills the disk;
* **no GIL**: the query runs in another interpreter; the server thread waiting for it sleeps in
  ``poll()``, so a hostile query never stalls the event loop or other sessions' Python code.

Workers are pooled (`SandboxPool`): an idle one answers in ~0.1 ms of IPC; one is started (~30 ms)
when none is idle, up to ``max_live``; a killed or crashed one is replaced on demand. Trusted SQL
(gold queries, the question generator) may run in-process with ``isolate=False``.
"""

from __future__ import annotations

import atexit
import logging
import marshal
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.envs.sql import sqlworker
from agentgym.envs.sql.sqlworker import (
    MAX_SQL_CHARS,
    MAX_VALUE_BYTES,
    SQLError,
    connect_readonly,
    run_query,
)

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_MS",
    "MAX_SQL_CHARS",
    "MAX_TIMEOUT_MS",
    "MAX_VALUE_BYTES",
    "QueryResult",
    "SQLError",
    "SandboxPool",
    "connect_readonly",
    "execute",
    "format_rows",
]

log = logging.getLogger("agentgym.envs.sql")

DEFAULT_TIMEOUT_MS = 2000
MAX_TIMEOUT_MS = 30_000
"""Hard maximum of any query's time limit, whoever asks (constructor argument or server setting)."""
DEFAULT_MAX_ROWS = 10_000
MAX_ROWS = 1_000_000
DEFAULT_MAX_RESULT_BYTES = 16 << 20
MAX_RESULT_BYTES = 256 << 20
KILL_GRACE_S = 0.5
"""How long past the time limit the parent waits for the worker's own (graceful) timeout answer."""
WORKERS_ENV_VAR = "AGENTGYM_SQL_WORKERS"
"""Idle sandbox workers kept per process (default 4); at most twice as many run at once (each may
hold up to ~300 MB for ``timeout_ms``; past that, queries queue)."""
QUEUE_TIMEOUT_S = 60.0
SPAWN_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class QueryResult:
    rows: list[tuple]
    columns: list[str]
    elapsed_ms: float


def execute(
    path: str | Path,
    sql: str,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    isolate: bool = True,
) -> QueryResult:
    """Run one read-only statement; raises `SQLError` with a clear message on any failure.

    ``isolate`` (the default, for any SQL a model or a client wrote) runs it in a sandbox worker
    with a hard deadline; ``isolate=False`` runs it in this thread, for trusted SQL only."""
    if not isinstance(sql, str):
        raise SQLError(f"the query must be text, not {type(sql).__name__}")
    if len(sql) > MAX_SQL_CHARS:
        raise SQLError(f"the query is longer than {MAX_SQL_CHARS:,} characters")
    timeout_ms = _bounded("timeout_ms", timeout_ms, 1, MAX_TIMEOUT_MS)
    max_rows = _bounded("max_rows", max_rows, 0, MAX_ROWS)
    max_bytes = _bounded("max_bytes", max_bytes, 0, MAX_RESULT_BYTES)
    path = Path(path)
    if not path.is_file():
        raise SQLError(f"database file not found: {path}")
    if isolate:
        return sandbox().run(str(path.resolve()), sql, timeout_ms, max_rows, max_bytes)
    conn = connect_readonly(path)
    try:
        rows, columns, ms = run_query(
            conn, sql, timeout_ms=timeout_ms, max_rows=max_rows, max_bytes=max_bytes
        )
    finally:
        conn.close()
    return QueryResult(rows, columns, ms)


def _bounded(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi:,}, got {value!r}")
    return value


def format_rows(rows: list[tuple], max_chars: int = 100) -> str:
    """The result as the original shows it: ``str(rows)`` cut at ``max_chars`` with ``...``.

    Built row by row and stopped once past the cut, so a 10,000-row result costs a few reprs."""
    parts, size = ["["], 1
    for i, row in enumerate(rows):
        piece = (", " if i else "") + repr(tuple(row))
        parts.append(piece)
        size += len(piece)
        if size > max_chars:
            break
    else:
        parts.append("]")
    text = "".join(parts)
    return text if len(text) <= max_chars else text[:max_chars] + "..."


# ---------------------------------------------------------------------------------------- sandbox
class _WorkerGone(Exception):
    """The worker died, or was killed, before it answered."""


def _worker_env() -> dict[str, str]:
    """The worker's environment: what an interpreter may need to start (a custom build's library
    path, the locale), nothing else of the server's; few malloc arenas, so the address-space limit
    is spent on data rather than on reserved arenas."""
    keep = ("PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["MALLOC_ARENA_MAX"] = "2"
    return env


class _Worker:
    """One sandbox process: requests on its stdin, answers on its stdout (length-prefixed marshal)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", sqlworker.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_worker_env(),
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        try:
            if self._read(1, time.monotonic() + SPAWN_TIMEOUT_S) != sqlworker.READY:
                raise _WorkerGone("the SQL worker sent a bad greeting")
        except BaseException:
            self.kill()
            raise

    def ask(self, request: tuple[Any, ...], timeout_s: float, max_reply: int) -> Any:
        """Send ``request``; the answer within ``timeout_s``, else `TimeoutError` (the worker is
        then left running: the caller kills it)."""
        data = marshal.dumps(request)
        try:
            self.stdin.write(len(data).to_bytes(8, "big") + data)
            self.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise _WorkerGone(f"the SQL worker is gone ({e})") from None
        deadline = time.monotonic() + timeout_s
        n = int.from_bytes(self._read(8, deadline), "big")
        if n > max_reply:
            raise _WorkerGone(f"the SQL worker sent {n:,} bytes, more than the {max_reply:,} allowed")
        return marshal.loads(self._read(n, deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        poller = select.poll()
        poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(max(1, int(left * 1000))):
                if time.monotonic() >= deadline:
                    raise TimeoutError
                continue
            chunk = os.read(self.fd, min(n - len(buf), 1 << 20))
            if not chunk:
                code = self.proc.poll()
                raise _WorkerGone(f"the SQL worker exited (code {code})")
            buf += chunk
        return bytes(buf)

    def signal_kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass

    def kill(self) -> None:
        """SIGKILL, close the pipes, reap. Only from the thread that owns the worker."""
        self.signal_kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("SQL worker %s did not exit after SIGKILL", self.proc.pid)


class SandboxPool:
    """A pool of sandbox workers shared by every session of this process.

    ``max_idle`` workers are kept between queries; up to ``max_live`` run at once (each is one
    query, so this bounds the CPU and memory hostile queries can hold); past that, a query waits up
    to ``queue_timeout_s`` for a worker, then fails as "busy" rather than queueing forever."""

    def __init__(
        self, max_idle: int = 4, max_live: int = 16, queue_timeout_s: float = QUEUE_TIMEOUT_S
    ) -> None:
        self.max_idle = max(0, max_idle)
        self.max_live = max(1, max_live)
        self.queue_timeout_s = queue_timeout_s
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()  # idle and busy, so close() can kill a busy one too
        self._live = 0
        self._cv = threading.Condition()
        self._closed = False
        self.kills = 0  # workers killed at a deadline or found dead (observability, tests)

    def run(self, path: str, sql: str, timeout_ms: int, max_rows: int, max_bytes: int) -> QueryResult:
        request = (path, sql, timeout_ms, max_rows, max_bytes)
        max_reply = 2 * max_bytes + (1 << 20)
        for attempt in (1, 2):
            worker = self._acquire()
            healthy = False
            try:
                reply = worker.ask(request, timeout_ms / 1000 + KILL_GRACE_S, max_reply)
                healthy = True
            except TimeoutError:
                raise SQLError(f"the query was stopped after the time limit of {timeout_ms} ms") from None
            except _WorkerGone as e:
                # An idle worker found dead (killed from outside): retry once on a fresh one. A
                # worker that dies *during* a query (a crash in SQLite, the memory limit) is the
                # query's fault: report it.
                if attempt == 1 and "is gone" in str(e):
                    continue
                raise SQLError(f"the query crashed its SQL worker: {e}") from None
            finally:
                self._release(worker, healthy)
            if reply[0] == "ok":
                _, rows, columns, ms = reply
                return QueryResult([tuple(r) for r in rows], list(columns), float(ms))
            raise SQLError(str(reply[1]))
        raise SQLError("the SQL sandbox could not start a worker")

    def _acquire(self) -> _Worker:
        end = time.monotonic() + self.queue_timeout_s
        with self._cv:
            while True:
                if self._closed:
                    raise SQLError("the SQL sandbox is shut down")
                if self._idle:
                    return self._idle.pop()
                if self._live < self.max_live:
                    self._live += 1
                    break
                left = end - time.monotonic()
                if left <= 0:
                    raise SQLError(
                        f"the SQL sandbox is busy ({self.max_live} queries running); try again later"
                    )
                self._cv.wait(left)
        try:
            worker = _Worker()
        except BaseException as e:
            with self._cv:
                self._live -= 1
                self._cv.notify()
            if isinstance(e, Exception):
                raise SQLError(f"could not start an SQL worker: {type(e).__name__}: {e}") from None
            raise
        with self._cv:
            closed = self._closed
            if not closed:
                self._all.add(worker)
        if closed:  # close() ran while it started
            worker.kill()
            raise SQLError("the SQL sandbox is shut down")
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cv:
            keep = healthy and not self._closed and len(self._idle) < self.max_idle
            if keep:
                self._idle.append(worker)
            else:
                self._live -= 1
                self._all.discard(worker)
                if not healthy:
                    self.kills += 1
            self._cv.notify()
        if not keep:
            worker.kill()

    def live(self) -> int:
        """Worker processes alive now, idle or busy."""
        with self._cv:
            return self._live

    def busy(self) -> int:
        """Queries running now (each in its own worker)."""
        with self._cv:
            return self._live - len(self._idle)

    def close(self) -> None:
        """Kill every worker, busy ones too (their queries fail): none may outlive the server, and
        a query stuck in C code would otherwise run on as an orphan until it finished."""
        with self._cv:
            self._closed = True
            idle, self._idle = self._idle, []
            workers, self._all = list(self._all), set()
            self._live -= len(idle)
            self._cv.notify_all()
        for w in workers:
            if w in idle:
                w.kill()
            else:  # busy: SIGKILL only; its query's thread sees EOF and closes the pipes itself
                w.signal_kill()  # (closing them here could close an fd that thread is reading)


_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def _workers_setting() -> int:
    raw = os.environ.get(WORKERS_ENV_VAR, "")
    try:
        n = int(raw) if raw else 4
    except ValueError:
        log.warning("$%s=%r is not an int; using 4", WORKERS_ENV_VAR, raw)
        n = 4
    return min(max(n, 1), 64)


def sandbox() -> SandboxPool:
    """The process-wide pool (created on first use; its workers are killed at exit)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                n = _workers_setting()
                _pool = SandboxPool(max_idle=n, max_live=2 * n)
                atexit.register(_pool.close)
    return _pool
