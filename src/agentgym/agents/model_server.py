"""An OpenAI-compatible chat server around a local transformers model (``agentgym serve-model``).

It lets anything that speaks the OpenAI API - our `OpenAIAgent`, the original AgentGym clients,
other tools - use a local model, and it batches: concurrent requests join the same `HFGenerator`
batch. Routes: ``POST /v1/chat/completions`` (``messages``, ``temperature``, ``top_p``,
``max_tokens``/``max_completion_tokens``, ``stop``, ``seed``, ``n=1``; no streaming),
``GET /v1/models``, ``GET /health``. Errors use OpenAI's shape ``{"error": {"message", "type",
"param", "code"}}``; a prompt that does not fit is a 400 with code ``context_length_exceeded`` and
the "maximum context length" wording clients look for.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentgym.agents.base import ContextOverflow
from agentgym.agents.hf import HFGenerator, SamplingParams

T = TypeVar("T")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            if any(p.type != "text" for p in self.content):
                raise ApiError(400, "only text content parts are supported", param="messages")
            return "".join(p.text for p in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat request this server honours; unknown fields are ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    stream: bool = False


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code


def error_response(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


async def until_disconnect(request: Request, work: Awaitable[T], poll: float = 0.5) -> T:
    """Await ``work``, cancelling it if the client hangs up first (e.g. its timeout fired): its
    batch row stops generating, so retries of slow requests do not pile up work nobody reads."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll)
            if done:
                return task.result()
            if await request.is_disconnected():
                task.cancel()
                raise ApiError(499, "client closed the request", type="client_closed")
    finally:
        if not task.done():
            task.cancel()


def create_app(
    generator: HFGenerator,
    *,
    model_name: str | None = None,
    default_max_tokens: int = 512,
    api_key: str | None = None,
    close_generator: bool = True,
    disconnect_poll_s: float = 0.5,
) -> FastAPI:
    """The FastAPI app serving ``generator`` under ``model_name`` (default: the model folder's name).

    ``max_tokens`` defaults to ``default_max_tokens``, capped by what is left of the context.
    With ``api_key`` set, every ``/v1`` route needs ``Authorization: Bearer <api_key>``.
    ``close_generator``: stop the generator's batcher when the server shuts down.
    ``disconnect_poll_s``: how often a running request checks whether its client hung up.
    """
    name = model_name or generator.model_path.rstrip("/").rsplit("/", 1)[-1]
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_generator:
            await generator.aclose()

    app = FastAPI(title="agentgym model server", version="1", lifespan=lifespan)
    app.state.generator = generator
    app.state.model_name = name

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.message, e.type, e.param, e.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        errs = e.errors()
        first = errs[0] if errs else {}
        param = ".".join(str(x) for x in first.get("loc", ())[1:]) or None
        message = "; ".join(f"{'.'.join(map(str, er.get('loc', ())[1:]))}: {er.get('msg')}" for er in errs)
        return error_response(400, message or "invalid request", param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        return error_response(e.status_code, str(e.detail), kind)

    def check_key(request: Request) -> None:
        # a dependency, not an HTTP middleware: Starlette's BaseHTTPMiddleware wraps `receive`
        # and hides client disconnects from the handler (see `until_disconnect`)
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        if api_key and not secrets.compare_digest(given, f"Bearer {api_key}".encode()):
            raise ApiError(
                401, "invalid or missing API key", type="authentication_error", code="invalid_api_key"
            )

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(check_key)])

    @app.get("/health")
    async def health() -> dict[str, Any]:
        b = generator.batcher
        return {
            "status": "ok",
            "model": name,
            "batches": b.batches,
            "max_batch": b.max_batch,
            **generator.stats,
        }

    @v1.get("/models")
    async def models() -> dict[str, Any]:
        card = {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "agentgym",
            "max_model_len": generator.max_context,
        }
        return {"object": "list", "data": [card]}

    @v1.post("/chat/completions")
    async def chat(req: ChatRequest, request: Request) -> dict[str, Any]:
        if req.model is not None and req.model != name:
            raise ApiError(
                404,
                f"The model '{req.model}' does not exist; this server serves '{name}'.",
                param="model",
                code="model_not_found",
            )
        if req.n != 1:
            raise ApiError(400, "only n=1 is supported", param="n")
        if req.stream:
            raise ApiError(400, "streaming is not supported", param="stream")
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            prompt_ids = generator.encode(messages)
        except Exception as e:  # a template that rejects the roles/order (e.g. no system role)
            raise ApiError(400, f"cannot apply the chat template: {e}", param="messages") from e
        max_new = req.max_completion_tokens or req.max_tokens
        if max_new is None:
            max_new = max(1, min(default_max_tokens, generator.max_context - len(prompt_ids)))
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        params = SamplingParams(req.temperature, req.top_p, max_new, stop, req.seed)
        try:
            c = await until_disconnect(
                request, generator.complete_ids(prompt_ids, params), poll=disconnect_poll_s
            )
        except ContextOverflow as e:
            raise ApiError(400, str(e), param="messages", code="context_length_exceeded") from e
        except Exception as e:
            raise ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error") from e
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": c.text},
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "total_tokens": c.prompt_tokens + c.completion_tokens,
            },
        }

    app.include_router(v1)
    return app
