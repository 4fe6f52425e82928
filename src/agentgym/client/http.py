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
* **Errors** are the server's messages raised as `agentgym.core.errors` exceptions: 404 ->
  `UnknownEnv` / `UnknownTask` / `UnknownSession`, 409 -> `NotReset` / `EpisodeOver`, 501 ->
  `NoExpert`, 503 -> `AtCapacity` (after ``capacity_wait_s``), 500 -> `ServerError`, 422 ->
  `BadRequest`; a server that cannot be reached -> `ServerUnavailable` (a `ConnectionError`).
* Keep-alive connections, ``max_connections`` (default 256) in all, split over ``shards`` (16)
  small httpx pools with each session pinned to one: httpcore scans its whole pool on every
  request, so a single pool of 64+ busy connections costs more client CPU than the server spends.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.core.errors import (
    AgentGymError,
    AtCapacity,
    BadRequest,
    EnvFailure,
    ServerUnavailable,
    Unauthorized,
    UnknownEnv,
    UnknownSession,
    wire_error,
)
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


ServerError = EnvFailure
"""The old client-side name of `EnvFailure` (the env raised; HTTP 500), kept for importers."""

# The request was never sent: always safe to try again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE = _NOT_SENT  # the old name, kept for code that imported it
# A proxy in front of the server failed (bad gateway, gateway timeout): transient, but the request
# may have been forwarded, so only replayable requests are retried.
_GATEWAY = frozenset({502, 504})


def error_from(resp: httpx.Response) -> AgentGymError:
    """The exception for a non-2xx response, with the server's message."""
    try:
        body = json.loads(resp.content)
        detail, kind = str(body.get("detail", body)), str(body.get("type", ""))
    except (ValueError, AttributeError):
        detail, kind = resp.text[:500] or resp.reason_phrase, ""
    msg = f"{detail} [{resp.request.method} {resp.request.url} -> {resp.status_code}]"
    return wire_error(kind, resp.status_code, msg, _retry_after(resp))


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _cause(e: BaseException) -> str:
    """A short human cause for a transport error ("connection refused", "timed out", ...)."""
    text = str(e).strip()
    low = text.lower()
    chain: BaseException | None = e
    for _ in range(8):  # anyio wraps the OS error: "All connection attempts failed"
        if chain is None:
            break
        if isinstance(chain, ConnectionRefusedError):
            return "connection refused"
        chain = chain.__cause__ or chain.__context__
    if "refused" in low:
        return "connection refused"
    if isinstance(e, httpx.TimeoutException):
        return f"timed out ({type(e).__name__})"
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        return f"unknown host ({text})"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _replayable(method: str, url: str) -> bool:
    """Whether sending the request twice is harmless: reads, deletes and reset (a reset replaces the
    episode wholesale). A step is not: the env would advance twice."""
    return method.upper() in ("GET", "HEAD", "DELETE") or url.endswith("/reset")


def _step_result(d: dict[str, Any]) -> StepResult:
    return StepResult(d["observation"], d["reward"], d["terminated"], d["truncated"], d["info"])


class _Pool:
    """Which server gets the next session: least sessions opened by us, round-robin among ties,
    servers that refused connections tried last for ``dead_s``. Also remembers which servers ever
    answered (a refused *first* contact is a wrong URL, not a blip) and which were given up on
    (``down``: further failures on them skip the backoff). Thread-safe (the sync client may be
    shared by threads)."""

    def __init__(self, urls: Sequence[str], dead_s: float) -> None:
        if isinstance(urls, str):
            urls = [urls]
        self.urls = [u.rstrip("/") for u in urls]
        if not self.urls:
            raise ValueError("EnvClient needs at least one server URL")
        self.load = dict.fromkeys(self.urls, 0)
        self.dead_until = dict.fromkeys(self.urls, 0.0)
        self.down_until = dict.fromkeys(self.urls, 0.0)
        self.reached: set[str] = set()
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

    def base_of(self, url: str) -> str:
        """The pool URL that ``url`` (a full request URL) belongs to."""
        best = ""
        for u in self.urls:
            if url.startswith(u) and len(u) > len(best):
                best = u
        return best or url

    def mark_dead(self, url: str) -> None:
        with self._lock:
            if url in self.dead_until:
                self.dead_until[url] = time.monotonic() + self.dead_s

    def mark_down(self, url: str) -> None:
        """A call exhausted its retries on ``url``: the server is gone, not blipping."""
        with self._lock:
            if url in self.down_until:
                now = time.monotonic()
                self.down_until[url] = now + self.dead_s
                self.dead_until[url] = now + self.dead_s

    def is_down(self, url: str) -> bool:
        with self._lock:
            return self.down_until.get(url, 0.0) > time.monotonic()

    def answered(self, url: str) -> None:
        """``url`` sent an HTTP response: it exists and is up."""
        if url in self.reached and not self.down_until.get(url):
            return  # the hot path: nothing to update
        with self._lock:
            self.reached.add(url)
            if url in self.down_until:
                self.down_until[url] = 0.0
                self.dead_until[url] = 0.0

    def opened(self, url: str, delta: int) -> None:
        with self._lock:
            self.dead_until[url] = 0.0 if delta > 0 else self.dead_until[url]
            self.load[url] += delta


def _first_contact_error(failures: Sequence[tuple[str, BaseException]]) -> ServerUnavailable:
    where = ", ".join(f"{u} ({_cause(e)})" for u, e in failures)
    urls = " / ".join(u for u, _ in failures)
    return ServerUnavailable(
        f"cannot reach the env server at {where}: is `agentgym serve` running on {urls}? "
        "Check the URL, or start one with `agentgym serve ENV --port PORT`"
    )


@dataclass
class _Opening:
    """The state of one `session()` call across its rounds over the pool."""

    env_id: str
    capacity_wait_s: float
    attempt: int = 0  # transient rounds so far
    deadline: float | None = None  # end of the capacity wait, set at the first 503
    busy: list[float] = field(default_factory=list)  # Retry-After of each full server this round
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    missing: AgentGymError | None = None

    def new_round(self) -> None:
        self.busy, self.failures, self.missing = [], [], None


class _Base:
    """Options shared by `EnvClient` and `AsyncEnvClient` (one constructor serves both).

    ``retries`` bounds the retries of transient failures (connection refused after the server had
    answered, connect timeouts, 502/504 on replayable requests); ``capacity_wait_s`` bounds how long
    a 503 "at capacity" is waited out (0: raise `AtCapacity` at the first 503)."""

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
        capacity_wait_s: float = 300.0,
        max_connections: int = 256,
        shards: int = 16,
    ) -> None:
        if capacity_wait_s < 0:
            raise ValueError(f"capacity_wait_s must be >= 0, got {capacity_wait_s}")
        self.pool = _Pool(urls if not isinstance(urls, str) else [urls], dead_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.capacity_wait_s = capacity_wait_s
        self._rng = random.Random()  # jitter only: timing, never results
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

    def _capacity_delay(self, retry_after: float | None, deadline: float) -> float:
        """How long to wait before asking a full server again: its Retry-After plus up to 50 %
        jitter (so the waiting episodes do not come back in lockstep), never past the deadline."""
        wait = (retry_after or 1.0) * self._rng.uniform(1.0, 1.5)
        return max(0.0, min(wait, deadline - time.monotonic()))

    def _capacity_deadline(self, deadline: float | None) -> float:
        return deadline if deadline is not None else time.monotonic() + self.capacity_wait_s

    def _at_capacity(self, what: str) -> AtCapacity:
        return AtCapacity(
            f"{what} stayed at capacity for {self.capacity_wait_s:g} s (the client's capacity wait); "
            "lower the concurrency, raise the server's --capacity, add servers, or wait longer "
            "(--capacity-wait)"
        )

    def _not_sent(self, method: str, url: str, e: BaseException, attempt: int) -> float:
        """A request to ``url`` failed before it was sent: the delay before retrying it, or raise.

        A refused first contact raises at once (wrong URL / server not started); a server already
        given up on by another call raises at once; otherwise ``retries`` tries with backoff."""
        base = self.pool.base_of(url)
        if isinstance(e, httpx.ConnectError) and base not in self.pool.reached:
            raise _first_contact_error([(base, e)]) from e
        if attempt >= self.retries or self.pool.is_down(base):
            how = (
                f"{attempt + 1} tries" if attempt >= self.retries else "an earlier request spent the retries"
            )
            self.pool.mark_down(base)
            raise ServerUnavailable(f"lost the env server {base}: {_cause(e)} ({method} {url}; {how})") from e
        return self._delay(attempt)

    def _sent_failure(self, method: str, url: str, e: httpx.TransportError, attempt: int) -> float:
        """The connection broke or timed out after the request was sent: retry only if replaying is
        harmless (and the retries last); a step is never replayed."""
        base = self.pool.base_of(url)
        if _replayable(method, url) and attempt < self.retries and not self.pool.is_down(base):
            return self._delay(attempt)
        raise ServerUnavailable(
            f"{method} {url} failed after it was sent: {_cause(e)}"
            + ("" if _replayable(method, url) else " (not replayed: it may have reached the env)")
        ) from e

    def _after_round(self, st: _Opening) -> tuple[str, float]:
        """What a `session()` call does after trying every server once: ``("capacity", delay)``
        waits for a slot, ``("retry", delay)`` backs off a transient failure; otherwise it raises."""
        if st.busy:  # a live server is full: wait for a slot (up to capacity_wait_s)
            st.deadline = self._capacity_deadline(st.deadline)
            if time.monotonic() >= st.deadline:
                raise self._at_capacity(f"every server hosting {st.env_id!r}")
            return "capacity", self._capacity_delay(min(st.busy), st.deadline)
        transient = [
            (u, e) for u, e in st.failures if u in self.pool.reached or not isinstance(e, httpx.ConnectError)
        ]
        if not transient:
            if st.missing is not None:
                raise st.missing
            raise _first_contact_error(st.failures)
        known_down = all(self.pool.is_down(u) for u, _ in transient)
        if st.attempt >= self.retries or known_down:
            for u, _ in transient:
                self.pool.mark_down(u)
            where = ", ".join(f"{u} ({_cause(e)})" for u, e in transient)
            how = (
                "not retried: an earlier request already spent its retries on it"
                if known_down and st.attempt < self.retries
                else f"{st.attempt + 1} tries"
            )
            raise ServerUnavailable(
                f"cannot open a {st.env_id!r} session: lost the env server(s) {where}; {how}"
            )
        st.attempt += 1
        return "retry", self._delay(st.attempt - 1)

    def _create_response(self, st: _Opening, url: str, resp: httpx.Response) -> str | None:
        """Handle one server's answer to POST /v1/sessions: the new session id, or None to go on."""
        self.pool.answered(url)
        if resp.status_code == 201:
            self.pool.opened(url, +1)
            return str(resp.json()["session_id"])
        if resp.status_code == 503:
            st.busy.append(_retry_after(resp) or 1.0)
            return None
        if resp.status_code in _GATEWAY:  # a proxy's failure; the session may leak (the TTL reaps it)
            st.failures.append((url, error_from(resp)))
            return None
        err = error_from(resp)
        if not isinstance(err, UnknownEnv):
            raise err
        st.missing = err  # this server does not host the env: try the others
        return None


# ------------------------------------------------------------------------- sync
class EnvClient(_Base, Client):
    """Synchronous client for one or more env servers (``urls``: a base URL or a list of them)."""

    def __init__(self, urls: str | Sequence[str] = "http://127.0.0.1:8000", **kw: Any) -> None:
        super().__init__(urls, **kw)
        self._waiters: dict[str, collections.deque[threading.Event]] = {}
        self._waiters_lock = threading.Lock()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(headers=self._headers, timeout=self._timeout, limits=self._limits)

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
        http = http or self.http
        attempt = 0
        deadline: float | None = None
        while True:
            try:
                resp = http.request(method, url, **kw)
            except _NOT_SENT as e:
                time.sleep(self._not_sent(method, url, e, attempt))
                attempt += 1
                continue
            except httpx.TransportError as e:
                time.sleep(self._sent_failure(method, url, e, attempt))
                attempt += 1
                continue
            self.pool.answered(self.pool.base_of(url))
            if resp.status_code == 503:
                deadline = self._capacity_deadline(deadline)
                if time.monotonic() < deadline:
                    time.sleep(self._capacity_delay(_retry_after(resp), deadline))
                    continue
            elif resp.status_code in _GATEWAY and _replayable(method, url) and attempt < self.retries:
                time.sleep(self._delay(attempt))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise error_from(resp)
            return None if resp.status_code == 204 else json.loads(resp.content)

    def health(self) -> dict[str, dict[str, Any] | ServerUnavailable]:
        """``GET /v1/health`` of every server: its answer, or the error that says why it is not up."""
        out: dict[str, dict[str, Any] | ServerUnavailable] = {}
        for url in self.pool.urls:
            try:
                out[url] = self.request(None, "GET", f"{url}/v1/health")
            except ServerUnavailable as e:
                out[url] = e
        return out

    def list_envs(self) -> list[str]:
        ids: set[str] = set()
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                ids.update(s["id"] for s in self.request(None, "GET", f"{url}/v1/envs"))
            except ServerUnavailable as e:
                self.pool.mark_dead(url)
                errors.append(e)
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]  # no server answered: say why instead of "no envs"
        return sorted(ids)

    def spec(self, env_id: str) -> EnvSpec:
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                return EnvSpec.model_validate(self.request(None, "GET", f"{url}/v1/envs/{env_id}"))
            except ServerUnavailable as e:
                errors.append(e)
            except (UnknownEnv, UnknownSession):
                continue
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]
        raise UnknownEnv(f"no server of {self.pool.urls} hosts env {env_id!r}")

    def session(self, env_id: str, **env_kwargs: Any) -> HTTPSession:
        body = {"env": env_id, "kwargs": env_kwargs}
        st = _Opening(env_id, self.capacity_wait_s)
        while True:
            st.new_round()
            for url in self.pool.order():
                try:
                    resp = self.http.post(f"{url}/v1/sessions", json=body)
                except httpx.TransportError as e:
                    self.pool.mark_dead(url)
                    st.failures.append((url, e))
                    continue
                sid = self._create_response(st, url, resp)
                if sid is not None:
                    return HTTPSession(self, url, sid, env_id, self._shard())
            kind, delay = self._after_round(st)
            if kind == "capacity":
                self._wait_capacity(env_id, delay)
            else:
                time.sleep(delay)

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
        finally:
            self.client._wake(self.env_id)


# ------------------------------------------------------------------------ async
class AsyncEnvClient(_Base, AsyncClient):
    """Asyncio client for one or more env servers; same options as `EnvClient`."""

    def __init__(self, urls: str | Sequence[str] = "http://127.0.0.1:8000", **kw: Any) -> None:
        super().__init__(urls, **kw)
        self._waiters: dict[str, collections.deque[asyncio.Future[None]]] = {}

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self._headers, timeout=self._timeout, limits=self._limits)

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
        http = http or self.http
        attempt = 0
        deadline: float | None = None
        while True:
            try:
                resp = await http.request(method, url, **kw)
            except _NOT_SENT as e:
                await asyncio.sleep(self._not_sent(method, url, e, attempt))
                attempt += 1
                continue
            except httpx.TransportError as e:
                await asyncio.sleep(self._sent_failure(method, url, e, attempt))
                attempt += 1
                continue
            self.pool.answered(self.pool.base_of(url))
            if resp.status_code == 503:
                deadline = self._capacity_deadline(deadline)
                if time.monotonic() < deadline:
                    await asyncio.sleep(self._capacity_delay(_retry_after(resp), deadline))
                    continue
            elif resp.status_code in _GATEWAY and _replayable(method, url) and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise error_from(resp)
            return None if resp.status_code == 204 else json.loads(resp.content)

    async def health(self) -> dict[str, dict[str, Any] | ServerUnavailable]:
        """``GET /v1/health`` of every server: its answer, or the error that says why it is not up."""

        async def one(url: str) -> dict[str, Any] | ServerUnavailable:
            try:
                return await self.request(None, "GET", f"{url}/v1/health")
            except ServerUnavailable as e:
                return e

        answers = await asyncio.gather(*(one(u) for u in self.pool.urls))
        return dict(zip(self.pool.urls, answers, strict=True))

    async def list_envs(self) -> list[str]:
        ids: set[str] = set()
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                ids.update(s["id"] for s in await self.request(None, "GET", f"{url}/v1/envs"))
            except ServerUnavailable as e:
                self.pool.mark_dead(url)
                errors.append(e)
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]  # no server answered: say why instead of "no envs"
        return sorted(ids)

    async def spec(self, env_id: str) -> EnvSpec:
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                return EnvSpec.model_validate(await self.request(None, "GET", f"{url}/v1/envs/{env_id}"))
            except ServerUnavailable as e:
                errors.append(e)
            except (UnknownEnv, UnknownSession):
                continue
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]
        raise UnknownEnv(f"no server of {self.pool.urls} hosts env {env_id!r}")

    async def session(self, env_id: str, **env_kwargs: Any) -> AsyncHTTPSession:
        body = {"env": env_id, "kwargs": env_kwargs}
        st = _Opening(env_id, self.capacity_wait_s)
        while True:
            st.new_round()
            for url in self.pool.order():
                try:
                    resp = await self.http.post(f"{url}/v1/sessions", json=body)
                except httpx.TransportError as e:
                    self.pool.mark_dead(url)
                    st.failures.append((url, e))
                    continue
                sid = self._create_response(st, url, resp)
                if sid is not None:
                    return AsyncHTTPSession(self, url, sid, env_id, self._shard())
            kind, delay = self._after_round(st)
            if kind == "capacity":
                await self._wait_capacity(env_id, delay)
            else:
                await asyncio.sleep(delay)

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
        finally:
            self.client._wake(self.env_id)
