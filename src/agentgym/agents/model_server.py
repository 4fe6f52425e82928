"""An OpenAI-compatible server around a local transformers model (``agentgym serve-model``).

It lets anything that speaks the OpenAI API - our `OpenAIAgent`, the original AgentGym clients,
the ``openai`` SDK, other tools - use a local model, and it batches: concurrent requests join the
same `HFGenerator` batch. Routes:

* ``POST /v1/chat/completions``: ``messages``, ``temperature``, ``top_p``, ``max_tokens`` /
  ``max_completion_tokens``, ``stop`` (up to 16 strings), ``seed``, ``n`` (up to 16 choices),
  ``logprobs`` + ``top_logprobs`` (up to 20), ``stream`` (server-sent events ending with
  ``data: [DONE]``) with ``stream_options.include_usage``; ``usage`` counts prompt and completion
  tokens of all choices.
* ``POST /v1/completions`` (the legacy text API): ``prompt`` as a string, a list of strings, a list
  of token ids or a list of those; the same sampling fields, ``logprobs`` (an int, up to 20),
  ``echo`` (without ``logprobs``), ``stream``; ``max_tokens`` defaults to 16 as OpenAI's does.
* ``GET /v1/models``, ``GET /health``.

What it does not do is refused with a 400 naming the field, never silently ignored: tools /
functions (``tools``, ``tool_choice`` other than "none", ``functions``, ``function_call``), a
``response_format`` other than text, non-zero ``presence_penalty`` / ``frequency_penalty``, a
``logit_bias``, ``suffix``, ``best_of`` other than ``n``, ``echo`` with ``logprobs``, and non-text
content parts. Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``; a
prompt that does not fit is a 400 with code ``context_length_exceeded`` and the "maximum context
length" wording clients look for. Log-probabilities are the model's (before temperature and top-p),
as vLLM reports them.

Serving slow hardware (see `agentgym.agents.serving` for the why):

* A retried request (same ``Idempotency-Key`` and body, or the same deterministic body) is answered
  from the generation already under way, or just finished, instead of starting it again; work
  nobody waits for any more stops after ``retry_grace_s``. Responses carry the header
  ``X-Agentgym-Resumable: 1`` so clients know a timed-out request may be retried here.
* Admission: a request that would wait past ``max_wait_s`` for a batch, or find ``max_queue`` rows
  already waiting, gets a 503 with ``Retry-After`` instead of a place in a queue it would time out
  in; clients come back when asked (`OpenAIAgent` does, without counting it as a failure).

Hardening, because the server may face clients that are buggy or hostile:

* Request bodies over ``max_body_bytes`` (``--max-body-mb``, default 4 MB) get a 413 from a pure-ASGI
  guard before the body is read or parsed: a declared ``Content-Length`` is refused at once, a
  chunked body is counted while it arrives. Without it an 8 MB prompt held 1.35 GB and 64 MB grew
  past 5.9 GB while it was parsed and tokenised.
* The body is parsed as strict JSON (``NaN``/``Infinity`` are not JSON) and validated field by field
  when it arrives, so a bad request is a 400 of its own and never reaches a batch where it could
  fail the other requests with it (a ``seed`` of ``2**64`` used to 500 its batch).
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
import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentgym.agents.base import ContextOverflow
from agentgym.agents.hf import MAX_TOP_LOGPROBS, Completion, HFGenerator, SamplingParams, TokenLogprob
from agentgym.agents.serving import (
    Admission,
    AtCapacity,
    ClientGone,
    IncrementalDetokenizer,
    Jobs,
    TokenText,
    retry_after_header,
)
from agentgym.core.seeding import derive_seed
from agentgym.server.guard import read_bounded, replaying

MB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 4 * MB
"""Room for a long context (128k tokens are ~0.5 MB of text) with JSON escaping to spare."""
MAX_SEED = 2**64 - 1
"""The largest seed ``torch.Generator.manual_seed`` takes (it overflows past 64 bits)."""
MAX_STOPS, MAX_STOP_CHARS = 16, 512
"""Each stop string is searched for in the decoded tail of its row after every token."""
MAX_N = 16
"""Most choices per request (each is a batch row)."""
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's (and vLLM's) default ``max_tokens`` of ``/v1/completions``."""
CHARS_MARGIN = 2
"""Slack in the characters-per-token bound of the pre-tokenisation check, for normalisers that
shorten text (Unicode composition): only prompts far over the limit are refused untokenised."""
RESUMABLE_HEADER = (b"x-agentgym-resumable", b"1")
"""On every /v1 response: a timed-out request may be retried here (see `agentgym.agents.serving`)."""

log = logging.getLogger("agentgym.model_server")


# -------------------------------------------------------------------------------- request models
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


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class SamplingRequest(BaseModel):
    """The fields chat and text completions share; unknown fields are ignored.

    Every field is checked here, when the request arrives, so that a bad value is this request's
    400 and not an exception in the batch it would share with others. Floats must be finite.
    ``max_tokens`` is bounded by the context (checked against the prompt in the handler). Fields
    of features the server does not have are declared so that using them is a 400 (`unsupported`).
    """

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    n: int = Field(1, ge=1, le=MAX_N)
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0, allow_inf_nan=False)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0, allow_inf_nan=False)
    logit_bias: dict[str, float] | None = None

    @field_validator("stop")
    @classmethod
    def _few_short_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > MAX_STOPS or any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"at most {MAX_STOPS} stop strings of at most {MAX_STOP_CHARS} characters each")
        return stop

    def stops(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return tuple(dict.fromkeys(s for s in stops if s))  # "" would match at once

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def unsupported(self) -> None:
        """A 400 for a feature this server does not have (rather than silently ignoring it)."""
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name):
                raise ApiError(400, f"{name} is not supported by this server (only 0)", param=name)
        if self.logit_bias:
            raise ApiError(400, "logit_bias is not supported by this server", param="logit_bias")


class ChatRequest(SamplingRequest):
    """OpenAI's chat completion request, as far as this server honours it."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None

    def unsupported(self) -> None:
        super().unsupported()
        for name in ("tools", "functions", "function_call"):
            if getattr(self, name):
                raise ApiError(400, f"{name} (tool calling) is not supported by this server", param=name)
        if self.tool_choice not in (None, "none"):
            raise ApiError(400, "tool_choice is not supported by this server", param="tool_choice")
        if self.response_format and self.response_format.get("type", "text") != "text":
            raise ApiError(
                400,
                "response_format other than text is not supported by this server",
                param="response_format",
            )
        if self.top_logprobs is not None and not self.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs: true", param="top_logprobs")


class CompletionRequest(SamplingRequest):
    """OpenAI's (legacy) text completion request, as far as this server honours it."""

    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)

    def unsupported(self) -> None:
        super().unsupported()
        if self.suffix:
            raise ApiError(400, "suffix is not supported by this server", param="suffix")
        if self.best_of is not None and self.best_of != self.n:
            raise ApiError(400, "best_of is not supported by this server (only best_of = n)", param="best_of")
        if self.echo and self.logprobs is not None:
            raise ApiError(
                400, "echo with logprobs is not supported (it needs the prompt's logprobs)", param="echo"
            )


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers


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
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(message, type, param, code), status_code=status, headers=headers)


def validation_error(errors: list[Any]) -> ApiError:
    """A 400 in OpenAI's shape from pydantic's errors (``loc`` without FastAPI's "body" prefix)."""

    def where(er: Any) -> str:
        loc = list(er.get("loc", ()))
        return ".".join(str(x) for x in (loc[1:] if loc[:1] == ["body"] else loc))

    message = "; ".join(f"{where(er) or 'body'}: {er.get('msg')}" for er in errors)
    return ApiError(400, message or "invalid request", param=(where(errors[0]) or None) if errors else None)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_request(body: bytes, model: type[SamplingRequest]) -> Any:
    """Strict JSON (no ``NaN``/``Infinity``, which Python's json would accept) validated as
    ``model``; anything wrong, or asking for what the server does not do, is a 400 `ApiError`."""
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, NaN, huge ints, deep nesting
        raise ApiError(400, f"the body is not valid JSON: {e}", code="invalid_json") from e
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    try:
        req = model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e.errors(include_input=False)) from e
    req.unsupported()
    return req


def parse_chat_request(body: bytes) -> ChatRequest:
    return parse_request(body, ChatRequest)


def job_key(path: str, body: bytes, idempotency_key: str | None, req: SamplingRequest) -> str | None:
    """Which earlier request this one repeats (see `agentgym.agents.serving`): the same
    ``Idempotency-Key`` and body; else the same body if it determines the answer; else none."""
    if req.stream:
        return None
    digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
    if idempotency_key:
        return f"key:{hashlib.sha256(idempotency_key.encode('utf-8', 'replace')).hexdigest()}:{digest}"
    if req.temperature == 0 or req.seed is not None:
        return f"body:{digest}"
    return None


# ------------------------------------------------------------------------------------ middleware
class RequestGuard:
    """Pure-ASGI middleware: the request-body limit, the one-line request log, and the header that
    tells clients a timed-out request may be retried here (`RESUMABLE_HEADER`).

    Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``, which wraps ``receive`` and hides
    client disconnects from the handler (see `Jobs.wait`). A body announced larger than
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
        v1 = str(scope.get("path", "")).startswith("/v1/")

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if v1:
                    message = {**message, "headers": [*message.get("headers", []), RESUMABLE_HEADER]}
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
            body = await read_bounded(receive, self.max_body)
            if body is None:
                await self._too_large(send, "The (chunked) request body")
                return
            await self.app(scope, replaying(body, receive), send)
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


# ----------------------------------------------------------------------------------- the app
@dataclasses.dataclass
class _Prompt:
    """One prompt of a request, tokenised, with its sampling parameters."""

    ids: list[int]
    params: SamplingParams
    echo: str = ""


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


def create_app(  # noqa: C901 - the app factory: the sum of its nested route handlers
    generator: HFGenerator,
    *,
    model_name: str | None = None,
    default_max_tokens: int = 512,
    api_key: str | None = None,
    close_generator: bool = True,
    disconnect_poll_s: float = 0.5,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_prompt_tokens: int | None = None,
    max_queue: int | None = None,
    max_wait_s: float | None = 60.0,
    retry_grace_s: float = 60.0,
) -> FastAPI:
    """The FastAPI app serving ``generator`` under ``model_name`` (default: the model folder's name).

    ``max_tokens`` of chat requests defaults to ``default_max_tokens``, capped by what is left of
    the context. With ``api_key`` set, every ``/v1`` route needs ``Authorization: Bearer <api_key>``.
    ``close_generator``: stop the generator's batcher when the server shuts down.
    ``disconnect_poll_s``: how often a waiting request checks whether its client hung up.
    ``max_body_bytes``: larger request bodies get a 413 before they are read.
    ``max_prompt_tokens``: longer prompts get a 400 before generation (default: the context length).
    ``max_queue``: most rows (choices) waiting for a batch before new requests get a 503
    (default: 4 batches' worth). ``max_wait_s``: a request whose estimated wait for a batch is
    longer gets a 503 (None: no limit). Both come with ``Retry-After``.
    ``retry_grace_s``: how long a generation whose client left keeps running for a retry to pick
    up, and how long a finished one is kept for a late retry (0: stop at once, keep nothing).
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
    vocab_size = len(generator.tokenizer)
    # One thread: the chat template and the tokenizer are CPU work that would stall the event
    # loop for seconds on a long prompt; a second thread would only compete for the same cores.
    tokenize_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")
    jobs = Jobs(grace_s=retry_grace_s)
    streams = {"rows": 0}
    admission = Admission(
        generator.batcher,
        lambda: jobs.rows_in_flight + streams["rows"],
        max_queue=max_queue,
        max_wait=max_wait_s,
    )
    token_text = TokenText(generator.tokenizer)

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
    app.state.jobs = jobs
    app.state.admission = admission
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        return error_response(e.status, e.message, e.type, e.param, e.code, e.headers)

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
        # and hides client disconnects from the handler (see `Jobs.wait`)
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
            "resumable": True,
            "jobs": jobs.snapshot(),
            "admission": admission.snapshot(),
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

    def too_long(what: str, param: str = "messages") -> ApiError:
        message = (
            f"{what} This server's limit is {prompt_limit} prompt tokens (--max-prompt-tokens; the "
            f"model's maximum context length is {generator.max_context} tokens). "
            f"Please reduce the length of the {param}."
        )
        return ApiError(400, message, param=param, code="context_length_exceeded")

    def check_model(req: SamplingRequest) -> None:
        if req.model is not None and req.model != name:
            raise ApiError(
                404,
                f"The model '{req.model}' does not exist; this server serves '{name}'.",
                param="model",
                code="model_not_found",
            )

    def rows_of(req: SamplingRequest, prompts: int = 1) -> int:
        """Batch rows a request takes: one per choice, one for all choices of a greedy request
        (they would be identical: it is generated once) - except a stream, which runs each."""
        return prompts * (1 if req.temperature == 0 and not req.stream else req.n)

    def admit(rows: int) -> None:
        try:
            admission.check(rows)
        except AtCapacity as e:
            raise ApiError(
                503,
                f"{e.message} Retry after {retry_after_header(e.retry_after)} s.",
                type="server_error",
                code="server_at_capacity",
                headers={"Retry-After": retry_after_header(e.retry_after)},
            ) from e

    def params_for(
        req: SamplingRequest, prompt_len: int, max_new: int | None, default: int, logprobs: int | None
    ) -> SamplingParams:
        if max_new is None:
            max_new = max(1, min(default, generator.max_context - prompt_len))
        try:
            return SamplingParams(req.temperature, req.top_p, max_new, req.stops(), req.seed, logprobs)
        except ValueError as e:  # the request model's bounds should have caught it already
            raise ApiError(400, str(e)) from e

    async def tokenize(fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(tokenize_pool, fn, *args)

    def check_prompt(ids: list[int], params: SamplingParams, param: str = "messages") -> None:
        if len(ids) > prompt_limit:
            raise too_long(f"The prompt is {len(ids)} tokens long.", param)
        overflow = generator.overflow_message(len(ids), params.max_new_tokens)
        if overflow:
            raise ApiError(400, overflow, param=param, code="context_length_exceeded")

    async def choices_for(p: _Prompt, n: int) -> list[Completion]:
        """``n`` completions of one prompt: a greedy one generated once, sampled ones each with
        its own seed (the request's for the first, so ``n=1`` and the first of ``n`` agree)."""
        try:
            if n == 1 or p.params.temperature == 0:
                return [await generator.complete_ids(p.ids, p.params)] * n
            seed = p.params.seed
            seeds = [seed] + [
                None if seed is None else derive_seed(seed, "choice", j) % (1 << 63) for j in range(1, n)
            ]
            return list(
                await asyncio.gather(
                    *(generator.complete_ids(p.ids, dataclasses.replace(p.params, seed=s)) for s in seeds)
                )
            )
        except ContextOverflow as e:
            raise ApiError(400, str(e), param="messages", code="context_length_exceeded") from e
        except (ApiError, asyncio.CancelledError):
            raise
        except Exception as e:
            raise ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error") from e

    # -- logprobs in OpenAI's two shapes
    def chat_logprob(lp: TokenLogprob) -> dict[str, Any]:
        text, raw = token_text(lp.token_id)
        top = [{"token": t, "logprob": v, "bytes": b} for t, b, v in ((*token_text(i), v) for i, v in lp.top)]
        return {"token": text, "logprob": lp.logprob, "bytes": raw, "top_logprobs": top}

    def completion_logprobs(lps: Sequence[TokenLogprob], offsets: Sequence[int]) -> dict[str, Any]:
        """The legacy shape; ``offsets``: where each token's text starts in the choice's text."""
        tokens, values, tops = [], [], []
        for lp in lps:
            text, _ = token_text(lp.token_id)
            tokens.append(text)
            values.append(lp.logprob)
            top = {token_text(i)[0]: v for i, v in lp.top}
            top.setdefault(text, lp.logprob)  # the chosen token is always there, as OpenAI's
            tops.append(top)
        return {
            "tokens": tokens,
            "token_logprobs": values,
            "top_logprobs": tops,
            "text_offset": list(offsets),
        }

    def text_offsets(ids: Sequence[int], start: int) -> list[int]:
        """Where the text of each of ``ids`` starts (a token that ends inside a character starts
        where that character does)."""
        detok = IncrementalDetokenizer(generator.tokenizer)
        out = []
        for t in ids:
            out.append(start + len(detok.text))
            detok.add(t)
        return out

    def usage(prompt_tokens: int, completions: Sequence[Completion]) -> dict[str, int]:
        out = sum(c.completion_tokens for c in completions)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": out, "total_tokens": prompt_tokens + out}

    async def run_job(request: Request, key: str | None, work: Any, rows: int) -> dict[str, Any]:
        job = jobs.find(key)
        if job is None:
            try:
                admit(rows)
            except ApiError:
                work.close()  # the coroutine never runs
                raise
            job = jobs.start(key, work, rows)
        else:
            work.close()  # a retry: the job it repeats answers it
        try:
            result = await jobs.wait(job, request.is_disconnected, poll=disconnect_poll_s)
        except ClientGone:
            raise ApiError(499, "client closed the request", type="client_closed") from None
        u = result["usage"]
        request.state.usage = (u["prompt_tokens"], u["completion_tokens"])
        return result

    # -- chat
    def chat_messages(req: ChatRequest) -> list[dict[str, str]]:
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        chars = sum(len(m["content"]) for m in messages)
        if chars > max_chars:
            raise too_long(
                f"The messages are {chars} characters long: too long for the prompt-token limit "
                f"whatever the tokenisation (at most {max_chars} characters)."
            )
        return messages

    async def chat_prompt(req: ChatRequest, messages: list[dict[str, str]]) -> _Prompt:
        try:
            ids = await tokenize(generator.encode, messages)
        except Exception as e:  # a template that rejects the roles/order (e.g. no system role)
            raise ApiError(400, f"cannot apply the chat template: {e}", param="messages") from e
        if len(ids) > prompt_limit:
            raise too_long(f"The prompt is {len(ids)} tokens long.")
        want = (req.top_logprobs or 0) if req.logprobs else None
        params = params_for(
            req, len(ids), req.max_completion_tokens or req.max_tokens, default_max_tokens, want
        )
        check_prompt(ids, params)
        return _Prompt(ids, params)

    async def chat_job(req: ChatRequest, messages: list[dict[str, str]]) -> dict[str, Any]:
        p = await chat_prompt(req, messages)
        completions = await choices_for(p, req.n)
        choices = []
        for i, c in enumerate(completions):
            logprobs = None
            if req.logprobs:
                logprobs = {"content": [chat_logprob(lp) for lp in c.logprobs or []], "refusal": None}
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "logprobs": logprobs,
                    "finish_reason": c.finish_reason,
                }
            )
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": choices,
            "usage": usage(len(p.ids), completions),
        }

    # The bodies are read and validated by `parse_request`, not by FastAPI, which would accept
    # NaN; their schemas are still documented at /docs (see `document_requests`).
    def body_doc(ref: str) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}}

    @v1.post("/chat/completions", openapi_extra=body_doc(CHAT_REQUEST_REF))
    async def chat(request: Request) -> Any:
        body = await request.body()
        req: ChatRequest = parse_request(body, ChatRequest)
        check_model(req)
        messages = chat_messages(req)
        if req.stream:
            admit(req.n)
            return stream(request, req, [await chat_prompt(req, messages)], chat=True)
        key = job_key("chat", body, request.headers.get("idempotency-key"), req)
        return await run_job(request, key, chat_job(req, messages), rows_of(req))

    # -- text completions
    def completion_prompts(req: CompletionRequest) -> list[str] | list[list[int]]:
        prompt = req.prompt
        if isinstance(prompt, str):
            prompts: list[Any] = [prompt]
        elif prompt and all(isinstance(x, int) for x in prompt):
            prompts = [prompt]
        else:
            prompts = list(prompt)
        if not prompts or any(len(x) == 0 for x in prompts):
            raise ApiError(400, "prompt must not be empty", param="prompt")
        if len(prompts) * req.n > 4 * MAX_N:
            raise ApiError(400, f"at most {4 * MAX_N} prompts x n per request", param="prompt")
        for x in prompts:
            if isinstance(x, str) and len(x) > max_chars:
                raise too_long(f"A prompt is {len(x)} characters long (at most {max_chars}).", "prompt")
            if isinstance(x, list) and any(not 0 <= t < vocab_size for t in x):
                raise ApiError(400, f"token ids must be in [0, {vocab_size})", param="prompt")
        return prompts

    async def completion_inputs(req: CompletionRequest, prompts: list[Any]) -> list[_Prompt]:
        def encode_all() -> list[tuple[list[int], str]]:
            out = []
            for x in prompts:
                if isinstance(x, str):
                    out.append((generator.encode_text(x), x))
                else:
                    out.append((list(x), generator.tokenizer.decode(x) if req.echo else ""))
            return out

        result = []
        for ids, text in await tokenize(encode_all):
            params = params_for(req, len(ids), req.max_tokens, COMPLETIONS_DEFAULT_MAX_TOKENS, req.logprobs)
            check_prompt(ids, params, "prompt")
            result.append(_Prompt(ids, params, text if req.echo else ""))
        return result

    async def completion_job(req: CompletionRequest, prompts: list[Any]) -> dict[str, Any]:
        inputs = await completion_inputs(req, prompts)
        per_prompt = await asyncio.gather(*(choices_for(p, req.n) for p in inputs))
        choices, all_completions = [], []
        for k, (p, completions) in enumerate(zip(inputs, per_prompt, strict=True)):
            for j, c in enumerate(completions):
                all_completions.append(c)
                logprobs = None
                if req.logprobs is not None:
                    lps = c.logprobs or []
                    offsets = text_offsets([lp.token_id for lp in lps], len(p.echo))
                    logprobs = completion_logprobs(lps, offsets)
                choices.append(
                    {
                        "index": k * req.n + j,
                        "text": p.echo + c.text,
                        "logprobs": logprobs,
                        "finish_reason": c.finish_reason,
                    }
                )
        return {
            "id": f"cmpl-{secrets.token_hex(12)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
            "choices": choices,
            "usage": usage(sum(len(p.ids) for p in inputs), all_completions),
        }

    @v1.post("/completions", openapi_extra=body_doc(COMPLETION_REQUEST_REF))
    async def completions(request: Request) -> Any:
        body = await request.body()
        req: CompletionRequest = parse_request(body, CompletionRequest)
        check_model(req)
        prompts = completion_prompts(req)
        if req.stream:
            admit(len(prompts) * req.n)
            return stream(request, req, await completion_inputs(req, prompts), chat=False)
        key = job_key("completions", body, request.headers.get("idempotency-key"), req)
        return await run_job(request, key, completion_job(req, prompts), rows_of(req, len(prompts)))

    # -- streaming
    def stream(  # noqa: C901 - one SSE protocol, with its event generator nested
        request: Request, req: Any, inputs: list[_Prompt], *, chat: bool
    ) -> StreamingResponse:
        """Server-sent events: one chunk per token as it is generated (text held back only while
        it could be the start of a stop string), a last chunk per choice with its finish reason,
        the usage if asked, then ``data: [DONE]``. Admitted like any request; a stream is not
        resumable, and its generation stops when the client hangs up."""
        rows = len(inputs) * req.n
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[int, int | None, TokenLogprob | None]] = asyncio.Queue()
        cid = f"{'chatcmpl' if chat else 'cmpl'}-{secrets.token_hex(12)}"
        stamp = int(time.time())
        kind = "chat.completion.chunk" if chat else "text_completion"
        include_usage = req.include_usage()
        want_logprobs = (req.logprobs if chat else req.logprobs is not None) or False
        slots: list[tuple[_Prompt, SamplingParams]] = []
        for p in inputs:
            for j in range(req.n):
                seed = p.params.seed
                if j and seed is not None:
                    seed = derive_seed(seed, "choice", j) % (1 << 63)
                slots.append((p, dataclasses.replace(p.params, seed=seed)))
        detoks = [IncrementalDetokenizer(generator.tokenizer, params.stop) for _, params in slots]
        echoes = [len(p.echo) for p, _ in slots]

        def chunk(
            i: int, text: str | None, lps: list[TokenLogprob], finish: str | None, offset: int = 0
        ) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": i}
            if chat:
                choice["delta"] = {} if text is None else {"content": text}
                choice["logprobs"] = {"content": [chat_logprob(lp) for lp in lps]} if lps else None
            else:
                choice["text"] = text or ""
                choice["logprobs"] = completion_logprobs(lps, [offset]) if lps else None
            choice["finish_reason"] = finish
            out = {"id": cid, "object": kind, "created": stamp, "model": name, "choices": [choice]}
            if include_usage:
                out["usage"] = None
            return out

        def on_token(i: int) -> Any:
            def put(token: int, lp: TokenLogprob | None) -> None:  # in the worker thread
                loop.call_soon_threadsafe(events.put_nowait, (i, token, lp))

            return put

        async def body() -> AsyncIterator[bytes]:
            streams["rows"] += rows
            tasks = [
                asyncio.ensure_future(generator.complete_ids(p.ids, params, on_token=on_token(i)))
                for i, (p, params) in enumerate(slots)
            ]
            for i, t in enumerate(tasks):
                # mypy cannot type a lambda whose default binds the loop variable
                t.add_done_callback(lambda _, i=i: events.put_nowait((i, None, None)))  # type: ignore[misc]
            finished: list[Completion] = []
            try:
                for i, (p, _) in enumerate(slots):
                    if chat:
                        first = chunk(i, "", [], None)
                        first["choices"][0]["delta"] = {"role": "assistant", "content": ""}
                        yield _sse(first)
                    elif p.echo:
                        yield _sse(chunk(i, p.echo, [], None))
                left = len(tasks)
                while left:
                    try:
                        i, token, lp = await asyncio.wait_for(events.get(), disconnect_poll_s)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        continue
                    if token is not None:
                        offset = echoes[i] + len(detoks[i].text)  # where this token's text starts
                        delta = detoks[i].add(token)
                        lps = [lp] if lp is not None and want_logprobs else []
                        if delta or lps:
                            yield _sse(chunk(i, delta, lps, None, offset))
                        continue
                    left -= 1
                    task = tasks[i]
                    if task.cancelled() or task.exception() is not None:
                        e = task.exception() if not task.cancelled() else None
                        message = (
                            f"generation failed: {type(e).__name__}: {e}" if e else "generation cancelled"
                        )
                        yield _sse(error_body(message, "server_error"))
                        return
                    c = task.result()
                    finished.append(c)
                    rest = detoks[i].finish(c.text)
                    if rest:
                        yield _sse(chunk(i, rest, [], None))
                    yield _sse(chunk(i, None, [], c.finish_reason))
                u = usage(sum(len(p.ids) for p in inputs), finished)
                request.state.usage = (u["prompt_tokens"], u["completion_tokens"])
                if include_usage:
                    yield _sse(
                        {
                            "id": cid,
                            "object": kind,
                            "created": stamp,
                            "model": name,
                            "choices": [],
                            "usage": u,
                        }
                    )
                yield _sse("[DONE]")
            finally:
                streams["rows"] -= rows
                for t in tasks:
                    if not t.done():
                        t.cancel()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

    app.include_router(v1)
    document_requests(app)
    return app


CHAT_REQUEST_REF = "#/components/schemas/ChatRequest"
COMPLETION_REQUEST_REF = "#/components/schemas/CompletionRequest"


def document_requests(app: FastAPI) -> None:
    """Add `ChatRequest`, `CompletionRequest` and their parts to the OpenAPI components that
    ``CHAT_REQUEST_REF`` and ``COMPLETION_REQUEST_REF`` name (FastAPI only adds the models of
    parameters it parses itself)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ChatRequest, CompletionRequest):
                own = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(own.pop("$defs", {}))
                components[model.__name__] = own
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
