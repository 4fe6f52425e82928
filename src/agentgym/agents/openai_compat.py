"""Any OpenAI-compatible chat endpoint as an agent (vLLM, SGLang, OpenAI, Ollama, ``agentgym
serve-model``), over plain httpx: no SDK, so the retry, timeout and error rules are ours.

* ``POST {base_url}/chat/completions`` with ``base_url`` as the SDKs take it (ending in ``/v1``).
* Up to ``concurrency`` requests in flight (a semaphore); the runner's episodes beyond that wait.
* Retries with exponential backoff and full jitter on 408/409/429/5xx and connection errors; a
  ``Retry-After`` header (seconds or an HTTP date) sets the wait instead.
* A server at capacity (503 or 429 with ``Retry-After``, as ``agentgym serve-model`` answers when its
  queue is full) is waited out, honouring ``Retry-After`` plus jitter, for up to ``capacity_wait``
  seconds in all: that is the server pacing its clients, not a failure, so it does not use up
  ``max_retries``.
* Every request carries an ``Idempotency-Key`` header, the same on each retry of it. A reply that
  does not come within ``timeout`` seconds is retried only if the server said it resumes retried
  requests (the ``X-Agentgym-Resumable`` response header of ``agentgym serve-model``): the retry
  then picks up the generation already under way instead of starting it over. Any other server
  would drop the half-done work when we hang up and start again from scratch - on a slow (CPU)
  server every retry then times out the same way, a live-lock - so there the timeout is an
  `AgentError` that says which setting to change.
* The env's stop strings (`EnvSpec.stop`, e.g. ``"\nObservation:"``) are sent as ``stop`` and the
  reply is cut at them again here, for servers that ignore ``stop``.
* A 400 saying the context length is exceeded -> `ContextOverflow` (the episode ends with
  ``stop: "context"``); any other 4xx -> `AgentError` with the server's message, no retry.
* ``seed`` makes sampling reproducible on servers that honour it: each turn sends a seed derived
  from (seed, env, task, sample, round), so the k samples of an item differ.
* `OpenAIAgent.preflight` checks the endpoint before a run (reachable, the model listed, a 1-token
  chat answered): a wrong URL, key or model name should stop ``agentgym eval`` at once with one clear
  message, not turn every episode into ``stop: "error"`` after minutes of retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from agentgym.agents.base import Agent, AgentError, AgentReply, ContextOverflow, EpisodeContext
from agentgym.core.react import cut_at_stop
from agentgym.core.seeding import derive_seed

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
CAPACITY_STATUS = frozenset({429, 503})
"""With a ``Retry-After`` header: the server is at capacity and says when to come back."""
RESUMABLE_HEADER = "x-agentgym-resumable"
"""Response header of a server that answers a retried request (same ``Idempotency-Key``) from the
generation already under way or done, instead of starting it again."""
MAX_STOPS = 4
"""OpenAI's API takes at most 4 stop strings (vLLM and ``agentgym serve-model`` take more)."""

CONTEXT_PATTERNS = re.compile(
    r"context[ _]length|maximum context|context window|too many tokens|prompt is too long"
    r"|exceeds? (?:the )?(?:model'?s? )?(?:max(?:imum)? )?(?:context|model length|input length)"
    r"|longer than the model|max_model_len",
    re.IGNORECASE,
)
"""Wordings of context overflow: OpenAI (code ``context_length_exceeded``), vLLM ("maximum context
length is N tokens"), SGLang ("longer than the model's context length"), TGI, Anthropic-style."""


def error_message(response: httpx.Response) -> str:
    """The server's error text: OpenAI's ``{"error": {"message"}}``, FastAPI's ``{"detail"}``, or
    the raw body (truncated)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            return str(err.get("message") or err)
        if err is not None:
            return str(err)
    return str(body)[:500]


def is_context_overflow(response: httpx.Response, message: str) -> bool:
    if response.status_code not in (400, 413, 422):
        return False
    try:
        err = response.json().get("error", {})
        if isinstance(err, dict) and err.get("code") == "context_length_exceeded":
            return True
    except (ValueError, AttributeError):
        pass
    return bool(CONTEXT_PATTERNS.search(message))


def retry_after(response: httpx.Response | None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: delta seconds or an HTTP date)."""
    if response is None:
        return None
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _transport_cause(e: BaseException) -> str:
    """ "connection refused" for a refused connect (anyio hides it behind "All connection attempts
    failed"), else the error's type and text."""
    chain: BaseException | None = e
    for _ in range(8):
        if chain is None:
            break
        if isinstance(chain, ConnectionRefusedError):
            return "connection refused"
        chain = chain.__cause__ or chain.__context__
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class OpenAIAgent(Agent):
    """An agent that calls an OpenAI-compatible ``/chat/completions`` endpoint.

    ``api_key`` defaults to the environment variable named by ``api_key_env`` (``OPENAI_API_KEY``);
    local servers usually need none. ``extra_body`` is merged into every request (e.g.
    ``{"chat_template_kwargs": {"enable_thinking": False}}`` for vLLM). Token usage of all calls
    accumulates in ``usage``.

    ``timeout``: seconds to wait for one reply (see the module docstring for what happens then).
    ``capacity_wait``: seconds a reply may spend in all waiting out a server at capacity.
    ``stop``: stop strings sent with every request, before the env's own (``env_stop``).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int | None = 512,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
        capacity_wait: float = 1800.0,
        env_stop: bool = True,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop = list(stop) if stop else None
        self.seed = seed
        self.extra_body = dict(extra_body or {})
        self.capacity_wait = capacity_wait
        self.env_stop = env_stop
        self.resumable = False
        """Whether the server said it resumes retried requests (`RESUMABLE_HEADER`)."""
        self.usage = {
            "requests": 0,
            "retries": 0,
            "capacity_waits": 0,
            "timeouts": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        self._rng = random.Random(seed)  # jitter only; never the global RNG
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None

    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """One client and semaphore per event loop (both are bound to the loop that uses them)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._sem is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            self._client = httpx.AsyncClient(headers=headers, timeout=self.timeout, limits=limits)
            self._client_loop = loop
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._client, self._sem

    def request_body(self, messages: list[dict[str, str]], ctx: EpisodeContext | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        stop = self.stops(ctx)
        if stop:
            body["stop"] = stop
        if self.seed is not None:
            parts = (ctx.env_id, ctx.task_id, ctx.sample, ctx.round) if ctx is not None else ()
            body["seed"] = derive_seed(self.seed, *parts) % (1 << 31)
        body.update(self.extra_body)
        return body

    def stops(self, ctx: EpisodeContext | None) -> list[str]:
        """The stop strings of a request: ours, then the env's (`EnvSpec.stop`), at most 4."""
        env = list(ctx.spec.stop) if ctx is not None and self.env_stop else []
        return list(dict.fromkeys(s for s in [*(self.stop or []), *env] if s))[:MAX_STOPS]

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        asked = retry_after(response)
        if asked is not None:
            return min(asked, self.max_backoff)
        return self._rng.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))

    def _note_server(self, response: httpx.Response) -> None:
        if response.headers.get(RESUMABLE_HEADER):
            self.resumable = True

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        client, sem = self._ensure_client()
        body = self.request_body(messages, ctx)
        url = f"{self.base_url}/chat/completions"
        # one key for this reply and all its retries: a server that dedupes by it answers a retry
        # from the work it has already done (OpenAI's SDKs send the same header the same way)
        headers = {"Idempotency-Key": f"agentgym-{uuid.uuid4().hex}"}
        last = ""
        waited = 0.0
        async with sem:
            attempt = 0
            while True:
                response: httpx.Response | None = None
                try:
                    response = await client.post(url, json=body, headers=headers)
                except httpx.ReadTimeout as e:
                    self.usage["timeouts"] += 1
                    if not self.resumable:
                        raise AgentError(self._timeout_message(url)) from e
                    last = f"no reply within {self.timeout:g} s (ReadTimeout; the retry resumes it)"
                    if attempt < self.max_retries:
                        attempt += 1
                        self.usage["retries"] += 1
                        continue  # the server still works on it: ask again at once
                    break
                except (httpx.TimeoutException, httpx.TransportError) as e:
                    last = f"{type(e).__name__}: {e}"
                else:
                    self._note_server(response)
                    if response.status_code == 200:
                        return self._parse(response, self.stops(ctx))
                    message = error_message(response)
                    if is_context_overflow(response, message):
                        raise ContextOverflow(message)
                    last = f"HTTP {response.status_code}: {message}"
                    if response.status_code not in RETRY_STATUS:
                        raise AgentError(f"{url}: {last}")
                    asked = retry_after(response)
                    if response.status_code in CAPACITY_STATUS and asked is not None:
                        # the server paces us: wait as asked (plus jitter, so that the clients it
                        # turned away do not all come back at once), without using up a retry
                        pause = asked + self._rng.uniform(0, 0.25 * asked + 0.5)
                        if waited + pause > self.capacity_wait:
                            raise AgentError(
                                f"{url}: still at capacity after waiting {waited:.0f} s "
                                f"(capacity_wait {self.capacity_wait:g} s); last answer: {last}"
                            )
                        self.usage["capacity_waits"] += 1
                        waited += pause
                        await asyncio.sleep(pause)
                        continue
                if attempt >= self.max_retries:
                    break
                self.usage["retries"] += 1
                await asyncio.sleep(self._delay(attempt, response))
                attempt += 1
        raise AgentError(f"{url}: failed after {attempt + 1} attempts; last error: {last}")

    def _timeout_message(self, url: str) -> str:
        return (
            f"{url}: no reply within {self.timeout:g} s (--timeout). Not retried: this server does "
            "not resume a retried request, so a retry would start the generation over and time out "
            "the same way. Raise --timeout, or lower --concurrency / --max-tokens, or serve the "
            "model with `agentgym serve-model` (it resumes retried requests and turns away what it "
            "cannot serve in time)."
        )

    async def preflight(self) -> str:
        """Check the endpoint before any episode; returns a one-line description of what was checked.

        ``GET {base_url}/models`` must answer (a transport error or 401/403 is fatal; 404 means the
        server does not list models and the check is skipped), ``model`` must be among the listed ids
        if there are any, and one chat request of 1 token must succeed (transient 408/429/5xx are
        retried twice). Raises `AgentError` naming the URL and what to fix."""
        client, _ = self._ensure_client()
        hint = "is the model server (vLLM, SGLang, `agentgym serve-model`) running there"
        models_url = f"{self.base_url}/models"
        try:
            response = await client.get(models_url)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            raise AgentError(
                f"cannot reach the model endpoint {self.base_url}: {_transport_cause(e)}; {hint}, "
                "and does --base-url end in /v1?"
            ) from e
        self._note_server(response)
        if response.status_code in (401, 403):
            raise AgentError(
                f"the model endpoint {self.base_url} rejected the API key (HTTP {response.status_code}: "
                f"{error_message(response)}); put the key in OPENAI_API_KEY or name its variable "
                "with --api-key-env"
            )
        listed: list[str] = []
        if response.status_code == 200:
            try:
                listed = [str(m["id"]) for m in response.json().get("data") or []]
            except (ValueError, KeyError, TypeError, AttributeError):
                listed = []  # not an OpenAI model list; the chat request below decides
            if listed and self.model not in listed:
                shown = ", ".join(listed[:20]) + (" ..." if len(listed) > 20 else "")
                raise AgentError(
                    f"model {self.model!r} is not served at {self.base_url}; it serves: {shown} "
                    "(pass one of them as --model)"
                )
        body = self.request_body([{"role": "user", "content": "Reply with OK."}], None)
        body["max_tokens"] = 1
        url = f"{self.base_url}/chat/completions"
        last = ""
        for attempt in range(3):
            answer: httpx.Response | None = None
            try:
                answer = await client.post(url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = _transport_cause(e)
                if isinstance(e, httpx.ConnectError):  # it answered GET /models a moment ago
                    break
            else:
                self._note_server(answer)
                if answer.status_code == 200:
                    try:
                        answer.json()["choices"][0]["message"]
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        raise AgentError(
                            f"{url} answered a test request with something that is not a chat "
                            f"completion: {answer.text[:300]}"
                        ) from e
                    note = "listed by the server" if listed else "(the server lists no models)"
                    return f"{self.base_url}: model {self.model!r} {note}; a 1-token test reply came back"
                last = f"HTTP {answer.status_code}: {error_message(answer)}"
                if answer.status_code not in RETRY_STATUS:
                    break
            if attempt < 2:
                await asyncio.sleep(self._delay(attempt, answer))
        hint404 = " (does --base-url end in /v1?)" if last.startswith("HTTP 404") else ""
        raise AgentError(f"a 1-token test request to the model endpoint {url} failed: {last}{hint404}")

    def _parse(self, response: httpx.Response, stop: Sequence[str] = ()) -> AgentReply:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = cut_at_stop(choice["message"].get("content") or "", stop)  # if the server ignored stop
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
            raise AgentError(f"malformed chat completion from {self.base_url}: {response.text[:300]}") from e
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        self.usage["requests"] += 1
        self.usage["prompt_tokens"] += prompt_tokens
        self.usage["completion_tokens"] += completion_tokens
        return AgentReply(text, prompt_tokens, completion_tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
            "seed": self.seed,
        }

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except RuntimeError:  # its event loop is gone; the sockets went with it
                pass
