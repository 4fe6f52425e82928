"""An OpenAI-compatible chat server around a local transformers model (``agentgym serve-model``).

It lets anything that speaks the OpenAI API - our `OpenAIAgent`, the original AgentGym clients,
other tools - use a local model, and it batches: concurrent requests join the same `HFGenerator`
batch. Routes: ``POST /v1/chat/completions`` (``messages``, ``temperature``, ``top_p``,
``max_tokens``/``max_completion_tokens``, ``stop``, ``seed``, ``n=1``; no streaming),
``GET /v1/models``, ``GET /health``. Errors use OpenAI's shape ``{"error": {"message", "type",
"param", "code"}}``; a prompt that does not fit is a 400 with code ``context_length_exceeded`` and
the "maximum context length" wording clients look for.

Hardening, because the server may face clients that are buggy or hostile:

* Request bodies over ``max_body_bytes`` (``--max-body-mb``, default 4 MB) get a 413 from a pure-ASGI
  guard before the body is read or parsed: a declared ``Content-Length`` is refused at once, a
  chunked body is counted while it arrives. Without it an 8 MB prompt held 1.35 GB and 64 MB grew
  past 5.9 GB while it was parsed and tokenised.
* The body is parsed as strict JSON (``NaN``/``Infinity`` are not JSON) and validated field by field
  by `ChatRequest` when it arrives, so a bad request is a 400 of its own and never reaches a batch
  where it could fail the other requests with it (a ``seed`` of ``2**64`` used to 500 its batch).
* Prompts over ``max_prompt_tokens`` (``--max-prompt-tokens``, default the model's context length)
  are a 400 naming the limit and the prompt's length, before generation. Messages too long to fit
  even at the longest token of the vocabulary are refused by their length in characters, before
  they are tokenised at all.
* The chat template and the tokenizer run in a worker thread, so ``/health`` and other requests are
  answered while a long prompt is tokenised.
* A batch that raises as a whole during generation is re-run one request at a time (see
  `Batcher`'s ``isolate_failures``): only the request that fails alone gets the error (a 500).
* Each request is logged in one line (logger ``agentgym.model_server``): method, path, status,
  prompt and completion tokens, seconds; at INFO, 5xx at WARNING, successful ``/health`` probes at
  DEBUG. Unexpected exceptions are 500s in OpenAI's shape too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentgym.agents.base import ContextOverflow
from agentgym.agents.hf import HFGenerator, SamplingParams

T = TypeVar("T")

MB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 4 * MB
"""Room for a long context (128k tokens are ~0.5 MB of text) with JSON escaping to spare."""
MAX_SEED = 2**64 - 1
"""The largest seed ``torch.Generator.manual_seed`` takes (it overflows past 64 bits)."""
MAX_STOPS, MAX_STOP_CHARS = 16, 512
"""Each stop string is searched for in the decoded tail of its row after every token."""
CHARS_MARGIN = 2
"""Slack in the characters-per-token bound of the pre-tokenisation check, for normalisers that
shorten text (Unicode composition): only prompts far over the limit are refused untokenised."""

log = logging.getLogger("agentgym.model_server")


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
    """The subset of OpenAI's chat request this server honours; unknown fields are ignored.

    Every field is checked here, when the request arrives, so that a bad value is this request's
    400 and not an exception in the batch it would share with others. Floats must be finite.
    ``max_tokens`` is bounded by the context (checked against the prompt in the handler).
    """

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    n: int = 1
    stream: bool = False

    @field_validator("stop")
    @classmethod
    def _few_short_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"at most {MAX_STOPS} stop strings of at most {MAX_STOP_CHARS} characters each")
        return stop


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


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(message, type, param, code), status_code=status)


def validation_error(errors: list[Any]) -> ApiError:
    """A 400 in OpenAI's shape from pydantic's errors (``loc`` without FastAPI's "body" prefix)."""

    def where(er: Any) -> str:
        loc = list(er.get("loc", ()))
        return ".".join(str(x) for x in (loc[1:] if loc[:1] == ["body"] else loc))

    message = "; ".join(f"{where(er) or 'body'}: {er.get('msg')}" for er in errors)
    return ApiError(400, message or "invalid request", param=(where(errors[0]) or None) if errors else None)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_chat_request(body: bytes) -> ChatRequest:
    """Strict JSON (no ``NaN``/``Infinity``, which Python's json would accept) validated as a
    `ChatRequest`; anything wrong is a 400 `ApiError`."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, NaN, huge ints, deep nesting
        raise ApiError(400, f"the body is not valid JSON: {e}", code="invalid_json") from e
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as e:
        raise validation_error(e.errors(include_input=False)) from e


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


class RequestGuard:
    """Pure-ASGI middleware: the request-body limit and the one-line request log.

    Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``, which wraps ``receive`` and hides
    client disconnects from the handler (see `until_disconnect`). A body announced larger than
    ``max_body_bytes`` is refused before any of it is read (uvicorn then discards the rest as it
    arrives without keeping it); a chunked body without a length is read up to the limit and
    handed on, or refused as soon as it passes it. The handler leaves its token counts in
    ``scope["state"]["usage"]`` for the log line.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._limited(scope, receive, send_and_note)
        except Exception:
            status = status or 500  # Starlette's outer error middleware answers it
            raise
        finally:
            tokens_in, tokens_out = state.get("usage", ("-", "-"))
            quiet = status == 200 and scope.get("path") == "/health"  # probes would drown the log
            log.log(
                logging.DEBUG if quiet else logging.INFO if 0 < status < 500 else logging.WARNING,
                "%s %s %s in=%s out=%s %.3fs",
                scope.get("method"),
                scope.get("path"),
                status or "-",
                tokens_in,
                tokens_out,
                time.perf_counter() - start,
            )

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if length is not None and length > self.max_body:
            await self._too_large(send, f"The request body of {length} bytes")
            return
        if length is None and chunked:  # no length announced: read up to the limit, then replay
            chunks: list[bytes] = []
            total = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break  # the client left: the app sees an empty body and the disconnect
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > self.max_body:
                    await self._too_large(send, "The (chunked) request body")
                    return
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _too_large(self, send: Send, what: str) -> None:
        message = f"{what} exceeds this server's limit of {self.max_body} bytes (--max-body-mb)."
        body = json.dumps(error_body(message, code="request_too_large")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app(
    generator: HFGenerator,
    *,
    model_name: str | None = None,
    default_max_tokens: int = 512,
    api_key: str | None = None,
    close_generator: bool = True,
    disconnect_poll_s: float = 0.5,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_prompt_tokens: int | None = None,
) -> FastAPI:
    """The FastAPI app serving ``generator`` under ``model_name`` (default: the model folder's name).

    ``max_tokens`` defaults to ``default_max_tokens``, capped by what is left of the context.
    With ``api_key`` set, every ``/v1`` route needs ``Authorization: Bearer <api_key>``.
    ``close_generator``: stop the generator's batcher when the server shuts down.
    ``disconnect_poll_s``: how often a running request checks whether its client hung up.
    ``max_body_bytes``: larger request bodies get a 413 before they are read.
    ``max_prompt_tokens``: longer prompts get a 400 before generation (default: the context length).
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
    prompt_limit = max_prompt_tokens or generator.max_context
    if prompt_limit < 1:
        raise ValueError(f"max_prompt_tokens must be >= 1, got {max_prompt_tokens}")
    name = model_name or generator.model_path.rstrip("/").rsplit("/", 1)[-1]
    created = int(time.time())
    # No token of the vocabulary spells more characters than the longest one (byte-level BPE
    # spells bytes, which are at least as many as characters), so messages longer than this
    # cannot fit in ``prompt_limit`` tokens: they are refused without tokenising them.
    longest_token = max((len(t) for t in generator.tokenizer.get_vocab()), default=1)
    max_chars = prompt_limit * max(1, longest_token) * CHARS_MARGIN
    # One thread: the chat template and the tokenizer are CPU work that would stall the event
    # loop for seconds on a long prompt; a second thread would only compete for the same cores.
    tokenize_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        tokenize_pool.shutdown(wait=False, cancel_futures=True)
        if close_generator:
            await generator.aclose()

    app = FastAPI(title="agentgym model server", version="1", lifespan=lifespan)
    app.state.generator = generator
    app.state.model_name = name
    app.state.max_body_bytes = max_body_bytes
    app.state.max_prompt_tokens = prompt_limit
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.message, e.type, e.param, e.code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        err = validation_error(list(e.errors()))
        return error_response(err.status, err.message, err.type, err.param, err.code)

    @app.exception_handler(Exception)
    async def _bug(_: Request, e: Exception) -> JSONResponse:  # still logged with its traceback
        return error_response(500, f"internal error: {type(e).__name__}: {e}", "server_error")

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
            "isolated_batches": b.isolated,
            "max_body_bytes": max_body_bytes,
            "max_prompt_tokens": prompt_limit,
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

    def too_long(what: str) -> ApiError:
        message = (
            f"{what} This server's limit is {prompt_limit} prompt tokens (--max-prompt-tokens; the "
            f"model's maximum context length is {generator.max_context} tokens). "
            "Please reduce the length of the messages."
        )
        return ApiError(400, message, param="messages", code="context_length_exceeded")

    # The body is read and validated by `parse_chat_request`, not by FastAPI, which would accept
    # NaN; the schema is still documented at /docs (see `document_chat_request`).
    body_doc = {"required": True, "content": {"application/json": {"schema": {"$ref": CHAT_REQUEST_REF}}}}

    @v1.post("/chat/completions", openapi_extra={"requestBody": body_doc})
    async def chat(request: Request) -> dict[str, Any]:
        req = parse_chat_request(await request.body())
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
        chars = sum(len(m["content"]) for m in messages)
        if chars > max_chars:
            raise too_long(
                f"The messages are {chars} characters long: too long for the prompt-token limit "
                f"whatever the tokenisation (at most {max_chars} characters)."
            )
        loop = asyncio.get_running_loop()
        try:
            prompt_ids = await loop.run_in_executor(tokenize_pool, generator.encode, messages)
        except Exception as e:  # a template that rejects the roles/order (e.g. no system role)
            raise ApiError(400, f"cannot apply the chat template: {e}", param="messages") from e
        request.state.usage = (len(prompt_ids), 0)
        if len(prompt_ids) > prompt_limit:
            raise too_long(f"The prompt is {len(prompt_ids)} tokens long.")
        max_new = req.max_completion_tokens or req.max_tokens
        if max_new is None:
            max_new = max(1, min(default_max_tokens, generator.max_context - len(prompt_ids)))
        stops = [req.stop] if isinstance(req.stop, str) else req.stop or []
        stop = tuple(s for s in stops if s)  # "" would match at once
        try:
            params = SamplingParams(req.temperature, req.top_p, max_new, stop, req.seed)
        except ValueError as e:  # ChatRequest's bounds should have caught it already
            raise ApiError(400, str(e)) from e
        try:
            c = await until_disconnect(
                request, generator.complete_ids(prompt_ids, params), poll=disconnect_poll_s
            )
        except ContextOverflow as e:
            raise ApiError(400, str(e), param="messages", code="context_length_exceeded") from e
        except ApiError:
            raise
        except Exception as e:
            raise ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error") from e
        request.state.usage = (c.prompt_tokens, c.completion_tokens)
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
    document_chat_request(app)
    return app


CHAT_REQUEST_REF = "#/components/schemas/ChatRequest"


def document_chat_request(app: FastAPI) -> None:
    """Add `ChatRequest` and its parts to the OpenAPI components that ``CHAT_REQUEST_REF`` names
    (FastAPI only adds the models of parameters it parses itself)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            own = ChatRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(own.pop("$defs", {}))
            components["ChatRequest"] = own
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
