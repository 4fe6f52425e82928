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
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentgym.core.errors import AgentGymError, AtCapacity, ExpertDisabled, NotReset, UnknownEnv
from agentgym.core.types import EnvSpec, JsonInt
from agentgym.server.sessions import EnvSession, SessionManager

MB = 1 << 20
_M = TypeVar("_M", bound=BaseModel)


# --------------------------------------------------------------------------- schemas
def no_surrogates(text: str) -> str:
    """Reject a lone UTF-16 surrogate (JSON allows ``"\ud800"``; UTF-8 cannot carry it back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "the text holds a lone UTF-16 surrogate (such as \\ud800): not valid Unicode"
        ) from None
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


Text = Annotated[str, AfterValidator(no_surrogates)]
"""A string that can be echoed back as UTF-8 (a lone surrogate such as ``"\ud800"`` cannot)."""


class CreateSession(_Strict):
    env: Text = Field(description="Id of a hosted env, e.g. 'maze'.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Env options: only the keys the env declares (see `options` in GET /v1/envs/{env}); "
        "anything else is a 422 that names the allowed keys.",
    )


class ResetRequest(_Strict):
    task_id: JsonInt = Field(description="Global task id (see the env's splits).")
    seed: JsonInt | None = Field(None, description="Episode seed (default 0).")


class StepRequest(_Strict):
    action: Text = Field(description="The action text (already cut out of the model reply).")


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


class EnvDescription(EnvSpec):
    """An env's spec plus what a client may set when it opens a session."""

    options: dict[str, Any] = Field(
        description="JSON schema of the session kwargs (`POST /v1/sessions` `kwargs`) this env accepts."
    )


class ErrorOut(BaseModel):
    """Every error body: what happened and what to do next, and the error class."""

    detail: str
    type: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    """A 422: ``detail`` sums up every problem; ``errors`` lists them (the input is never echoed)."""

    errors: list[FieldError] = []


ERROR_CODES = (401, 403, 404, 409, 413, 422, 500, 501, 503)
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ValidationErrorOut if code == 422 else ErrorOut} for code in ERROR_CODES
}
"""Documented on every route: the Guard (401, 413), validation (422) and any env call can answer them."""


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


class Guard:
    """Pure-ASGI guard (cheaper than BaseHTTPMiddleware): bearer token and request size limit."""

    PUBLIC = frozenset({"/v1/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})

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
    expert: bool = False,
) -> FastAPI:
    """Build the server app for ``env_ids``.

    ``capacity`` - live sessions per env (int, or env id -> int); ``ttl_s`` - idle seconds before
    a session is reaped (None/0: never); ``token`` - require ``Authorization: Bearer <token>``
    (except on /v1/health and /docs); ``threaded`` - None: worker threads for ``spec.blocking``
    envs only, True/False: force; ``compat`` - also mount the original AgentGym routes under
    ``/{env}`` (and ``/`` for a single env); ``compat_families`` - env id -> original route family
    for envs not in the built-in table (see `agentgym.server.compat`); ``empty_endpoint`` - add
    ``POST /v1/_empty`` (an empty async FastAPI endpoint) and ``POST /v1/_empty_raw`` (an empty
    route served like step/reset): the benchmark's floors on the same stack; ``expert`` - turn on the
    privileged route ``GET /v1/sessions/{id}/expert`` (the answer key: off by default, 403 without).
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
    app.state.expert = expert
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)

    @app.exception_handler(AgentGymError)
    async def _agentgym_error(_: Any, exc: AgentGymError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8)
            return JSONResponse(
                {"detail": f"malformed request body: {exc.detail}", "type": "ValidationError", "errors": []},
                422,
            )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path answers, not only the first route's
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return JSONResponse(
            {"detail": str(exc.detail), "type": "HTTPError"}, exc.status_code, headers=headers
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
    specs = {
        env_id: {**cls.spec.model_dump(mode="json"), "options": cls.options.model_json_schema()}
        for env_id, cls in mgr.classes.items()
    }

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

    @app.get("/v1/envs", response_model=list[EnvDescription], tags=["envs"])
    async def list_envs() -> Response:
        return fast_json(list(specs.values()))

    @app.get("/v1/envs/{env}", response_model=EnvDescription, tags=["envs"], responses=_ERRORS)
    async def get_env(env: str) -> Response:
        if env not in specs:
            raise UnknownEnv(f"env {env!r} is not hosted here; hosted envs: {', '.join(specs)}")
        return fast_json(specs[env])

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
        """The env's privileged expert reply for the current state (the answer key: off unless the
        server runs with ``--expert``; 403 otherwise)."""
        if not app.state.expert:
            raise ExpertDisabled(
                "the expert route (the answer key) is off on this server; start it with "
                "`agentgym serve --expert ...` (or create_app(..., expert=True)) to use the expert agent over HTTP"
            )
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


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route answers on this path (for a 405's ``Allow`` header)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**scope, "method": "\x00"})  # a method no route has: path match only
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


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
