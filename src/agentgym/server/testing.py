"""Start a real env server for tests and benchmarks.

    from agentgym.server.testing import run_server

    with run_server(["maze", "wordle"], capacity=64) as url:     # "http://127.0.0.1:<free port>"
        client = EnvClient(url)
        ...

The server is a real uvicorn on a free loopback port (the socket is bound before the server starts,
so there is no port race). ``**app_kwargs`` go to `agentgym.server.app.create_app`.

By default it runs in a background **thread** of this process, so envs registered at runtime
(test fixtures) are hosted too. ``process=True`` runs it in a separate process instead (spawned,
so it imports a fresh agentgym): the server then has its own GIL and CPU, which is what a
throughput benchmark wants; envs registered at runtime must then be passed as
``register={"env_id": "module:Class"}`` so the child can register them.

Unlike `agentgym serve`, a test server has the privileged expert route **on** (most tests drive
episodes with the expert over HTTP); pass ``expert=False`` to test the default.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class ServerURL(str):
    """The base URL (a plain str) plus the server's process id (``pid``; this process for threads)."""

    pid: int = 0


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY from this socket. Without it, uvicorn's separate
    # writes of headers and body meet Nagle + delayed ACK: ~40 ms per response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _config(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on", timeout_keep_alive=30)


@contextmanager
def run_server(
    env_ids: Iterable[str],
    *,
    process: bool = False,
    register: Mapping[str, str] | None = None,
    log_level: str = "warning",
    startup_timeout_s: float = 60.0,
    **app_kwargs: Any,
) -> Iterator[ServerURL]:
    """Serve ``env_ids`` on ``127.0.0.1:<free port>`` for the duration of the block; yields the base URL."""
    env_ids = list(env_ids)
    app_kwargs.setdefault("expert", True)
    if process:
        with _run_process(env_ids, dict(register or {}), log_level, startup_timeout_s, app_kwargs) as url:
            yield url
        return
    import uvicorn

    from agentgym.core.registry import register as register_env
    from agentgym.server.app import create_app

    for env_id, entry in (register or {}).items():
        register_env(env_id, entry)
    server = uvicorn.Server(_config(create_app(env_ids, **app_kwargs), log_level))
    sock = _bind()
    port = sock.getsockname()[1]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="agentgym-server", daemon=True
    )
    thread.start()
    try:
        _wait(lambda: server.started, thread.is_alive, startup_timeout_s)
        url = ServerURL(f"http://127.0.0.1:{port}")
        url.pid = os.getpid()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _wait(ready: Any, alive: Any, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not ready():
        if not alive():
            raise RuntimeError("the env server exited during startup (see the log above)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the env server did not start within {timeout_s} s")
        time.sleep(0.01)


def _child(env_ids: list[str], register: dict[str, str], log_level: str, app_kwargs: dict, conn: Any) -> None:
    import uvicorn

    from agentgym.core.registry import register as register_env
    from agentgym.server.app import create_app

    for env_id, entry in register.items():
        register_env(env_id, entry)
    try:
        server = uvicorn.Server(_config(create_app(env_ids, **app_kwargs), log_level))
        sock = _bind()
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
        raise
    conn.send(("port", sock.getsockname()[1]))
    server.run(sockets=[sock])


@contextmanager
def _run_process(
    env_ids: list[str], register: dict[str, str], log_level: str, timeout_s: float, app_kwargs: dict
) -> Iterator[ServerURL]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    # Not a daemon: envs that run their engines in worker processes (ALFWorld) must be able to start
    # children, which a daemonic process may not. The finally below always stops it.
    proc = ctx.Process(target=_child, args=(env_ids, register, log_level, app_kwargs, child), daemon=False)
    proc.start()
    try:
        if not parent.poll(timeout_s):
            raise TimeoutError(f"the env server process did not start within {timeout_s} s")
        kind, value = parent.recv()
        if kind == "error":
            raise RuntimeError(f"the env server process failed to start: {value}")
        url = ServerURL(f"http://127.0.0.1:{value}")
        assert proc.pid is not None  # set by start()
        url.pid = proc.pid
        _wait_http(url, proc.is_alive, timeout_s)
        yield url
    finally:
        proc.terminate()  # SIGTERM: uvicorn shuts down gracefully and closes the envs
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _wait_http(url: str, alive: Any, timeout_s: float) -> None:
    import httpx

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(ready, alive, timeout_s)
