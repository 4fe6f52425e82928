"""Engines that are not thread-safe, hosted in worker processes: a small pool of engine hosts.

Why: some engines cannot run in several threads of one process. TextWorld's PDDL engine (ALFWorld)
shares parser state between instances - two sessions stepped in two threads fail with
``FailedToken: expecting ';'`` / ``IndexError: pop from empty list`` - and the server and the
in-process runner both run blocking envs in threads. A lock would make them correct but serial.
Separate processes make them correct *and* parallel (each worker has its own interpreter, GIL and
engine globals), and they contain a crash: a segfault or an OOM kill takes one worker down, not the
server. SciWorld's JVMs fit the same shape.

Shape:

* An `EnginePool` has up to ``workers`` worker processes, started lazily (a worker is started only
  when every running worker already hosts an engine, so one session costs one process). Each
  worker hosts **many engine instances keyed by an int handle**; ``pool.create("pkg.mod:Class",
  *args)`` builds one in the worker with the fewest live engines and returns an `EngineHandle`,
  whose ``call("step", action)`` runs ``engine.step(action)`` there and returns the result.
* An engine is **sticky**: its state lives in one worker for its whole life. Each worker runs one
  request at a time (that is the point: its engines never see a second thread); calls from many
  threads to one worker queue on a per-worker lock, calls to different workers run in parallel.
  Spreading engines over the least-loaded worker is what puts different sessions on different
  workers.
* Requests and replies are pickled over a `multiprocessing` pipe: ``(op, handle, method, args,
  kwargs)`` -> ``(ok, value)``. An exception raised by an engine is pickled back and re-raised in
  the caller with the worker's traceback as ``__cause__`` (as `concurrent.futures` does), so an
  `agentgym` API error keeps its type and HTTP status; one that does not pickle becomes
  `RemoteError`.
* **A worker that dies** (signal, segfault, ``os._exit``, OOM kill) is noticed by waiting on its
  pipe and on its process sentinel together, so a caller never hangs on a dead worker. The call in
  flight and every later call on an engine it hosted raise `WorkerCrashed` (a `RuntimeError`: the
  server answers 500 for that session only), and the pool starts a fresh worker in its slot at once,
  so new engines keep working. A call can also have a timeout (``call_timeout_s``): the worker is
  then killed and treated as crashed, because its state is unknown.
* Engines are freed by `EngineHandle.close` (the worker drops the instance and calls its
  ``close``). A handle that is garbage-collected without ``close`` queues its engine for freeing on
  the worker's next request - queued, not sent, because the collector may run in a thread that is
  itself in the middle of a request to that worker.
* Workers are daemonic, ignore SIGINT (Ctrl-C in a terminal reaches the whole process group; the
  parent decides when they stop), and exit when their pipe closes, so they never outlive the parent
  even if it is SIGKILLed. `EnginePool.shutdown` stops them (registered with `atexit`).

Start method: **forkserver**, measured against spawn on this 2-core machine (ALFWorld workers,
textworld + alfworld imported in each; pool of 3 workers, one engine created per worker):

    =========================  ========  ==========
    start method               spawn     forkserver
    =========================  ========  ==========
    first worker ready         1.31 s    1.38 s
    each further worker        1.23 s    0.02 s
    replacement after a crash  1.57 s    0.02 s
    memory per idle worker     58 MB PSS 17 MB PSS
    =========================  ========  ==========

``fork`` is out: it copies a process that has threads (uvicorn, the server's worker threads, the
reaper), and a lock held by another thread at that moment (logging, import, an engine's own) stays
held forever in the child; Python 3.12 warns about exactly this. ``spawn`` and ``forkserver`` are
both safe: the forkserver is a single-threaded process started by exec, which imports the
``preload`` modules once and forks each worker from that clean state - so further workers start
60x faster and share the imported modules' pages copy-on-write. Its caveat: there is one forkserver
per interpreter and its preload list is fixed when it starts. Pools therefore merge their preload
modules into it (`_merge_forkserver_preload`) before the first worker starts; a pool created after
the forkserver started still works, its workers just import their modules themselves. As with
spawn, the child imports the parent's main module (once, in the forkserver): a script that creates
engines at import time must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import atexit
import importlib
import itertools
import logging
import multiprocessing as mp
import os
import pickle
import signal
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("agentgym.worker_pool")

START_METHOD = "forkserver"
_forkserver_preload: set[str] = {"__main__"}  # multiprocessing's own default, kept
_forkserver_lock = threading.Lock()


def _merge_forkserver_preload(modules: Iterable[str]) -> None:
    """Add ``modules`` to what the forkserver imports when it starts (no effect once it runs)."""
    with _forkserver_lock:
        _forkserver_preload.update(modules)
        mp.get_context("forkserver").set_forkserver_preload(sorted(_forkserver_preload))


class WorkerCrashed(RuntimeError):
    """The worker process hosting an engine died (or was killed after a timeout); its state is lost."""


class RemoteError(RuntimeError):
    """An engine raised an exception that could not be pickled back; the message and traceback are kept."""


class _RemoteTraceback(Exception):
    """Carries the worker's traceback text as the ``__cause__`` of a re-raised engine exception."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f"\n--- in the worker process ---\n{self.tb}"


def default_workers(env_var: str | None = None) -> int:
    """Pool size: ``$env_var`` if set (>= 1), else the cores this process may run on."""
    raw = os.environ.get(env_var, "").strip() if env_var else ""
    if raw:
        n = int(raw)
        if n < 1:
            raise ValueError(f"{env_var} must be an int >= 1, got {raw!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------ worker side
def _resolve(factory: str) -> Any:
    """``"pkg.mod:attr"`` -> the object (a class or function that builds an engine)."""
    module, _, attr = factory.partition(":")
    if not attr:
        raise ValueError(f"an engine factory is 'package.module:attr', got {factory!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _pack_error(e: BaseException) -> BaseException:
    """The exception itself if it survives pickling (so its type reaches the caller), else a
    `RemoteError` with its text; the worker traceback rides along either way."""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    try:
        err: BaseException = pickle.loads(pickle.dumps(e))
    except Exception:
        err = RemoteError(f"{type(e).__name__}: {e}")
    err.__traceback__ = None
    err.__cause__ = None
    err.__context__ = None
    err._agentgym_remote_tb = tb  # type: ignore[attr-defined]  # our own private attribute, on purpose
    return err


def _close_engine(engine: Any) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()


_EXIT = object()  # what `_handle` returns for ``exit``: the worker stops without a reply


def _handle(
    engines: dict[int, Any], op: str, hid: int, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The value of one request to a worker (an exception is the reply as it is)."""
    if op == "call":
        engine = engines.get(hid)
        if engine is None:
            raise KeyError(f"engine {hid} is not hosted by worker {os.getpid()} (closed?)")
        return getattr(engine, name)(*args, **kwargs)
    if op == "create":
        engines[hid] = _resolve(name)(*args, **kwargs)
        return os.getpid()
    if op == "close":
        for h in args:
            engine = engines.pop(h, None)
            if engine is not None:
                _close_engine(engine)
        return None
    if op == "count":
        return len(engines)
    if op == "exit":
        return _EXIT
    raise ValueError(f"unknown worker op {op!r}")


def _serve(conn: Connection, preload: Sequence[str]) -> None:
    """A worker's main loop: one request at a time until the pipe closes or ``exit`` arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in preload:
        importlib.import_module(name)
    engines: dict[int, Any] = {}
    while True:
        try:
            op, hid, name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            break  # the parent is gone
        try:
            value = _handle(engines, op, hid, name, args, kwargs)
            if value is _EXIT:
                break
            reply: tuple[bool, Any] = (True, value)
        except Exception as e:
            reply = (False, _pack_error(e))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            break
        except Exception as e:  # the value did not pickle: say so instead of dying
            conn.send((False, _pack_error(TypeError(f"the result of {name!r} cannot be sent back: {e}"))))
    for engine in engines.values():
        try:
            _close_engine(engine)
        except Exception:
            pass


# ------------------------------------------------------------------------------------ parent side
def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    """One worker process, its pipe, the lock that serialises requests to it, and its engines."""

    def __init__(self, pool: EnginePool, slot: int) -> None:
        if mp.current_process().daemon:
            raise RuntimeError(
                f"{pool.name} engines run in worker processes, and this process is a daemonic "
                "multiprocessing child, which may not start processes: run it with daemon=False"
            )
        ctx = mp.get_context(pool.start_method)
        parent, child = ctx.Pipe()
        # typeshed: get_context(str) is a BaseContext, which lacks Process; every real context has it.
        self.process: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_serve,
            args=(child, tuple(pool.preload)),
            name=f"agentgym-{pool.name}-worker-{slot}",
            daemon=True,
        )
        self.process.start()
        child.close()  # only the worker holds its end now: its death closes the pipe (EOF here)
        self.conn: Connection = parent
        self.slot = slot
        self.pid: int = self.process.pid or 0
        self.lock = threading.Lock()
        self.engines: set[int] = set()
        self.dead: str | None = None  # why, once the worker is gone
        self.pending_close: deque[int] = deque()

    def __repr__(self) -> str:
        state = f"dead: {self.dead}" if self.dead else f"{len(self.engines)} engines"
        return f"<worker {self.slot} pid {self.pid} {state}>"


class EngineHandle:
    """A proxy for one engine instance living in a worker process."""

    def __init__(self, pool: EnginePool, worker: _Worker, hid: int) -> None:
        self.pool = pool
        self.id = hid
        self._worker = worker
        self._closed = False
        self._finalizer = weakref.finalize(self, _defer_close, worker, hid)

    @property
    def pid(self) -> int:
        """The worker process that hosts this engine."""
        return self._worker.pid

    @property
    def alive(self) -> bool:
        """False once closed or once its worker died."""
        return not self._closed and self._worker.dead is None

    def call(self, method: str, *args: Any, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """``engine.method(*args, **kwargs)`` in the worker; raises what the engine raised, or
        `WorkerCrashed` if the worker died (then this handle is dead for good)."""
        if self._closed:
            raise RuntimeError(f"{self.pool.name} engine {self.id} is closed")
        return self.pool._request(self._worker, ("call", self.id, method, args, kwargs), method, timeout_s)

    def close(self) -> None:
        """Free the engine in its worker (a no-op if the worker already died)."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        w = self._worker
        w.engines.discard(self.id)
        if w.dead is None:
            try:
                self.pool._request(w, ("close", 0, "close", (self.id,), {}), "close", None)
            except WorkerCrashed:
                pass

    def __repr__(self) -> str:
        return f"<{self.pool.name} engine {self.id} in pid {self.pid}{'' if self.alive else ' (dead)'}>"


def _defer_close(worker: _Worker, hid: int) -> None:
    """Finalizer of a handle dropped without ``close``: freed on the worker's next request."""
    worker.engines.discard(hid)
    if worker.dead is None:
        worker.pending_close.append(hid)


class EnginePool:
    """Up to ``workers`` worker processes hosting engine instances (see the module docstring).

    ``preload`` - modules each worker imports as soon as it starts (the heavy imports happen while
    the parent goes on, not inside the first call); ``call_timeout_s`` - default per-call timeout
    (None: wait as long as the worker lives)."""

    def __init__(
        self,
        name: str,
        workers: int,
        *,
        preload: Iterable[str] = (),
        start_method: str = START_METHOD,
        call_timeout_s: float | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"{name}: an engine pool needs >= 1 worker, got {workers}")
        self.name = name
        self.size = int(workers)
        self.preload = list(preload)
        self.start_method = start_method
        self.call_timeout_s = call_timeout_s
        if start_method == "forkserver":
            _merge_forkserver_preload(self.preload)
        self._slots: list[_Worker | None] = [None] * self.size
        self._lock = threading.Lock()  # guards _slots and engine placement; never held during a request
        self._ids = itertools.count(1)
        self._closed = False
        self.crashes = 0

    # ---------------------------------------------------------------------------- public API
    def create(self, factory: str, *args: Any, **kwargs: Any) -> EngineHandle:
        """Build ``factory(*args, **kwargs)`` in the least-loaded worker; ``factory`` is
        ``"package.module:attr"`` (importable in the worker).

        A worker that died while idle is only noticed at its next request; if that request is
        this create, the engine is built on the fresh worker that replaced it (a new engine has no
        state to lose), so a new session never inherits an old crash."""
        for attempt in range(2):
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"the {self.name} engine pool is shut down")
                worker = self._place()
                hid = next(self._ids)
                worker.engines.add(hid)  # reserved before the request, so concurrent creates spread out
            try:
                self._request(worker, ("create", hid, factory, args, kwargs), f"create {factory}", None)
            except WorkerCrashed:
                worker.engines.discard(hid)
                if attempt:
                    raise
                continue
            except BaseException:
                worker.engines.discard(hid)
                raise
            return EngineHandle(self, worker, hid)
        raise AssertionError("unreachable")

    def workers(self) -> dict[int, int]:
        """Live worker pid -> number of engines it hosts."""
        with self._lock:
            return {w.pid: len(w.engines) for w in self._slots if w is not None and w.dead is None}

    def hosted(self) -> dict[int, int]:
        """Live worker pid -> number of engines the worker itself holds (asked over its pipe, so
        it shows that closed engines were really freed there)."""
        with self._lock:
            live = [w for w in self._slots if w is not None and w.dead is None]
        out = {}
        for w in live:
            try:
                out[w.pid] = self._request(w, ("count", 0, "count", (), {}), "count", None)
            except WorkerCrashed:
                pass
        return out

    def engines(self) -> dict[int, int]:
        """Live engine handle id -> pid of the worker hosting it (for monitoring and tests)."""
        with self._lock:
            return {h: w.pid for w in self._slots if w is not None and w.dead is None for h in w.engines}

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop every worker (their engines are dropped); the pool refuses new engines after."""
        with self._lock:
            self._closed = True
            workers = [w for w in self._slots if w is not None]
            self._slots = [None] * self.size
        for w in workers:
            if w.dead is None and w.lock.acquire(timeout=timeout_s):
                try:
                    w.conn.send(("exit", 0, "", (), {}))
                except (OSError, EOFError):
                    pass
                finally:
                    w.lock.release()
            w.process.join(timeout_s)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout_s)
            w.dead = w.dead or "pool shut down"
            w.conn.close()

    def __repr__(self) -> str:
        return f"<EnginePool {self.name} {self._slots}>"

    # ------------------------------------------------------------------------------ internals
    def _place(self) -> _Worker:
        """The worker for a new engine (caller holds ``_lock``): a running worker with no engines,
        else a new worker in a free slot, else the running worker with the fewest engines."""
        running = [w for w in self._slots if w is not None and w.dead is None]
        idle = [w for w in running if not w.engines]
        if idle:
            return idle[0]
        for slot, w in enumerate(self._slots):
            if w is None or w.dead is not None:
                self._slots[slot] = _Worker(self, slot)
                return self._slots[slot]  # type: ignore[return-value]
        return min(running, key=lambda w: len(w.engines))

    def _request(self, w: _Worker, msg: tuple, what: str, timeout_s: float | None) -> Any:
        timeout = self.call_timeout_s if timeout_s is None else timeout_s
        # Pickled before anything is sent: an argument that does not pickle is the caller's error
        # (raised here), not a broken pipe that would cost the worker.
        payload = pickle.dumps(msg, pickle.HIGHEST_PROTOCOL)
        with w.lock:
            if w.dead is not None:
                raise self._crash_error(w, what)
            try:
                if w.pending_close:
                    hids = []
                    while w.pending_close:
                        hids.append(w.pending_close.popleft())
                    self._roundtrip(w, pickle.dumps(("close", 0, "close", tuple(hids), {})), None)
                ok, value = self._roundtrip(w, payload, timeout)
            except (EOFError, OSError, TimeoutError) as e:
                self._crashed(w, e, kill=isinstance(e, TimeoutError))
                raise self._crash_error(w, what) from None
            except BaseException as e:
                # Interrupted between send and receive (KeyboardInterrupt): the pipe may hold an answer nobody will read, and the next caller would take it
                # for its own. The worker cannot be trusted any more: replace it.
                self._crashed(w, e, kill=True)
                raise
        if ok:
            return value
        tb = getattr(value, "_agentgym_remote_tb", None)
        if tb:
            raise value from _RemoteTraceback(tb)
        raise value

    @staticmethod
    def _roundtrip(w: _Worker, payload: bytes, timeout: float | None) -> tuple[bool, Any]:
        w.conn.send_bytes(payload)  # the worker's recv() unpickles it
        ready = wait([w.conn, w.process.sentinel], timeout)
        if not ready:
            raise TimeoutError(f"no answer within {timeout:g} s")
        if w.conn not in ready:  # (an answer sent just before dying still counts)
            raise EOFError("the worker exited")
        data = w.conn.recv_bytes()
        try:
            return pickle.loads(data)
        except Exception as e:  # the answer was read whole, so the pipe is still in step
            return False, RemoteError(f"the worker's answer cannot be read here: {type(e).__name__}: {e}")

    def _crashed(self, w: _Worker, cause: BaseException, kill: bool) -> None:
        """Mark ``w`` dead (caller holds ``w.lock``) and start a fresh worker in its slot; ``kill``:
        the worker may still be running (a timeout, an interrupted request) and is killed first."""
        if kill:
            w.process.kill()
        w.process.join(5.0)
        if kill:
            w.dead = f"{type(cause).__name__}: {cause}; killed"
        else:
            w.dead = _describe_exit(w.process.exitcode)
        w.conn.close()
        self.crashes += 1
        log.error("%s engine worker pid %d is gone (%s); starting a new one", self.name, w.pid, w.dead)
        with self._lock:
            if not self._closed and self._slots[w.slot] is w:
                self._slots[w.slot] = _Worker(self, w.slot)

    def _crash_error(self, w: _Worker, what: str) -> WorkerCrashed:
        return WorkerCrashed(
            f"the {self.name} engine worker process (pid {w.pid}) died ({w.dead}) - {what!r} did not "
            "complete and the engine state it hosted is lost; a new worker has been started: reset "
            "the session (or create a new one) to continue"
        )


_shared: dict[str, EnginePool] = {}
_shared_lock = threading.Lock()


def shared_pool(
    name: str, *, workers: int | None = None, env_var: str | None = None, preload: Iterable[str] = ()
) -> EnginePool:
    """The process-wide pool called ``name`` (created on first use, shut down at exit); its size is
    ``workers``, else ``$env_var``, else the number of cores (`default_workers`)."""
    with _shared_lock:
        pool = _shared.get(name)
        if pool is None:
            n = workers if workers is not None else default_workers(env_var)
            pool = _shared[name] = EnginePool(name, n, preload=preload)
            atexit.register(pool.shutdown)
        return pool
