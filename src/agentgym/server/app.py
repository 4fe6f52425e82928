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

The paths and the request/response models are the wire contract in `agentgym.core.protocol`
(the client uses the same module); the error classes are `agentgym.core.errors`. Responses on the
hot path (reset, step) are serialised with `json.dumps` straight into a `Response`
(`agentgym.server.responses.fast_json`): FastAPI's ``jsonable_encoder`` would walk the dict again
for nothing, and pydantic never validates them.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import Scope

from agentgym.core import protocol as p
from agentgym.core.errors import AgentGymError, ExpertDisabled, NotReset, UnknownEnv
from agentgym.core.protocol import (  # re-exported: the models' old home
    ERROR_RESPONSES,
    CreateSession,
    EnvDescription,
    EnvLoad,
    ErrorOut,
    FieldError,
    Health,
    ResetOut,
    ResetRequest,
    SessionCreated,
    SessionInfo,
    StepOut,
    StepRequest,
    Text,
    ValidationErrorOut,
    no_surrogates,
)
from agentgym.server.compat import mount_compat
from agentgym.server.guard import Guard
from agentgym.server.responses import error_response, fast_json, http_error, validation_error
from agentgym.server.sessions import EnvSession, SessionManager

__all__ = [
    "ERROR_RESPONSES",
    "CreateSession",
    "EnvDescription",
    "EnvLoad",
    "ErrorOut",
    "FieldError",
    "Guard",
    "Health",
    "ResetOut",
    "ResetRequest",
    "SessionCreated",
    "SessionInfo",
    "StepOut",
    "StepRequest",
    "Text",
    "ValidationErrorOut",
    "create_app",
    "error_response",
    "fast_json",
    "no_surrogates",
    "validation_error",
]
MB = 1 << 20
_M = TypeVar("_M", bound=BaseModel)


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
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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
        return http_error(exc.status_code, str(exc.detail), headers)

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
        mount_compat(app, manager, families=compat_families)
    return app


def _add_v1_routes(app: FastAPI, mgr: SessionManager) -> list[Route]:  # noqa: C901 - a route table
    specs = {
        env_id: {**cls.spec.model_dump(mode="json"), "options": cls.options.model_json_schema()}
        for env_id, cls in mgr.classes.items()
    }

    # The two hot routes take the raw Request and validate the body with pydantic-core directly,
    # so that plain Starlette routes can serve them too (see create_app). Same schema, same 422s.
    @app.post(
        p.RESET,
        response_model=ResetOut,
        tags=["sessions"],
        responses=ERROR_RESPONSES,
        openapi_extra=_documented_body(ResetRequest),
    )
    async def reset(request: Request) -> Response:
        body = await _parse(request, ResetRequest)
        s = mgr.get(request.path_params["sid"])
        obs = await mgr.call(s, s.env.reset, body.task_id, body.seed)
        s.info, s.reward = dict(obs.info), 0.0
        return fast_json(p.reset_reply(obs))

    @app.post(
        p.STEP,
        response_model=StepOut,
        tags=["sessions"],
        responses=ERROR_RESPONSES,
        openapi_extra=_documented_body(StepRequest),
    )
    async def step(request: Request) -> Response:
        body = await _parse(request, StepRequest)
        s = mgr.get(request.path_params["sid"])
        res = await mgr.call(s, s.env.step, body.action)
        s.info.update(res.info)
        s.reward = res.reward
        return fast_json(p.step_reply(res))

    @app.get(p.HEALTH, response_model=Health, tags=["server"])
    async def health() -> dict[str, Any]:
        counts = mgr.counts()
        envs = {e: {"sessions": counts[e], "capacity": mgr.capacity[e]} for e in mgr.classes}
        return {"status": "ok", "sessions": len(mgr), "envs": envs}

    @app.get(p.ENVS, response_model=list[EnvDescription], tags=["envs"])
    async def list_envs() -> Response:
        return fast_json(list(specs.values()))

    @app.get(p.ENV, response_model=EnvDescription, tags=["envs"], responses=ERROR_RESPONSES)
    async def get_env(env: str) -> Response:
        if env not in specs:
            raise UnknownEnv(f"env {env!r} is not hosted here; hosted envs: {', '.join(specs)}")
        return fast_json(specs[env])

    @app.post(
        p.SESSIONS,
        status_code=201,
        response_model=SessionCreated,
        tags=["sessions"],
        responses=ERROR_RESPONSES,
    )
    async def create_session(body: CreateSession) -> Response:
        s = await mgr.create(body.env, body.kwargs)
        return fast_json({"session_id": s.id, "env": s.env_id}, 201)

    @app.get(p.SESSION, response_model=SessionInfo, tags=["sessions"], responses=ERROR_RESPONSES)
    async def session_info(sid: str) -> dict[str, Any]:
        return mgr.get(sid).describe()

    @app.get(p.OBSERVATION, response_model=p.ObservationOut, tags=["sessions"], responses=ERROR_RESPONSES)
    async def observation(sid: str) -> dict[str, str]:
        s = mgr.get(sid)
        return {"observation": await mgr.call(s, s.env.observation)}

    @app.get(p.AVAILABLE_ACTIONS, response_model=p.ActionsOut, tags=["sessions"], responses=ERROR_RESPONSES)
    async def available_actions(sid: str) -> dict[str, list[str] | None]:
        s = mgr.get(sid)
        return {"actions": await mgr.call(s, s.env.available_actions)}

    @app.get(p.INSTRUCTION, response_model=p.InstructionOut, tags=["sessions"], responses=ERROR_RESPONSES)
    async def instruction(sid: str) -> dict[str, str]:
        s = mgr.get(sid)
        return {"instruction": await mgr.call(s, s.env.instruction)}

    @app.get(p.EXPERT, response_model=p.ExpertOut, tags=["sessions"], responses=ERROR_RESPONSES)
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

    @app.get(p.RANDOM_ACTION, response_model=p.RandomActionOut, tags=["sessions"], responses=ERROR_RESPONSES)
    async def random_action(
        sid: str, seed: int = Query(..., description="Seed of the caller's RNG.")
    ) -> dict:
        s = mgr.get(sid)
        return {"action": await mgr.call(s, s.env.random_action, random.Random(seed))}

    @app.delete(p.SESSION, status_code=204, tags=["sessions"], responses=ERROR_RESPONSES)
    async def delete_session(sid: str) -> Response:
        await mgr.close(sid)
        return Response(status_code=204)

    return [
        Route(p.STEP, step, methods=["POST"]),
        Route(p.RESET, reset, methods=["POST"]),
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
