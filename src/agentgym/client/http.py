"""HTTP clients for ``agentgym serve``: `EnvClient` (sync) and `AsyncEnvClient` (asyncio).

    with EnvClient(["http://10.0.0.1:8000", "http://10.0.0.2:8000"]) as client:
        with client.session("maze") as s:
            obs = s.reset(3)
            res = s.step("move up")

Both implement the `agentgym.client.base` interfaces, so runners use them exactly like the
in-process clients.

* **A pool of servers.** New sessions go to the server with the fewest sessions this client has
  open there (round-robin among ties); a session stays pinned to the server that created it. A
  server that refuses connections is tried last for ``dead_s`` seconds; one that does not host the
  env (404) or is full (503) is skipped for that session.
* **Capacity is waited for, not failed on.** A full server answers 503 + Retry-After. Opening a
  session then waits - Retry-After plus up to 50 % jitter, or sooner when a session of this client
  closes and frees a slot - until ``capacity_wait_s`` (default 300 s) has passed, and only then
  raises `AtCapacity`. A client run with more episodes in flight than the server's capacity (say
  ``--concurrency 16`` against ``--capacity 2``) therefore queues instead of losing episodes.
* **Transient failures get a bounded retry.** A connection refused or timed out before the request
  was sent, and a 502/504 from a proxy on a request that is safe to replay, are retried ``retries``
  times with exponential backoff (``backoff_s`` doubling up to ``max_backoff_s``). A request that
  may have reached the env (a step whose connection broke or timed out) is never replayed: stepping
  twice would corrupt the episode. Once a server has exhausted a call's retries it counts as down
  for ``dead_s``: other calls that fail on it in that window give up at once instead of each
  paying the full backoff (a server killed mid-run must not cost minutes of retries per episode).
* **A refused first contact is not transient.** If a server has never answered this client and
  refuses the connection, that is a wrong URL or a server that is not running: the client fails at
  once with `ServerUnavailable` naming the URL ("connection refused: is `agentgym serve` running on
  ...?") instead of retrying and then reporting that no server could open a session.
* **Errors** are the server's: the class it raised (named by the body's ``type``, looked up in
  `agentgym.core.errors`; by status code when the body names none) with its message: 404 ->
  `UnknownEnv` / `UnknownTask` / `UnknownSession`, 409 -> `NotReset` / `EpisodeOver`, 501 ->
  `NoExpert` / `NotSupported`, 503 -> `AtCapacity` (after ``capacity_wait_s``), 500 ->
  `EnvFailure` (alias `ServerError`), 422 -> `BadRequest` / `BadEnvArgs`; a server that cannot be
  reached -> `ServerUnavailable` (a `ConnectionError`).
* Keep-alive connections, ``max_connections`` (default 256) in all, split over ``shards`` (16)
  small httpx pools with each session pinned to one: httpcore scans its whole pool on every
  request, so a single pool of 64+ busy connections costs more client CPU than the server spends.

The logic (requests, answers, errors, pool, retry and wait decisions) is `agentgym.client.core`,
written once; this module only runs its plans over ``httpx.Client`` / ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.client.core import (
    GATEWAY,
    NOT_SENT,
    BaseEnvClient,
    BaseHTTPSession,
    Plan,
    Send,
    Sleep,
    error_from,
)
from agentgym.core.errors import BadRequest, EnvFailure, ServerUnavailable, Unauthorized
from agentgym.core.types import EnvSpec, Observation, StepResult

__all__ = [
    "AsyncEnvClient",
    "AsyncHTTPSession",
    "BadRequest",
    "EnvClient",
    "HTTPSession",
    "ServerError",
    "ServerUnavailable",
    "Unauthorized",
    "error_from",
]

T = TypeVar("T")

ServerError = EnvFailure
"""The old client-side name of `EnvFailure` (the env raised; HTTP 500), kept for importers."""
_NOT_SENT = _RETRYABLE = NOT_SENT  # the old names, kept for code that imported them
_GATEWAY = GATEWAY


# ------------------------------------------------------------------------- sync
class EnvClient(BaseEnvClient, Client):
    """Synchronous client for one or more env servers (``urls``: a base URL or a list of them)."""

    def __init__(self, urls: str | Sequence[str] = "http://127.0.0.1:8000", **kw: Any) -> None:
        super().__init__(urls, **kw)
        self._waiters: dict[str, collections.deque[threading.Event]] = {}
        self._waiters_lock = threading.Lock()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(headers=self._headers, timeout=self._timeout, limits=self._limits)

    def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's effects with blocking I/O; its return value is the answer."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = plan.send(value) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value
            value = error = None
            try:
                if type(effect) is Send:
                    value = effect.http.request(effect.method, effect.url, **effect.kw)
                elif type(effect) is Sleep:
                    time.sleep(effect.seconds)
                else:
                    self._wait_capacity(effect.env_id, effect.seconds)
            except BaseException as e:  # the plan decides (retry, give up); it re-raises the rest
                error = e

    def _wait_capacity(self, env_id: str, delay: float) -> None:
        """Sleep ``delay`` or until a session of ``env_id`` closed by this client frees a slot."""
        ev = threading.Event()
        with self._waiters_lock:
            self._waiters.setdefault(env_id, collections.deque()).append(ev)
        try:
            ev.wait(delay)
        finally:
            with self._waiters_lock:
                q = self._waiters.get(env_id)
                if q is not None and ev in q:
                    q.remove(ev)

    def _wake(self, env_id: str) -> None:
        """A slot of ``env_id`` was freed by us: the longest waiter tries at once (FIFO, one only,
        so a freed slot does not send every waiter at the server)."""
        with self._waiters_lock:
            q = self._waiters.get(env_id)
            if q:
                q.popleft().set()

    def request(self, http: httpx.Client | None, method: str, url: str, **kw: Any) -> Any:
        """One call with retries; returns the decoded JSON (None for 204)."""
        return self._run(self._call(http or self.http, method, url, kw))

    def health(self) -> dict[str, dict[str, Any] | ServerUnavailable]:
        """``GET /v1/health`` of every server: its answer, or the error that says why it is not up."""
        return {url: self._run(self._health(url)) for url in self.pool.urls}

    def list_envs(self) -> list[str]:
        return self._run(self._list_envs())

    def spec(self, env_id: str) -> EnvSpec:
        return self._run(self._spec(env_id))

    def session(self, env_id: str, **env_kwargs: Any) -> HTTPSession:
        url, sid = self._run(self._open(env_id, env_kwargs))
        return HTTPSession(self, url, sid, env_id, self._shard())

    def close(self) -> None:
        for http in self._https:
            http.close()


class HTTPSession(BaseHTTPSession, Session):
    """A session on one server (pinned to it)."""

    client: EnvClient

    def reset(self, task_id: int, seed: int | None = None) -> Observation:
        return self.client._run(self._reset(task_id, seed))

    def step(self, action: str) -> StepResult:
        return self.client._run(self._step(action))

    def observation(self) -> str:
        return self.client._run(self._observation())

    def available_actions(self) -> list[str] | None:
        return self.client._run(self._available_actions())

    def instruction(self) -> str:
        return self.client._run(self._instruction())

    def expert_reply(self) -> str:
        return self.client._run(self._expert_reply())

    def random_action(self, seed: int) -> str:
        return self.client._run(self._random_action(seed))

    def info(self) -> dict[str, Any]:
        """The server's view of the session (task, rounds, idle time)."""
        return self.client._run(self._info())

    def close(self) -> None:
        """Delete the session; a session the server already reaped counts as closed."""
        self.client._run(self._close())


# ------------------------------------------------------------------------ async
class AsyncEnvClient(BaseEnvClient, AsyncClient):
    """Asyncio client for one or more env servers; same options as `EnvClient`."""

    def __init__(self, urls: str | Sequence[str] = "http://127.0.0.1:8000", **kw: Any) -> None:
        super().__init__(urls, **kw)
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self._headers, timeout=self._timeout, limits=self._limits)

    async def _run(self, plan: Plan[T]) -> T:
        """Carry out a plan's effects on the event loop; its return value is the answer."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = plan.send(value) if error is None else plan.throw(error)
            except StopIteration as done:
                return done.value
            value = error = None
            try:
                if type(effect) is Send:
                    value = await effect.http.request(effect.method, effect.url, **effect.kw)
                elif type(effect) is Sleep:
                    await asyncio.sleep(effect.seconds)
                else:
                    await self._wait_capacity(effect.env_id, effect.seconds)
            except BaseException as e:  # the plan decides; cancellation runs its cleanup and goes on
                error = e

    async def _wait_capacity(self, env_id: str, delay: float) -> None:
        """Sleep ``delay`` or until a session of ``env_id`` closed by this client frees a slot."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        q = self._waiters.setdefault(env_id, collections.deque())
        q.append(fut)
        try:
            await asyncio.wait({fut}, timeout=delay)
        finally:
            if fut in q:
                q.remove(fut)
            fut.cancel()

    def _wake(self, env_id: str) -> None:
        """A slot of ``env_id`` was freed by us: the longest waiter tries at once (FIFO, one only)."""
        q = self._waiters.get(env_id)
        while q:
            fut = q.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def request(self, http: httpx.AsyncClient | None, method: str, url: str, **kw: Any) -> Any:
        """One call with retries; returns the decoded JSON (None for 204)."""
        return await self._run(self._call(http or self.http, method, url, kw))

    async def health(self) -> dict[str, dict[str, Any] | ServerUnavailable]:
        """``GET /v1/health`` of every server (at once): its answer, or why it is not up."""
        answers = await asyncio.gather(*(self._run(self._health(u)) for u in self.pool.urls))
        return dict(zip(self.pool.urls, answers, strict=True))

    async def list_envs(self) -> list[str]:
        return await self._run(self._list_envs())

    async def spec(self, env_id: str) -> EnvSpec:
        return await self._run(self._spec(env_id))

    async def session(self, env_id: str, **env_kwargs: Any) -> AsyncHTTPSession:
        url, sid = await self._run(self._open(env_id, env_kwargs))
        return AsyncHTTPSession(self, url, sid, env_id, self._shard())

    async def aclose(self) -> None:
        for http in self._https:
            await http.aclose()


class AsyncHTTPSession(BaseHTTPSession, AsyncSession):
    """An asyncio session on one server (pinned to it)."""

    client: AsyncEnvClient

    async def reset(self, task_id: int, seed: int | None = None) -> Observation:
        return await self.client._run(self._reset(task_id, seed))

    async def step(self, action: str) -> StepResult:
        return await self.client._run(self._step(action))

    async def observation(self) -> str:
        return await self.client._run(self._observation())

    async def available_actions(self) -> list[str] | None:
        return await self.client._run(self._available_actions())

    async def instruction(self) -> str:
        return await self.client._run(self._instruction())

    async def expert_reply(self) -> str:
        return await self.client._run(self._expert_reply())

    async def random_action(self, seed: int) -> str:
        return await self.client._run(self._random_action(seed))

    async def info(self) -> dict[str, Any]:
        return await self.client._run(self._info())

    async def close(self) -> None:
        await self.client._run(self._close())
