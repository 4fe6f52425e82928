"""Live env sessions on a server: ids, per-session locks, capacity, idle reaping, worker threads.

Why each rule exists (the original servers broke each of them, reference §2/§9):

* **Ids are never reused.** A session id is ``uuid4().hex``; the small int ``num`` used by the
  original-route layer comes from a counter that only grows. The original WebShop/SQLGym servers
  handed out existing ids round-robin past capacity, so two clients silently shared one env.
* **One `asyncio.Lock` per session.** Calls on one session are serialised (two concurrent steps
  on one env would interleave its state); calls on different sessions run in parallel.
* **A capacity bound per env.** Past it, `create` raises `AtCapacity` (HTTP 503 + Retry-After)
  instead of sharing instances.
* **Idle sessions are reaped** after ``ttl_s`` seconds without a call (the original never freed
  envs: no /close), and every env is closed on delete, reap and shutdown.
* **Blocking engines run in worker threads** (a pool per env, ``max_workers`` threads each). Envs whose ``spec.blocking`` is True (JVM,
  TextWorld) are created, stepped and closed in a thread pool so the event loop keeps serving other
  sessions. Light envs (maze, wordle) are called inline: the thread hop costs ~100 us of server
  CPU per step (maze step through the app: ~85 us inline vs ~190 us threaded, measured in-process),
  more than the step itself. benchmarks/server_throughput.py also compares both end to end
  (``create_app(threaded=True)`` forces threads); on the loaded machine of
  benchmarks/results/server.md run-to-run noise exceeded the difference.

An exception raised by an env (other than the API errors of `agentgym.core.errors`) becomes
`EnvFailure` (HTTP 500) naming the env and the error. **The session stays open**: the caller may
reset it or delete it (an episode that crashed is over for the runner anyway, and keeping the
instance lets a client inspect it); it is reaped like any other idle session.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError

from agentgym.core.env import Env
from agentgym.core.errors import (  # the wire errors live in core; these names stay importable here
    AgentGymError,
    AtCapacity,
    BadEnvArgs,
    EnvFailure,
    NotSupported,
    UnknownEnv,
    UnknownSession,
)
from agentgym.core.registry import env_class

log = logging.getLogger("agentgym.server")


def validate_options(cls: type[Env], kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a client's session kwargs against ``cls.options``; only the keys it set come back."""
    if not kwargs:
        return {}
    if not isinstance(kwargs, Mapping):
        raise BadEnvArgs(f"env {cls.spec.id!r}: kwargs must be a JSON object")
    try:
        opts = cls.options.model_validate(dict(kwargs))
    except ValidationError as e:
        allowed = ", ".join(f"{name} ({_describe(f)})" for name, f in cls.options.model_fields.items())
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'kwargs'}: {err['msg']}"
            for err in e.errors(include_url=False, include_input=False)
        )
        raise BadEnvArgs(
            f"env {cls.spec.id!r} rejected kwargs: {problems}. Allowed kwargs: {allowed or 'none'}"
        ) from None
    return opts.model_dump(exclude_unset=True)


def _describe(field: Any) -> str:
    """'int >= 1, <= 1000' - a field's type and bounds for an error message."""
    if get_origin(field.annotation) is Literal:
        ann = "one of " + ", ".join(repr(v) for v in get_args(field.annotation))
    else:
        ann = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
    bounds = [
        f"{op} {getattr(m, attr)}"
        for m in field.metadata
        for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if getattr(m, attr, None) is not None
    ]
    return ", ".join([ann, *bounds])


@dataclass(eq=False)
class EnvSession:
    """One live env instance and its bookkeeping."""

    id: str
    num: int
    env_id: str
    env: Env
    threaded: bool
    created: float
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    reward: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        return {
            "session_id": self.id,
            "env": self.env_id,
            "compat_id": self.num,
            "task_id": self.env.task_id,
            "seed": self.env.seed,
            "rounds": self.env.rounds,
            "done": self.env.done,
            "age_s": round(now - self.created, 3),
            "idle_s": round(now - self.last_used, 3),
        }


class SessionManager:
    """Owns every live session of one server process.

    ``capacity`` is an int for every env or a mapping env id -> int; ``ttl_s`` <= 0 or None turns
    the reaper off; ``threaded`` None follows each env's ``spec.blocking``, True/False forces it.
    """

    def __init__(
        self,
        env_ids: Iterable[str],
        *,
        capacity: int | Mapping[str, int] = 256,
        ttl_s: float | None = 600.0,
        reap_interval_s: float | None = None,
        threaded: bool | None = None,
        max_workers: int = 16,
        retry_after_s: float = 1.0,
    ) -> None:
        self.classes: dict[str, type[Env]] = {}
        for env_id in env_ids:
            self.classes[env_id] = env_class(env_id)  # UnknownEnv / ImportError surface at startup
        if not self.classes:
            raise ValueError("a server must host at least one env")
        default_cap = capacity if isinstance(capacity, int) else 256
        caps = capacity if isinstance(capacity, Mapping) else {}
        self.capacity = {e: int(caps.get(e, default_cap)) for e in self.classes}
        for env_id, cap in self.capacity.items():
            if cap < 1:
                raise ValueError(f"capacity of {env_id!r} must be >= 1, got {cap}")
        self.ttl_s = ttl_s if ttl_s and ttl_s > 0 else None
        self.reap_interval_s = reap_interval_s or (
            max(0.05, min(self.ttl_s / 4, 30.0)) if self.ttl_s else None
        )
        self.threaded = threaded
        self.retry_after_s = retry_after_s
        self._max_workers = max_workers
        # One thread pool per env: slow calls of one env (BIRD queries up to their deadline, ALFWorld
        # resets) cannot take every thread and starve another env's sessions.
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._sessions: dict[str, EnvSession] = {}
        self._by_num: dict[int, EnvSession] = {}
        self._counts = dict.fromkeys(self.classes, 0)  # live + being created
        self._nums = itertools.count()
        self._gone: OrderedDict[str, str] = OrderedDict()  # recently closed id -> why (for 404 text)
        self._gone_env: dict[str, str] = {}  # recently closed "#num" -> its env (for `revive`)
        self._reaper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self.reap_interval_s and self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_loop(), name="agentgym-reaper")

    async def stop(self) -> None:
        """Stop the reaper and close every session (server shutdown)."""
        if self._reaper is not None:
            self._reaper.cancel()
            try:
                await self._reaper
            except asyncio.CancelledError:
                pass
            self._reaper = None
        for sid in list(self._sessions):
            await self.close(sid, "server shutdown")
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()

    # ------------------------------------------------------------------- queries
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self, env_id: str | None = None) -> list[EnvSession]:
        return [s for s in self._sessions.values() if env_id is None or s.env_id == env_id]

    def get(self, sid: str) -> EnvSession:
        s = self._sessions.get(sid)
        if s is None:
            raise UnknownSession(self._missing(f"session {sid!r}", sid))
        return s

    def get_num(self, num: int, env_id: str) -> EnvSession:
        """The session behind an original-route int id (must belong to ``env_id``)."""
        s = self._by_num.get(num)
        if s is None or s.env_id != env_id:
            raise UnknownSession(self._missing(f"{env_id} env id {num}", f"#{num}"))
        return s

    async def revive(self, num: int, env_id: str) -> EnvSession:
        """The session behind original-route id ``num``; if the reaper closed it, a fresh session of
        ``env_id`` under the same id (old trainers keep env ids across long phases). Ids closed on
        purpose (DELETE, /close) stay unknown."""
        try:
            return self.get_num(num, env_id)
        except UnknownSession:
            key = f"#{num}"
            if self._gone_env.get(key) != env_id or not self._gone.get(key, "").startswith("reaped"):
                raise
        self._gone.pop(key, None)  # before the await: a concurrent reset of the same id gets a 404
        self._gone_env.pop(key, None)
        return await self.create(env_id, num=num)

    def _missing(self, what: str, key: str) -> str:
        why = self._gone.get(key)
        if why:
            return f"{what} is closed ({why}); create a new session"
        return f"unknown {what}; create a session first"

    # ------------------------------------------------------------------ create
    async def create(
        self, env_id: str, kwargs: Mapping[str, Any] | None = None, *, num: int | None = None
    ) -> EnvSession:
        """A new session of ``env_id``; ``num`` re-uses a closed original-route id (see `revive`)."""
        cls = self.classes.get(env_id)
        if cls is None:
            raise UnknownEnv(f"env {env_id!r} is not hosted here; hosted envs: {', '.join(self.classes)}")
        cap = self.capacity[env_id]
        if self._counts[env_id] >= cap:
            raise AtCapacity(
                f"env {env_id!r} is at capacity ({cap} live sessions); close idle sessions or retry later",
                self.retry_after_s,
            )
        kw = validate_options(cls, kwargs)  # 422 before any env code runs or any slot is taken
        self._counts[env_id] += 1  # reserve the slot before any await
        threaded = cls.spec.blocking if self.threaded is None else self.threaded
        try:
            # Options may make construction heavy (a bigger catalog): never on the event loop then.
            env = await self._run(env_id, True, cls, **kw) if kw or threaded else cls()
        except (TypeError, ValueError) as e:
            self._counts[env_id] -= 1
            raise BadEnvArgs(f"env {env_id!r} rejected kwargs {sorted(kw)}: {e}") from e
        except AgentGymError:
            self._counts[env_id] -= 1
            raise
        except Exception as e:
            self._counts[env_id] -= 1
            log.exception("creating env %s failed", env_id)
            raise EnvFailure(f"env {env_id!r} failed to start: {type(e).__name__}: {e}") from e
        now = time.monotonic()
        if num is None or num in self._by_num:
            num = next(self._nums)
        s = EnvSession(uuid.uuid4().hex, num, env_id, env, threaded, now, now)
        self._sessions[s.id] = s
        self._by_num[s.num] = s
        return s

    # -------------------------------------------------------------------- calls
    async def call(self, s: EnvSession, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` (a method of ``s.env``) under the session's lock.

        API errors pass through (they carry their status); anything else becomes `EnvFailure`."""
        async with s.lock:
            if s.closed:
                raise UnknownSession(self._missing(f"session {s.id!r}", s.id))
            s.last_used = time.monotonic()
            try:
                if s.threaded:
                    return await self._run(s.env_id, True, fn, *args)
                return fn(*args)
            except AgentGymError:
                raise
            except NotImplementedError as e:
                raise NotSupported(f"env {s.env_id!r} does not support this call: {e}") from e
            except Exception as e:
                log.exception("env %s (session %s) raised", s.env_id, s.id)
                raise EnvFailure(
                    f"env {s.env_id!r} raised {type(e).__name__}: {e} (session {s.id}); "
                    "the session is still open: reset it or delete it"
                ) from e
            finally:
                s.last_used = time.monotonic()

    async def _run(
        self, env_id: str, threaded: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        if not threaded:
            return fn(*args, **kwargs)
        pool = self._pools.get(env_id)
        if pool is None:
            pool = self._pools[env_id] = ThreadPoolExecutor(
                self._max_workers, thread_name_prefix=f"agentgym-env-{env_id}"
            )
        loop = asyncio.get_running_loop()
        if kwargs:
            return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))
        return await loop.run_in_executor(pool, fn, *args)

    # ------------------------------------------------------------------- close
    async def close(self, sid: str, reason: str = "deleted") -> None:
        """Remove the session now (new calls get 404), then close its env once in-flight calls end."""
        s = self._sessions.pop(sid, None)
        if s is None:
            raise UnknownSession(self._missing(f"session {sid!r}", sid))
        self._by_num.pop(s.num, None)
        self._remember(s, reason)
        async with s.lock:
            s.closed = True
            try:
                await self._run(s.env_id, s.threaded, s.env.close)
            except Exception:
                log.exception("closing env %s (session %s) failed", s.env_id, s.id)
            finally:
                self._counts[s.env_id] -= 1

    def _remember(self, s: EnvSession, reason: str) -> None:
        for key in (s.id, f"#{s.num}"):
            self._gone[key] = reason
            self._gone.move_to_end(key)
        self._gone_env[f"#{s.num}"] = s.env_id
        while len(self._gone) > 8192:
            old, _ = self._gone.popitem(last=False)
            self._gone_env.pop(old, None)

    # -------------------------------------------------------------------- reaper
    async def reap_once(self, now: float | None = None) -> list[str]:
        """Close sessions idle for longer than the TTL (busy sessions are never reaped)."""
        if not self.ttl_s:
            return []
        now = time.monotonic() if now is None else now
        idle = [
            s.id for s in self._sessions.values() if now - s.last_used > self.ttl_s and not s.lock.locked()
        ]
        for sid in idle:
            if sid in self._sessions:
                await self.close(sid, f"reaped after {self.ttl_s:g} s idle")
        if idle:
            log.info("reaped %d idle sessions", len(idle))
        return idle

    async def _reap_loop(self) -> None:
        assert self.reap_interval_s
        while True:
            await asyncio.sleep(self.reap_interval_s)
            try:
                await self.reap_once()
            except Exception:  # the reaper must never die
                log.exception("reaper failed")
