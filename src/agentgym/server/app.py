"""The env server: one FastAPI app hosting any set of envs behind the unified v1 routes.

    app = create_app(["maze", "wordle"], capacity=256, ttl_s=600)
    uvicorn.run(app, host="127.0.0.1", port=8000)        # or: agentgym serve maze wordle

Routes (OpenAPI at /docs):

    GET    /v1/health                              {"status", "sessions", "envs": {env: {sessions, capacity}}}
    GET    /v1/envs  |  /v1/envs/{env}             EnvSpec dicts
    POST   /v1/sessions {"env", "kwargs"}          201 {"session_id", "env"}
    POST   /v1/sessions/{sid}/reset {"task_id", "seed"}   {"observation", "info"}
    POST   /v1/sessions/{sid}/step {"action"}      {"observation", "reward", "terminated", "truncated", "done", "info"}
    GET    /v1/sessions/{sid}[/observation|/available_actions|/instruction|/expert|/random_action?seed=]
    DELETE /v1/sessions/{sid}                      204

Status codes: 422 malformed body or wrong types; 404 unknown env/session/task; 409 step before reset
or after the episode ended; 503 + Retry-After at capacity; 500 when an env raises (the message
names the env and the error; the session stays open, every other session is unaffected); 501 no
expert / not supported; 413 body over ``max_body_bytes``; 401 bad or missing bearer token. Every
error body is ``{"detail": "<what happened and what to do>", "type": "<error class>"}``, never a
200 with an error inside. The original AgentGym routes are mounted by `agentgym.server.compat`.

Responses on the hot path (reset, step) are serialised with `json.dumps` straight into a
`Response`: FastAPI's ``jsonable_encoder`` would walk the dict again for nothing.
"""

from __future__ import annotations

import hmac
import json
import random
from collections.abc import Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentgym.core.errors import AgentGymError, NotReset, UnknownEnv
from agentgym.core.types import EnvSpec
from agentgym.server.sessions import AtCapacity, EnvSession, SessionManager

MB = 1 << 20
_M = TypeVar("_M", bound=BaseModel)


# --------------------------------------------------------------------------- schemas
class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CreateSession(_Strict):
    env: str = Field(description="Id of a hosted env, e.g. 'maze'.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Env constructor kwargs.")


class ResetRequest(_Strict):
    task_id: int = Field(description="Global task id (see the env's splits).")
    seed: int | None = Field(None, description="Episode seed (default 0).")


class StepRequest(_Strict):
    action: str = Field(description="The action text (already cut out of the model reply).")


class SessionCreated(BaseModel):
    session_id: str
    env: str


class ResetOut(BaseModel):
    observation: str
    info: dict[str, Any]


class StepOut(BaseModel):
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    done: bool
    info: dict[str, Any]


class SessionInfo(BaseModel):
    session_id: str
    env: str
    compat_id: int
    task_id: int | None
    seed: int
    rounds: int
    done: bool
    age_s: float
    idle_s: float


class EnvLoad(BaseModel):
    sessions: int
    capacity: int


class Health(BaseModel):
    status: str
    sessions: int
    envs: dict[str, EnvLoad]


class ErrorOut(BaseModel):
    detail: str
    type: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut}
    for code in (401, 404, 409, 413, 422, 500, 501, 503)  # documented on every session route
}


# ----------------------------------------------------------------------- helpers
def _default(o: Any) -> Any:
    """JSON fallback for env info values: numpy scalars/arrays, sets, tuples, paths."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=str)
    return str(o)


_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))  # built once


def fast_json(obj: Any, status_code: int = 200) -> Response:
    return Response(_ENCODER.encode(obj).encode(), status_code, media_type="application/json")


def error_response(exc: AgentGymError) -> JSONResponse:
    headers = {}
    if isinstance(exc, AtCapacity):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse({"detail": str(exc), "type": type(exc).__name__}, exc.status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts) + " (see /docs for the request schema)"


class Guard:
    """Pure-ASGI guard (cheaper than BaseHTTPMiddleware): bearer token and request size limit."""

    PUBLIC = frozenset({"/v1/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body = max_body_bytes

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
        if (
            self.expected
            and scope["path"] not in self.PUBLIC
            and not hmac.compare_digest(auth, self.expected)
        ):
            await _send_error(
                send, 401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'"
            )
            return
        if length is not None and length > self.max_body:
            await _send_error(
                send, 413, f"request body of {length} bytes exceeds the {self.max_body}-byte limit"
            )
            return
        if length is None and chunked:  # no length announced: read (bounded) and replay
            chunks, total = [], 0
            while True:
                msg = await receive()
                if msg["type"] != "http.request":
                    break
                total += len(msg.get("body", b""))
                if total > self.max_body:
                    await _send_error(send, 413, f"request body exceeds the {self.max_body}-byte limit")
                    return
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            body = b"".join(chunks)
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


async def _send_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail, "type": "HTTPError"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- app
def create_app(
    env_ids: Iterable[str],
    *,
    capacity: int | Mapping[str, int] = 256,
    ttl_s: float | None = 600.0,
    token: str | None = None,
    max_body_bytes: int = MB,
    threaded: bool | None = None,
    max_workers: int = 16,
    retry_after_s: float = 1.0,
    reap_interval_s: float | None = None,
    compat: bool = True,
    compat_families: Mapping[str, str] | None = None,
    empty_endpoint: bool = False,
) -> FastAPI:
    """Build the server app for ``env_ids``.

    ``capacity`` - live sessions per env (int, or env id -> int); ``ttl_s`` - idle seconds before
    a session is reaped (None/0: never); ``token`` - require ``Authorization: Bearer <token>``
    (except on /v1/health and /docs); ``threaded`` - None: worker threads for ``spec.blocking``
    envs only, True/False: force; ``compat`` - also mount the original AgentGym routes under
    ``/{env}`` (and ``/`` for a single env); ``compat_families`` - env id -> original route family
    for envs not in the built-in table (see `agentgym.server.compat`); ``empty_endpoint`` - add
    ``POST /v1/_empty`` (an empty async FastAPI endpoint) and ``POST /v1/_empty_raw`` (an empty
    route served like step/reset): the benchmark's floors on the same stack.
    """
    manager = SessionManager(
        list(env_ids),
        capacity=capacity,
        ttl_s=ttl_s,
        reap_interval_s=reap_interval_s,
        threaded=threaded,
        max_workers=max_workers,
        retry_after_s=retry_after_s,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        await manager.start()
        try:
            yield
        finally:
            await manager.stop()

    app = FastAPI(
        title="agentgym env server",
        description="Text environments for LLM agents: unified v1 routes and the original AgentGym routes.",
        version="1",
        lifespan=lifespan,
    )
    app.state.sessions = manager
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)

    @app.exception_handler(AgentGymError)
    async def _agentgym_error(_: Any, exc: AgentGymError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        errors = json.loads(json.dumps(exc.errors(), default=str))
        return JSONResponse(
            {"detail": _validation_detail(exc), "type": "ValidationError", "errors": errors}, 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Any, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail), "type": "HTTPError"}, exc.status_code, headers=exc.headers
        )

    if empty_endpoint:  # the benchmark's floors: an empty FastAPI endpoint and an empty raw route

        @app.post("/v1/_empty", include_in_schema=False)
        async def _empty() -> Response:
            return Response(b"{}", media_type="application/json")

    hot = _add_v1_routes(app, manager)
    if empty_endpoint:

        async def _empty_raw(request: Request) -> Response:
            return Response(b"{}", media_type="application/json")

        hot.append(Route("/v1/_empty_raw", _empty_raw, methods=["POST"]))
    # The hot routes are also served by plain Starlette routes placed first: the FastAPI routes
    # stay for /docs, but requests skip FastAPI's per-request dependency solving, which costs more
    # than a light env's whole step. Middleware, error handlers and status codes are the same.
    app.router.routes[0:0] = hot
    if compat:
        from agentgym.server.compat import mount_compat

        mount_compat(app, manager, families=compat_families)
    return app


def _add_v1_routes(app: FastAPI, mgr: SessionManager) -> list[Route]:
    specs = {env_id: cls.spec for env_id, cls in mgr.classes.items()}

    # The two hot routes take the raw Request and validate the body with pydantic-core directly,
    # so that plain Starlette routes can serve them too (see create_app). Same schema, same 422s.
    @app.post(
        "/v1/sessions/{sid}/reset",
        response_model=ResetOut,
        tags=["sessions"],
        responses=_ERRORS,
        openapi_extra=_documented_body(ResetRequest),
    )
    async def reset(request: Request) -> Response:
        body = await _parse(request, ResetRequest)
        s = mgr.get(request.path_params["sid"])
        obs = await mgr.call(s, s.env.reset, body.task_id, body.seed)
        s.info, s.reward = dict(obs.info), 0.0
        return fast_json({"observation": obs.text, "info": obs.info})

    @app.post(
        "/v1/sessions/{sid}/step",
        response_model=StepOut,
        tags=["sessions"],
        responses=_ERRORS,
        openapi_extra=_documented_body(StepRequest),
    )
    async def step(request: Request) -> Response:
        body = await _parse(request, StepRequest)
        s = mgr.get(request.path_params["sid"])
        res = await mgr.call(s, s.env.step, body.action)
        s.info.update(res.info)
        s.reward = res.reward
        return fast_json(
            {
                "observation": res.observation,
                "reward": res.reward,
                "terminated": res.terminated,
                "truncated": res.truncated,
                "done": res.terminated or res.truncated,
                "info": res.info,
            }
        )

    @app.get("/v1/health", response_model=Health, tags=["server"])
    async def health() -> dict[str, Any]:
        counts = mgr.counts()
        envs = {e: {"sessions": counts[e], "capacity": mgr.capacity[e]} for e in mgr.classes}
        return {"status": "ok", "sessions": len(mgr), "envs": envs}

    @app.get("/v1/envs", response_model=list[EnvSpec], tags=["envs"])
    async def list_envs() -> Response:
        return fast_json([s.model_dump(mode="json") for s in specs.values()])

    @app.get("/v1/envs/{env}", response_model=EnvSpec, tags=["envs"], responses=_ERRORS)
    async def get_env(env: str) -> Response:
        if env not in specs:
            raise UnknownEnv(f"env {env!r} is not hosted here; hosted envs: {', '.join(specs)}")
        return fast_json(specs[env].model_dump(mode="json"))

    @app.post(
        "/v1/sessions", status_code=201, response_model=SessionCreated, tags=["sessions"], responses=_ERRORS
    )
    async def create_session(body: CreateSession) -> Response:
        s = await mgr.create(body.env, body.kwargs)
        return fast_json({"session_id": s.id, "env": s.env_id}, 201)

    @app.get("/v1/sessions/{sid}", response_model=SessionInfo, tags=["sessions"], responses=_ERRORS)
    async def session_info(sid: str) -> dict[str, Any]:
        return mgr.get(sid).describe()

    @app.get("/v1/sessions/{sid}/observation", tags=["sessions"], responses=_ERRORS)
    async def observation(sid: str) -> dict[str, str]:
        s = mgr.get(sid)
        return {"observation": await mgr.call(s, s.env.observation)}

    @app.get("/v1/sessions/{sid}/available_actions", tags=["sessions"], responses=_ERRORS)
    async def available_actions(sid: str) -> dict[str, list[str] | None]:
        s = mgr.get(sid)
        return {"actions": await mgr.call(s, s.env.available_actions)}

    @app.get("/v1/sessions/{sid}/instruction", tags=["sessions"], responses=_ERRORS)
    async def instruction(sid: str) -> dict[str, str]:
        s = mgr.get(sid)
        return {"instruction": await mgr.call(s, s.env.instruction)}

    @app.get("/v1/sessions/{sid}/expert", tags=["sessions"], responses=_ERRORS)
    async def expert(sid: str) -> dict[str, str]:
        """The env's privileged expert reply for the current state (for the expert agent)."""
        s = mgr.get(sid)
        return {"reply": await mgr.call(s, _expert, s)}

    @app.get("/v1/sessions/{sid}/random_action", tags=["sessions"], responses=_ERRORS)
    async def random_action(
        sid: str, seed: int = Query(..., description="Seed of the caller's RNG.")
    ) -> dict:
        s = mgr.get(sid)
        return {"action": await mgr.call(s, s.env.random_action, random.Random(seed))}

    @app.delete("/v1/sessions/{sid}", status_code=204, tags=["sessions"], responses=_ERRORS)
    async def delete_session(sid: str) -> Response:
        await mgr.close(sid)
        return Response(status_code=204)

    return [
        Route("/v1/sessions/{sid}/step", step, methods=["POST"]),
        Route("/v1/sessions/{sid}/reset", reset, methods=["POST"]),
    ]


def _documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that reads its JSON body itself (see the hot routes)."""
    return {
        "parameters": [{"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        },
    }


async def _parse(request: Request, model: type[_M]) -> _M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False)]
        raise RequestValidationError(errors, body=raw) from None


def _expert(s: EnvSession) -> str:
    if s.env.task_id is None:
        raise NotReset(f"{s.env_id}: reset the session before asking for the expert reply")
    return s.env.expert_reply()
