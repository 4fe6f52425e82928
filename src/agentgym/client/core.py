"""The HTTP client's logic without its I/O: what to send, how to read the answer, which error it
is, which server to try, and whether to wait, retry or give up (the behaviours are listed in
`agentgym.client.http`). `EnvClient` and `AsyncEnvClient` are thin transports over it, as httpx
splits ``BaseClient`` from ``Client`` / ``AsyncClient``.

Every operation is a *plan*: a generator that yields effects - `Send` a request, `Sleep`, wait for a
slot (`WaitSlot`) - and receives the httpx response (or has the transport error thrown in). A
transport runs a plan with its own I/O (``time.sleep`` or ``await asyncio.sleep``, ``httpx.Client``
or ``httpx.AsyncClient``), so each decision is written once and the two clients cannot drift apart.
Plans compose with ``yield from`` (``list_envs`` is a ``GET`` per server).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar, final

import httpx

from agentgym.client.pool import ServerPool, cause, first_contact_error
from agentgym.core import protocol as p
from agentgym.core.errors import (
    AgentGymError,
    AtCapacity,
    ServerUnavailable,
    UnknownEnv,
    UnknownSession,
    wire_error,
)
from agentgym.core.types import EnvSpec, Observation, StepResult

T = TypeVar("T")

# The request was never sent: always safe to try again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# A proxy in front of the server failed (bad gateway, gateway timeout): transient, but the request
# may have been forwarded, so only replayable requests are retried.
GATEWAY = frozenset({502, 504})


# ------------------------------------------------------------------------- effects
# Final: the transports dispatch on ``type(effect) is Send`` (cheaper than isinstance on every
# request), which covers every effect only if none is subclassed; @final also lets the type
# checker narrow the last ``else`` branch to `WaitSlot`.
@final
class Send(NamedTuple):
    """Send ``method url`` on ``http`` (an httpx client); the plan receives the response, or has
    the transport error thrown in."""

    http: Any
    method: str
    url: str
    kw: dict[str, Any]


@final
class Sleep(NamedTuple):
    seconds: float


@final
class WaitSlot(NamedTuple):
    """Sleep ``seconds``, or less when a session of ``env_id`` closed by this client frees a slot."""

    env_id: str
    seconds: float


Effect = Send | Sleep | WaitSlot
Plan = Generator[Effect, Any, T]


# ------------------------------------------------------------------------ decoding
def error_from(resp: httpx.Response) -> AgentGymError:
    """The exception for a non-2xx response: the class the server raised, with its message."""
    try:
        body = json.loads(resp.content)
        detail, kind = str(body.get("detail", body)), str(body.get("type", ""))
    except (ValueError, AttributeError):
        detail, kind = resp.text[:500] or resp.reason_phrase, ""
    msg = f"{detail} [{resp.request.method} {resp.request.url} -> {resp.status_code}]"
    return wire_error(kind, resp.status_code, msg, retry_after(resp))


def retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


@dataclass
class _Opening:
    """The state of one `session()` call across its rounds over the pool."""

    env_id: str
    attempt: int = 0  # transient rounds so far
    deadline: float | None = None  # end of the capacity wait, set at the first 503
    busy: list[float] = field(default_factory=list)  # Retry-After of each full server this round
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    missing: AgentGymError | None = None

    def new_round(self) -> None:
        self.busy, self.failures, self.missing = [], [], None


# -------------------------------------------------------------------------- client
class BaseEnvClient:
    """Options and plans shared by `EnvClient` and `AsyncEnvClient` (one constructor serves both).

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
        self.pool = ServerPool(urls if not isinstance(urls, str) else [urls], dead_s)
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

    # ------------------------------------------------------------ transport hooks
    def _new_http(self) -> Any:
        """A new httpx client (sync or async) with the shared options."""
        raise NotImplementedError

    def _wake(self, env_id: str) -> None:
        """A slot of ``env_id`` was freed by us: wake the longest `WaitSlot` waiter."""
        raise NotImplementedError

    def _shard(self) -> Any:
        """The httpx client for a new session. Sessions are spread over ``shards`` small connection
        pools: httpcore scans its whole pool on every request, so one pool of 64+ busy connections
        costs more client CPU per request than the server spends on it."""
        i = next(self._pool_rr) % self.shards
        while len(self._https) <= i:
            self._https.append(self._new_http())
        return self._https[i]

    # ------------------------------------------------------------------ decisions
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
            raise first_contact_error([(base, e)]) from e
        if attempt >= self.retries or self.pool.is_down(base):
            how = (
                f"{attempt + 1} tries" if attempt >= self.retries else "an earlier request spent the retries"
            )
            self.pool.mark_down(base)
            raise ServerUnavailable(f"lost the env server {base}: {cause(e)} ({method} {url}; {how})") from e
        return self._delay(attempt)

    def _sent_failure(self, method: str, url: str, e: httpx.TransportError, attempt: int) -> float:
        """The connection broke or timed out after the request was sent: retry only if replaying is
        harmless (and the retries last); a step is never replayed."""
        base = self.pool.base_of(url)
        if p.replayable(method, url) and attempt < self.retries and not self.pool.is_down(base):
            return self._delay(attempt)
        raise ServerUnavailable(
            f"{method} {url} failed after it was sent: {cause(e)}"
            + ("" if p.replayable(method, url) else " (not replayed: it may have reached the env)")
        ) from e

    def _after_round(self, st: _Opening) -> Effect:
        """What a `session()` call does after trying every server once: wait for a slot, back off
        a transient failure, or raise."""
        if st.busy:  # a live server is full: wait for a slot (up to capacity_wait_s)
            st.deadline = self._capacity_deadline(st.deadline)
            if time.monotonic() >= st.deadline:
                raise self._at_capacity(f"every server hosting {st.env_id!r}")
            return WaitSlot(st.env_id, self._capacity_delay(min(st.busy), st.deadline))
        transient = [
            (u, e) for u, e in st.failures if u in self.pool.reached or not isinstance(e, httpx.ConnectError)
        ]
        if not transient:
            if st.missing is not None:
                raise st.missing
            raise first_contact_error(st.failures)
        known_down = all(self.pool.is_down(u) for u, _ in transient)
        if st.attempt >= self.retries or known_down:
            for u, _ in transient:
                self.pool.mark_down(u)
            where = ", ".join(f"{u} ({cause(e)})" for u, e in transient)
            how = (
                "not retried: an earlier request already spent its retries on it"
                if known_down and st.attempt < self.retries
                else f"{st.attempt + 1} tries"
            )
            raise ServerUnavailable(
                f"cannot open a {st.env_id!r} session: lost the env server(s) {where}; {how}"
            )
        st.attempt += 1
        return Sleep(self._delay(st.attempt - 1))

    def _create_response(self, st: _Opening, url: str, resp: httpx.Response) -> str | None:
        """Handle one server's answer to POST /v1/sessions: the new session id, or None to go on."""
        self.pool.answered(url)
        if resp.status_code == 201:
            self.pool.opened(url, +1)
            return p.read_session_id(json.loads(resp.content))
        if resp.status_code == 503:
            st.busy.append(retry_after(resp) or 1.0)
            return None
        if resp.status_code in GATEWAY:  # a proxy's failure; the session may leak (the TTL reaps it)
            st.failures.append((url, error_from(resp)))
            return None
        err = error_from(resp)
        if not isinstance(err, UnknownEnv):
            raise err
        st.missing = err  # this server does not host the env: try the others
        return None

    # ---------------------------------------------------------------------- plans
    def _call(self, http: Any, method: str, url: str, kw: dict[str, Any]) -> Plan[Any]:
        """One call with its retries; returns the decoded JSON (None for 204)."""
        attempt = 0
        deadline: float | None = None
        while True:
            try:
                resp = yield Send(http, method, url, kw)
            except NOT_SENT as e:
                delay = self._not_sent(method, url, e, attempt)
            except httpx.TransportError as e:
                delay = self._sent_failure(method, url, e, attempt)
            else:
                self.pool.answered(self.pool.base_of(url))
                status = resp.status_code
                if status == 503:
                    deadline = self._capacity_deadline(deadline)
                    if time.monotonic() < deadline:
                        yield Sleep(self._capacity_delay(retry_after(resp), deadline))
                        continue
                elif status in GATEWAY and p.replayable(method, url) and attempt < self.retries:
                    delay = self._delay(attempt)
                    yield Sleep(delay)
                    attempt += 1
                    continue
                if status >= 400:
                    raise error_from(resp)
                return None if status == 204 else json.loads(resp.content)
            yield Sleep(delay)
            attempt += 1

    def _health(self, url: str) -> Plan[dict[str, Any] | ServerUnavailable]:
        """``GET /v1/health`` of one server: its answer, or the error that says why it is not up."""
        try:
            return (yield from self._call(self.http, "GET", url + p.HEALTH, {}))
        except ServerUnavailable as e:
            return e

    def _list_envs(self) -> Plan[list[str]]:
        ids: set[str] = set()
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                ids.update(p.read_env_ids((yield from self._call(self.http, "GET", url + p.ENVS, {}))))
            except ServerUnavailable as e:
                self.pool.mark_dead(url)
                errors.append(e)
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]  # no server answered: say why instead of "no envs"
        return sorted(ids)

    def _spec(self, env_id: str) -> Plan[EnvSpec]:
        errors: list[ServerUnavailable] = []
        for url in self.pool.order():
            try:
                d = yield from self._call(self.http, "GET", url + p.ENV.format(env=env_id), {})
                return EnvSpec.model_validate(d)
            except ServerUnavailable as e:
                errors.append(e)
            except (UnknownEnv, UnknownSession):
                continue
        if errors and len(errors) == len(self.pool.urls):
            raise errors[0]
        raise UnknownEnv(f"no server of {self.pool.urls} hosts env {env_id!r}")

    def _open(self, env_id: str, env_kwargs: dict[str, Any]) -> Plan[tuple[str, str]]:
        """Open a session on the best server that can: ``(server url, session id)``."""
        kw = {"json": p.create_request(env_id, env_kwargs)}
        st = _Opening(env_id)
        while True:
            st.new_round()
            for url in self.pool.order():
                try:
                    resp = yield Send(self.http, "POST", url + p.SESSIONS, kw)
                except httpx.TransportError as e:
                    self.pool.mark_dead(url)
                    st.failures.append((url, e))
                    continue
                sid = self._create_response(st, url, resp)
                if sid is not None:
                    return url, sid
            yield self._after_round(st)


class BaseHTTPSession:
    """A session on one server (pinned to it): the plans behind `HTTPSession` / `AsyncHTTPSession`."""

    def __init__(
        self, client: BaseEnvClient, base_url: str, session_id: str, env_id: str, http: Any = None
    ) -> None:
        self.client, self.base_url, self.session_id, self.env_id = client, base_url, session_id, env_id
        self.http = http or client.http
        self.url = base_url + p.SESSION.format(sid=session_id)
        self._reset_url = base_url + p.RESET.format(sid=session_id)
        self._step_url = base_url + p.STEP.format(sid=session_id)
        self._open = True

    def _get(self, route: str, **params: Any) -> Plan[Any]:
        kw = {"params": params} if params else {}
        return self.client._call(self.http, "GET", self.base_url + route.format(sid=self.session_id), kw)

    def _reset(self, task_id: int, seed: int | None) -> Plan[Observation]:
        kw = {"json": p.reset_request(task_id, seed)}
        return p.read_reset((yield from self.client._call(self.http, "POST", self._reset_url, kw)))

    def _step(self, action: str) -> Plan[StepResult]:
        kw = {"json": p.step_request(action)}
        return p.read_step((yield from self.client._call(self.http, "POST", self._step_url, kw)))

    def _observation(self) -> Plan[str]:
        return p.read_observation((yield from self._get(p.OBSERVATION)))

    def _available_actions(self) -> Plan[list[str] | None]:
        return p.read_actions((yield from self._get(p.AVAILABLE_ACTIONS)))

    def _instruction(self) -> Plan[str]:
        return p.read_instruction((yield from self._get(p.INSTRUCTION)))

    def _expert_reply(self) -> Plan[str]:
        return p.read_expert((yield from self._get(p.EXPERT)))

    def _random_action(self, seed: int) -> Plan[str]:
        return p.read_random_action((yield from self._get(p.RANDOM_ACTION, seed=seed)))

    def _info(self) -> Plan[dict[str, Any]]:
        return self.client._call(self.http, "GET", self.url, {})

    def _close(self) -> Plan[None]:
        """Delete the session; a session the server already reaped counts as closed."""
        if not self._open:
            return
        self._open = False
        self.client.pool.opened(self.base_url, -1)
        try:
            yield from self.client._call(self.http, "DELETE", self.url, {})
        except (UnknownSession, ServerUnavailable):
            pass
        finally:
            self.client._wake(self.env_id)
