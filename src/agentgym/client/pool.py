"""Which env server gets the next session, and what the client knows about each server.

Sans-IO: nothing here sends a request; the client core (`agentgym.client.core`) reports what
happened (answered, refused, gave up) and asks for an order to try the servers in.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

import httpx

from agentgym.core.errors import ServerUnavailable


class ServerPool:
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


def cause(e: BaseException) -> str:
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


def first_contact_error(failures: Sequence[tuple[str, BaseException]]) -> ServerUnavailable:
    where = ", ".join(f"{u} ({cause(e)})" for u, e in failures)
    urls = " / ".join(u for u, _ in failures)
    return ServerUnavailable(
        f"cannot reach the env server at {where}: is `agentgym serve` running on {urls}? "
        "Check the URL, or start one with `agentgym serve ENV --port PORT`"
    )
