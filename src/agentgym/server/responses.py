"""How the server writes answers: fast JSON, error bodies. Shared by the v1 routes (`app`) and the
original routes (`compat`), which is why it is not in either of them (compat used to import these
from app while app imported compat: a cycle).

Every error body is ``{"detail": "<what happened and what to do>", "type": "<error class>"}``
(`agentgym.core.protocol.ErrorOut`); the client maps ``type`` back to the class
(`agentgym.core.errors.WIRE_ERRORS`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import Send

from agentgym.core.errors import AgentGymError, AtCapacity


def _default(o: Any) -> Any:
    """JSON fallback for env info values: numpy scalars/arrays, sets, tuples, paths."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    return str(o)


_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))  # built once


def fast_json(obj: Any, status_code: int = 200) -> Response:
    """``obj`` as JSON straight into a `Response`: FastAPI's ``jsonable_encoder`` would walk the
    dict again for nothing (this is the hot path of reset and step)."""
    return Response(_ENCODER.encode(obj).encode(), status_code, media_type="application/json")


def error_response(exc: AgentGymError) -> JSONResponse:
    """The answer to an API error: its status, its message, its class name (+ Retry-After)."""
    headers = {}
    if isinstance(exc, AtCapacity):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse({"detail": str(exc), "type": type(exc).__name__}, exc.status, headers=headers)


def validation_error(exc: RequestValidationError) -> JSONResponse:
    """The 422 for a request that failed validation. The client's input is never echoed: it may
    not be encodable (``NaN``, a lone surrogate) and it may be huge."""
    parts, errors = [], []
    for err in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid"))
        errors.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
        parts.append(f"{'.'.join(str(p) for p in loc if p != 'body') or 'body'}: {msg}")
    detail = "invalid request: " + "; ".join(parts) + " (see /docs for the request schema)"
    return JSONResponse({"detail": detail, "type": "ValidationError", "errors": errors}, 422)


def http_error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error of the transport layer (no route, wrong method, ...): type ``HTTPError``."""
    return JSONResponse({"detail": detail, "type": "HTTPError"}, status, headers=headers)


async def send_error(send: Send, status: int, detail: str) -> None:
    """`http_error` for raw ASGI code (the Guard answers before any route runs)."""
    body = json.dumps({"detail": detail, "type": "HTTPError"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
