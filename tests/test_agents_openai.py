"""OpenAIAgent against a small real FastAPI server on loopback that misbehaves on purpose.

(The end-to-end test against ``agentgym serve-model`` with a real model is test_model_server.py.)
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import tinymodel
from agentgym.agents.base import AgentError, ContextOverflow, EpisodeContext
from agentgym.agents.openai_compat import OpenAIAgent, retry_after
from agentgym.core.types import EnvSpec

SPEC = EnvSpec(
    id="maze", version="1", max_rounds=15, metric="success", action_format="react_first", splits={}
)
MSGS = [{"role": "user", "content": "hello"}]


def ctx(task: int = 0, sample: int = 0, round: int = 0) -> EpisodeContext:
    return EpisodeContext(env_id="maze", task_id=task, spec=SPEC, sample=sample, round=round)


def completion(text: str, prompt: int = 5, completion: int = 2) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class Script:
    """What the fake endpoint answers, per 'scenario' (the user message), and what it saw."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()  # "slow" answers only once the test sets it
        self.release_stalls = threading.Event()


def make_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        if request.headers.get("authorization") == "Bearer wrong":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        return {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        script.bodies.append(body)
        script.headers.append(dict(request.headers))
        scenario = body["messages"][-1]["content"]
        n = script.calls[scenario] = script.calls.get(scenario, 0) + 1
        if scenario == "flaky":  # 503 twice, then fine
            if n <= 2:
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            return completion(f"ok after {n - 1} failures")
        if scenario == "rate":
            if n == 1:
                return JSONResponse({"error": {"message": "slow down"}}, 429, headers={"Retry-After": "0"})
            return completion("ok")
        if scenario == "down":
            return JSONResponse({"error": {"message": "still broken"}}, status_code=500)
        if scenario == "long":  # vLLM's wording
            msg = "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens."
            return JSONResponse(
                {"object": "error", "message": msg, "type": "BadRequestError", "code": 400}, 400
            )
        if scenario == "long-openai":
            err = {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}
            return JSONResponse({"error": err}, 400)
        if scenario == "bad":
            return JSONResponse({"error": {"message": "unknown parameter 'foo'"}}, status_code=400)
        if scenario == "nokey":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        if scenario == "malformed":
            return {"choices": []}
        if scenario == "slow":
            await asyncio.to_thread(script.release.wait, 60)
            return completion("late")
        if scenario == "chatty":  # a server that ignores stop: the model invents the next turn
            return completion(
                "Thought: t\nAction: move up\nObservation: You won.\nThought: u\nAction: move down"
            )
        if scenario == "capacity":  # serve-model's full queue, twice
            if n <= 2:
                err = {"message": "at capacity", "type": "server_error", "code": "server_at_capacity"}
                return JSONResponse({"error": err}, 503, headers={"Retry-After": "0"})
            return completion("admitted")
        if scenario == "always-full":
            return JSONResponse({"error": {"message": "at capacity"}}, 503, headers={"Retry-After": "1"})
        if scenario == "stalls":  # never answers in time, and does not resume retried requests
            await asyncio.to_thread(script.release_stalls.wait, 60)
            return completion("too late")
        if scenario == "busy":
            script.in_flight += 1
            script.max_in_flight = max(script.max_in_flight, script.in_flight)
            await asyncio.sleep(0.05)
            script.in_flight -= 1
            return completion("done")
        return completion(f"echo: {scenario}")

    return app


@pytest.fixture(scope="module")
def server():
    script = Script()
    with tinymodel.serve(make_app(script)) as url:
        yield url + "/v1", script


def agent_for(url: str, **kw: Any) -> OpenAIAgent:
    kw.setdefault("backoff", 0.01)
    return OpenAIAgent(url, "fake-model", **kw)


async def test_reply_and_usage(server) -> None:
    url, script = server
    agent = agent_for(url, api_key="sk-test", temperature=0.3, top_p=0.8, max_tokens=64, stop=["\nObs"])
    r = await agent.reply([{"role": "user", "content": "hi", "loss": None}], ctx())  # type: ignore[dict-item]
    assert (r.text, r.prompt_tokens, r.completion_tokens) == ("echo: hi", 5, 2)
    body = script.bodies[-1]
    assert body["messages"] == [{"role": "user", "content": "hi"}]  # extra keys are not sent
    assert (body["model"], body["temperature"], body["top_p"], body["max_tokens"]) == (
        "fake-model",
        0.3,
        0.8,
        64,
    )
    assert body["stop"] == ["\nObs", "\nObservation:"] and "seed" not in body  # ours, then the env's
    assert script.headers[-1]["authorization"] == "Bearer sk-test"
    await agent.reply(MSGS, ctx())
    assert agent.usage["requests"] == 2 and agent.usage["prompt_tokens"] == 10
    await agent.aclose()


async def test_seed_per_turn(server) -> None:
    url, script = server
    agent = agent_for(url, seed=5)
    seeds = []
    for c in (ctx(1, 0, 0), ctx(1, 0, 0), ctx(1, 1, 0), ctx(1, 0, 1)):
        await agent.reply(MSGS, c)
        seeds.append(script.bodies[-1]["seed"])
    assert seeds[0] == seeds[1] and len(set(seeds)) == 3
    await agent.aclose()


async def test_retries_503_then_succeeds(server) -> None:
    url, script = server
    agent = agent_for(url)
    r = await agent.reply([{"role": "user", "content": "flaky"}], ctx())
    assert r.text == "ok after 2 failures"
    assert script.calls["flaky"] == 3 and agent.usage["retries"] == 2
    # the three attempts carry one Idempotency-Key (a server may answer a retry from its work)
    keys = [h.get("idempotency-key") for b, h in zip(script.bodies, script.headers, strict=True)]
    flaky = {k for k, b in zip(keys, script.bodies, strict=True) if b["messages"][-1]["content"] == "flaky"}
    assert len(flaky) == 1 and None not in flaky
    r = await agent.reply([{"role": "user", "content": "rate"}], ctx())
    assert r.text == "ok" and script.calls["rate"] == 2
    assert script.headers[-1]["idempotency-key"] not in flaky  # another reply, another key
    await agent.aclose()


async def test_gives_up_after_max_retries(server) -> None:
    url, script = server
    agent = agent_for(url, max_retries=2)
    with pytest.raises(AgentError, match="after 3 attempts.*still broken"):
        await agent.reply([{"role": "user", "content": "down"}], ctx())
    assert script.calls["down"] == 3
    await agent.aclose()


@pytest.mark.parametrize("scenario", ["long", "long-openai"])
async def test_context_overflow(server, scenario: str) -> None:
    url, script = server
    agent = agent_for(url)
    with pytest.raises(ContextOverflow):
        await agent.reply([{"role": "user", "content": scenario}], ctx())
    assert script.calls[scenario] == 1  # not retried
    await agent.aclose()


@pytest.mark.parametrize(
    ("scenario", "status", "text"), [("bad", 400, "unknown parameter"), ("nokey", 401, "API key")]
)
async def test_client_errors_are_permanent(server, scenario: str, status: int, text: str) -> None:
    url, script = server
    agent = agent_for(url)
    with pytest.raises(AgentError, match=f"HTTP {status}: .*{text}"):
        await agent.reply([{"role": "user", "content": scenario}], ctx())
    assert script.calls[scenario] == 1
    await agent.aclose()


async def test_malformed_reply_and_timeout(server) -> None:
    url, script = server
    agent = agent_for(url, max_retries=1)  # the default timeout: a slow machine is not a timeout
    with pytest.raises(AgentError, match="malformed"):
        await agent.reply([{"role": "user", "content": "malformed"}], ctx())
    await agent.aclose()
    # "slow" is not answered until released below, so the request times out however loaded we are
    # (the message: httpx's ReadTimeout, or the agent's own "no reply within 0.2 s")
    impatient = agent_for(url, timeout=0.2, max_retries=1)
    try:
        with pytest.raises(AgentError, match=r"Timeout|within 0\.2 s"):
            await impatient.reply([{"role": "user", "content": "slow"}], ctx())
    finally:
        script.release.set()
        await impatient.aclose()


async def test_connection_refused_is_retried_then_fails() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = agent_for(f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(AgentError, match="3 attempts.*Connect"):
        await agent.reply(MSGS, ctx())
    assert agent.usage["retries"] == 2
    await agent.aclose()


async def test_concurrency_limit(server) -> None:
    url, script = server
    agent = agent_for(url, concurrency=3)
    replies = await asyncio.gather(
        *(agent.reply([{"role": "user", "content": "busy"}], ctx(i)) for i in range(9))
    )
    assert [r.text for r in replies] == ["done"] * 9
    assert 2 <= script.max_in_flight <= 3  # concurrent, but never beyond the limit
    await agent.aclose()


def test_describe_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-secret")
    agent = OpenAIAgent("http://127.0.0.1:1/v1/", "m", api_key_env="MY_KEY", temperature=0.7, seed=1)
    d = agent.describe()
    assert d["base_url"] == "http://127.0.0.1:1/v1" and d["model"] == "m" and d["temperature"] == 0.7
    assert "sk-secret" not in repr(d)
    assert agent._api_key == "sk-secret"
    with pytest.raises(ValueError, match="http"):
        OpenAIAgent("127.0.0.1:8000", "m")


def test_retry_after_parsing() -> None:
    def resp(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(resp("3")) == 3.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after(resp(when)) <= 30  # type: ignore[operator]
    assert retry_after(resp("soon")) is None and retry_after(None) is None
    agent = OpenAIAgent("http://127.0.0.1:1/v1", "m", max_backoff=10)
    assert agent._delay(0, resp("3")) == 3.0
    assert agent._delay(0, resp("100")) == 10.0  # capped
    assert 0 <= agent._delay(4, None) <= 10


async def test_preflight_checks_reachability_model_name_key_and_a_test_reply(server) -> None:
    url, script = server
    agent = agent_for(url)
    before = script.calls.get("Reply with OK.", 0)
    assert "listed by the server" in await agent.preflight()
    assert script.calls["Reply with OK."] == before + 1 and script.bodies[-1]["max_tokens"] == 1
    await agent.aclose()

    wrong_model = OpenAIAgent(url, "no-such-model")
    with pytest.raises(AgentError, match="'no-such-model' is not served.*it serves: fake-model"):
        await wrong_model.preflight()
    await wrong_model.aclose()

    wrong_key = agent_for(url, api_key="wrong")
    with pytest.raises(AgentError, match="rejected the API key.*--api-key-env"):
        await wrong_key.preflight()
    await wrong_key.aclose()

    no_v1 = agent_for(url.removesuffix("/v1"))
    with pytest.raises(AgentError, match="HTTP 404.*end in /v1"):
        await no_v1.preflight()
    await no_v1.aclose()


async def test_preflight_against_a_dead_url_names_it() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    agent = agent_for(base, max_retries=50)  # the preflight does not retry a refused connection
    with pytest.raises(AgentError, match="cannot reach the model endpoint") as exc:
        await agent.preflight()
    assert base in str(exc.value) and "connection refused" in str(exc.value)
    await agent.aclose()


async def test_env_stop_strings_are_sent_and_applied(server) -> None:
    url, script = server
    agent = agent_for(url)
    r = await agent.reply([{"role": "user", "content": "chatty"}], ctx())
    assert script.bodies[-1]["stop"] == ["\nObservation:"]  # the env's (EnvSpec.stop)
    assert r.text == "Thought: t\nAction: move up"  # cut here too: this server ignored stop
    await agent.aclose()
    # an env with its own stop strings; at most 4 go out (OpenAI's limit), ours first
    spec = SPEC.model_copy(update={"stop": ["\nObservation:", "\nQuestion:", "A", "B", "C"]})
    agent = agent_for(url, stop=["\nObs"])
    await agent.reply(MSGS, EpisodeContext(env_id="maze", task_id=0, spec=spec))
    assert script.bodies[-1]["stop"] == ["\nObs", "\nObservation:", "\nQuestion:", "A"]
    await agent.aclose()
    plain = agent_for(url, env_stop=False)
    r = await plain.reply([{"role": "user", "content": "chatty"}], ctx())
    assert "stop" not in script.bodies[-1] and r.text.endswith("move down")
    await plain.aclose()


async def test_capacity_503_is_waited_out_without_using_retries(server) -> None:
    url, script = server
    agent = agent_for(url, max_retries=0)
    r = await agent.reply([{"role": "user", "content": "capacity"}], ctx())
    assert r.text == "admitted" and script.calls["capacity"] == 3
    assert agent.usage["capacity_waits"] == 2 and agent.usage["retries"] == 0
    await agent.aclose()
    # but not forever: capacity_wait bounds the time spent waiting
    impatient = agent_for(url, capacity_wait=0.5)
    with pytest.raises(AgentError, match="still at capacity.*capacity_wait 0.5"):
        await impatient.reply([{"role": "user", "content": "always-full"}], ctx())
    assert script.calls["always-full"] == 1
    await impatient.aclose()


async def test_a_timeout_is_not_resubmitted_to_a_server_that_would_start_over(server) -> None:
    url, script = server
    agent = agent_for(url, timeout=0.3, max_retries=5)
    try:
        with pytest.raises(AgentError, match=r"no reply within 0\.3 s \(--timeout\)\. Not retried"):
            await agent.reply([{"role": "user", "content": "stalls"}], ctx())
    finally:
        script.release_stalls.set()
        await agent.aclose()
    assert script.calls["stalls"] == 1 and agent.usage["timeouts"] == 1 and not agent.resumable
