"""The server's outermost layer: bearer token and request size limit, before any route runs.

Pure ASGI (cheaper than ``BaseHTTPMiddleware``, which costs more per request than a light env's
whole step); its refusals are ``HTTPError`` bodies like every other transport-layer error.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentgym.core import protocol
from agentgym.server.responses import send_error


class Guard:
    """Pure-ASGI guard (cheaper than BaseHTTPMiddleware): bearer token and request size limit."""

    PUBLIC = frozenset({protocol.HEALTH, "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = token.encode() if token else None
        self.max_body = max_body_bytes

    def _authorized(self, header: bytes) -> bool:
        """``Bearer <token>``; the scheme is case-insensitive (RFC 7235 §2.1)."""
        scheme, _, credentials = header.strip().partition(b" ")
        assert self.expected is not None
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        auth = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"authorization":
                auth = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if self.expected and scope["path"] not in self.PUBLIC and not self._authorized(auth):
            await send_error(send, 401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'")
            return
        if length is not None and length > self.max_body:
            await send_error(
                send, 413, f"request body of {length} bytes exceeds the {self.max_body}-byte limit"
            )
            return
        if length is None and chunked:  # no length announced: read (bounded) and replay
            body = await read_bounded(receive, self.max_body)
            if body is None:
                await send_error(send, 413, f"request body exceeds the {self.max_body}-byte limit")
                return
            await self.app(scope, replaying(body, receive), send)
            return
        await self.app(scope, receive, send)


async def read_bounded(receive: Receive, limit: int) -> bytes | None:
    """Read a body that announced no length (chunked), at most ``limit`` bytes; None past it.

    A client that leaves mid-body yields what arrived (the app then sees the disconnect)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` (already read) once, then the real messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
