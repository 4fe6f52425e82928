"""HTTP clients for ``agentgym serve``: `EnvClient` (sync) and `AsyncEnvClient` (asyncio).

    with EnvClient(["http://10.0.0.1:8000", "http://10.0.0.2:8000"]) as client:
        with client.session("maze") as s:
            obs = s.reset(3)
            res = s.step("move up")

Both implement the `agentgym.client.base` interfaces, so runners use them exactly like the
in-process clients.

* **A pool of servers.** New sessions go to the server with the fewest sessions this client has
  open there (round-robin among ties); a session stays pinned to the server that created it. A
  server that refuses connections is skipped for ``dead_s`` seconds; one that does not host the
  env (404) or is full (503) is skipped for that session.
* **Retries.** Connection failures before the request was sent and 503 answers are retried with
  exponential backoff (``backoff_s`` doubling up to ``max_backoff_s``; a 503's Retry-After is
  honoured), ``retries`` times. A request that may have reached the env (a read timeout during a
  step) is never replayed: stepping twice would corrupt the episode.
* **Errors** are the server's messages raised as `agentgym.core.errors` exceptions: 404 ->
  `UnknownEnv` / `UnknownTask` / `UnknownSession`, 409 -> `NotReset` / `EpisodeOver`, 501 ->
  `NoExpert`, 503 -> `AtCapacity` (after the retries), 500 -> `ServerError`, 422 -> `BadRequest`.
* Keep-alive connections, ``max_connections`` (default 256) in all, split over ``shards`` (16)
  small httpx pools with each session pinned to one: httpcore scans its whole pool on every
  request, so a single pool of 64+ busy connections costs more client CPU than the server spends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.core.errors import AgentGymError, EpisodeOver, NoExpert, NotReset, UnknownEnv, UnknownTask
from agentgym.core.types import EnvSpec, Observation, StepResult
from agentgym.server.sessions import AtCapacity, NotSupported, UnknownSession


class ServerError(AgentGymError):
    """The server answered 500: the env raised (the message names the env and the error)."""

    status = 500


class BadRequest(AgentGymError):
    """The server rejected the request body or parameters (422)."""

    status = 422


class Unauthorized(AgentGymError):
    """Missing or wrong bearer token (401)."""

    status = 401


class ServerUnavailable(AgentGymError, ConnectionError):
    """No server of the pool could be reached (after the retries)."""

    status = 503


_BY_TYPE: dict[str, type[AgentGymError]] = {
    cls.__name__: cls
    for cls in (
        UnknownEnv,
        UnknownTask,
        UnknownSession,
        EpisodeOver,
        NotReset,
        NoExpert,
        AtCapacity,
        NotSupported,
    )
}
_BY_TYPE.update({"EnvFailure": ServerError, "ValidationError": BadRequest, "BadEnvArgs": BadRequest})
_BY_STATUS: dict[int, type[AgentGymError]] = {
    401: Unauthorized,
    404: UnknownSession,
    409: EpisodeOver,
    413: BadRequest,
    422: BadRequest,
    500: ServerError,
    501: NoExpert,
    503: AtCapacity,
}
_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def error_from(resp: httpx.Response) -> AgentGymError:
    """The exception for a non-2xx response, with the server's message."""
    try:
        body = json.loads(resp.content)
        detail, kind = str(body.get("detail", body)), str(body.get("type", ""))
    except (ValueError, AttributeError):
        detail, kind = resp.text[:500] or resp.reason_phrase, ""
    cls = _BY_TYPE.get(kind) or _BY_STATUS.get(resp.status_code, AgentGymError)
    msg = f"{detail} [{resp.request.method} {resp.request.url} -> {resp.status_code}]"
    if cls is AtCapacity:
        return AtCapacity(msg, _retry_after(resp) or 1.0)
    return cls(msg)


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _step_result(d: dict[str, Any]) -> StepResult:
    return StepResult(d["observation"], d["reward"], d["terminated"], d["truncated"], d["info"])


class _Pool:
    """Which server gets the next session: least sessions opened by us, round-robin among ties,
    servers that refused connections skipped for ``dead_s``. Thread-safe (the sync client may be
    shared by threads)."""

    def __init__(self, urls: Sequence[str], dead_s: float) -> None:
        if isinstance(urls, str):
            urls = [urls]
        self.urls = [u.rstrip("/") for u in urls]
        if not self.urls:
            raise ValueError("EnvClient needs at least one server URL")
        self.load = dict.fromkeys(self.urls, 0)
        self.dead_until = dict.fromkeys(self.urls, 0.0)
        self.dead_s = dead_s
        self._rr = itertools.count()
        self._lock = threading.Lock()

    def order(self) -> list[str]:
        """All servers, best first (dead ones last: they are tried when nothing else works)."""
        with self._lock:
            now, start = time.monotonic(), next(self._rr)
            n = len(self.urls)
            rotated = [self.urls[(start + i) % n] for i in range(n)]
            return sorted(rotated, key=lambda u: (self.dead_until[u] > now, self.load[u]))

    def mark_dead(self, url: str) -> None:
        with self._lock:
            self.dead_until[url] = time.monotonic() + self.dead_s

    def opened(self, url: str, delta: int) -> None:
        with self._lock:
            self.dead_until[url] = 0.0 if delta > 0 else self.dead_until[url]
            self.load[url] += delta


class _Base:
    """Options shared by `EnvClient` and `AsyncEnvClient` (one constructor serves both)."""

    def __init__(
        self,
        urls: str | Sequence[str] = "http://127.0.0.1:8000",
        *,
        token: str | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        retries: int = 5,
        backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
        dead_s: float = 10.0,
        max_connections: int = 256,
        shards: int = 16,
    ) -> None:
        self.pool = _Pool(urls if not isinstance(urls, str) else [urls], dead_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.shards = max(1, shards)
        per_shard = max(4, -(-max_connections // self.shards))
        self._limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self._pool_rr = itertools.count()
        self._https: list[Any] = []
        self.http = self._shard()

    def _shard(self) -> Any:
        """The httpx client for a new session. Sessions are spread over ``shards`` small connection
        pools: httpcore scans its whole pool on every request, so one pool of 64+ busy connections
        costs more client CPU per request than the server spends on it."""
        i = next(self._pool_rr) % self.shards
        while len(self._https) <= i:
            self._https.append(self._new_http())
        return self._https[i]

    def _new_http(self) -> Any:
        raise NotImplementedError

    def _delay(self, attempt: int, retry_after: float | None = None) -> float:
        delay = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return max(delay, retry_after or 0.0)


# ------------------------------------------------------------------------- sync
class EnvClient(_Base, Client):
    """Synchronous client for one or more env servers (``urls``: a base URL or a list of them)."""

    def _new_http(self) -> httpx.Client:
        return httpx.Client(headers=self._headers, timeout=self._timeout, limits=self._limits)

    def request(self, http: httpx.Client | None, method: str, url: str, **kw: Any) -> Any:
        """One call with retries; returns the decoded JSON (None for 204)."""
        http = http or self.http
        attempt = 0
        while True:
            try:
                resp = http.request(method, url, **kw)
            except _RETRYABLE as e:
                if attempt >= self.retries:
                    raise ServerUnavailable(f"cannot reach {url}: {type(e).__name__}: {e}") from e
                time.sleep(self._delay(attempt))
                attempt += 1
                continue
            if resp.status_code == 503 and attempt < self.retries:
                time.sleep(self._delay(attempt, _retry_after(resp)))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise error_from(resp)
            return None if resp.status_code == 204 else json.loads(resp.content)

    def list_envs(self) -> list[str]:
        ids: set[str] = set()
        for url in self.pool.order():
            try:
                ids.update(s["id"] for s in self.request(None, "GET", f"{url}/v1/envs"))
            except ServerUnavailable:
                self.pool.mark_dead(url)
        return sorted(ids)

    def spec(self, env_id: str) -> EnvSpec:
        for url in self.pool.order():
            try:
                return EnvSpec.model_validate(self.request(None, "GET", f"{url}/v1/envs/{env_id}"))
            except (UnknownEnv, UnknownSession, ServerUnavailable):
                continue
        raise UnknownEnv(f"no server of {self.pool.urls} hosts env {env_id!r}")

    def session(self, env_id: str, **env_kwargs: Any) -> HTTPSession:
        body = {"env": env_id, "kwargs": env_kwargs}
        for attempt in range(self.retries + 1):
            busy: list[float] = []
            missing: AgentGymError | None = None
            for url in self.pool.order():
                try:
                    resp = self.http.post(f"{url}/v1/sessions", json=body)
                except _RETRYABLE:
                    self.pool.mark_dead(url)
                    continue
                if resp.status_code == 201:
                    self.pool.opened(url, +1)
                    return HTTPSession(self, url, resp.json()["session_id"], env_id, self._shard())
                if resp.status_code == 503:
                    busy.append(_retry_after(resp) or 1.0)
                    continue
                err = error_from(resp)
                if not isinstance(err, UnknownEnv):
                    raise err
                missing = err  # this server does not host the env: try the others
            if missing is not None and not busy:
                raise missing
            if attempt < self.retries:
                time.sleep(self._delay(attempt, min(busy) if busy else None))
        if busy:
            raise AtCapacity(
                f"every server hosting {env_id!r} is at capacity (tried {self.retries + 1} times)"
            )
        raise ServerUnavailable(f"no server of {self.pool.urls} could open a {env_id!r} session")

    def close(self) -> None:
        for http in self._https:
            http.close()


class HTTPSession(Session):
    """A session on one server (pinned to it)."""

    def __init__(
        self, client: EnvClient, base_url: str, session_id: str, env_id: str, http: Any = None
    ) -> None:
        self.client, self.base_url, self.session_id, self.env_id = client, base_url, session_id, env_id
        self.http = http or client.http
        self.url = f"{base_url}/v1/sessions/{session_id}"
        self._open = True

    def reset(self, task_id: int, seed: int | None = None) -> Observation:
        d = self.client.request(
            self.http, "POST", f"{self.url}/reset", json={"task_id": task_id, "seed": seed}
        )
        return Observation(d["observation"], d["info"])

    def step(self, action: str) -> StepResult:
        return _step_result(
            self.client.request(self.http, "POST", f"{self.url}/step", json={"action": action})
        )

    def observation(self) -> str:
        return self.client.request(self.http, "GET", f"{self.url}/observation")["observation"]

    def available_actions(self) -> list[str] | None:
        return self.client.request(self.http, "GET", f"{self.url}/available_actions")["actions"]

    def instruction(self) -> str:
        return self.client.request(self.http, "GET", f"{self.url}/instruction")["instruction"]

    def expert_reply(self) -> str:
        return self.client.request(self.http, "GET", f"{self.url}/expert")["reply"]

    def random_action(self, seed: int) -> str:
        return self.client.request(self.http, "GET", f"{self.url}/random_action", params={"seed": seed})[
            "action"
        ]

    def info(self) -> dict[str, Any]:
        """The server's view of the session (task, rounds, idle time)."""
        return self.client.request(self.http, "GET", self.url)

    def close(self) -> None:
        """Delete the session; a session the server already reaped counts as closed."""
        if not self._open:
            return
        self._open = False
        self.client.pool.opened(self.base_url, -1)
        try:
            self.client.request(self.http, "DELETE", self.url)
        except (UnknownSession, ServerUnavailable):
            pass


# ------------------------------------------------------------------------ async
class AsyncEnvClient(_Base, AsyncClient):
    """Asyncio client for one or more env servers; same options as `EnvClient`."""

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self._headers, timeout=self._timeout, limits=self._limits)

    async def request(self, http: httpx.AsyncClient | None, method: str, url: str, **kw: Any) -> Any:
        http = http or self.http
        attempt = 0
        while True:
            try:
                resp = await http.request(method, url, **kw)
            except _RETRYABLE as e:
                if attempt >= self.retries:
                    raise ServerUnavailable(f"cannot reach {url}: {type(e).__name__}: {e}") from e
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
                continue
            if resp.status_code == 503 and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, _retry_after(resp)))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise error_from(resp)
            return None if resp.status_code == 204 else json.loads(resp.content)

    async def list_envs(self) -> list[str]:
        ids: set[str] = set()
        for url in self.pool.order():
            try:
                ids.update(s["id"] for s in await self.request(None, "GET", f"{url}/v1/envs"))
            except ServerUnavailable:
                self.pool.mark_dead(url)
        return sorted(ids)

    async def spec(self, env_id: str) -> EnvSpec:
        for url in self.pool.order():
            try:
                return EnvSpec.model_validate(await self.request(None, "GET", f"{url}/v1/envs/{env_id}"))
            except (UnknownEnv, UnknownSession, ServerUnavailable):
                continue
        raise UnknownEnv(f"no server of {self.pool.urls} hosts env {env_id!r}")

    async def session(self, env_id: str, **env_kwargs: Any) -> AsyncHTTPSession:
        body = {"env": env_id, "kwargs": env_kwargs}
        for attempt in range(self.retries + 1):
            busy: list[float] = []
            missing: AgentGymError | None = None
            for url in self.pool.order():
                try:
                    resp = await self.http.post(f"{url}/v1/sessions", json=body)
                except _RETRYABLE:
                    self.pool.mark_dead(url)
                    continue
                if resp.status_code == 201:
                    self.pool.opened(url, +1)
                    return AsyncHTTPSession(self, url, resp.json()["session_id"], env_id, self._shard())
                if resp.status_code == 503:
                    busy.append(_retry_after(resp) or 1.0)
                    continue
                err = error_from(resp)
                if not isinstance(err, UnknownEnv):
                    raise err
                missing = err  # this server does not host the env: try the others
            if missing is not None and not busy:
                raise missing
            if attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, min(busy) if busy else None))
        if busy:
            raise AtCapacity(
                f"every server hosting {env_id!r} is at capacity (tried {self.retries + 1} times)"
            )
        raise ServerUnavailable(f"no server of {self.pool.urls} could open a {env_id!r} session")

    async def aclose(self) -> None:
        for http in self._https:
            await http.aclose()


class AsyncHTTPSession(AsyncSession):
    """An asyncio session on one server (pinned to it)."""

    def __init__(
        self, client: AsyncEnvClient, base_url: str, session_id: str, env_id: str, http: Any = None
    ) -> None:
        self.client, self.base_url, self.session_id, self.env_id = client, base_url, session_id, env_id
        self.http = http or client.http
        self.url = f"{base_url}/v1/sessions/{session_id}"
        self._open = True

    async def reset(self, task_id: int, seed: int | None = None) -> Observation:
        d = await self.client.request(
            self.http, "POST", f"{self.url}/reset", json={"task_id": task_id, "seed": seed}
        )
        return Observation(d["observation"], d["info"])

    async def step(self, action: str) -> StepResult:
        return _step_result(
            await self.client.request(self.http, "POST", f"{self.url}/step", json={"action": action})
        )

    async def observation(self) -> str:
        return (await self.client.request(self.http, "GET", f"{self.url}/observation"))["observation"]

    async def available_actions(self) -> list[str] | None:
        return (await self.client.request(self.http, "GET", f"{self.url}/available_actions"))["actions"]

    async def instruction(self) -> str:
        return (await self.client.request(self.http, "GET", f"{self.url}/instruction"))["instruction"]

    async def expert_reply(self) -> str:
        return (await self.client.request(self.http, "GET", f"{self.url}/expert"))["reply"]

    async def random_action(self, seed: int) -> str:
        return (
            await self.client.request(self.http, "GET", f"{self.url}/random_action", params={"seed": seed})
        )["action"]

    async def info(self) -> dict[str, Any]:
        return await self.client.request(self.http, "GET", self.url)

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self.client.pool.opened(self.base_url, -1)
        try:
            await self.client.request(self.http, "DELETE", self.url)
        except (UnknownSession, ServerUnavailable):
            pass
