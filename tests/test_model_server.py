"""``agentgym serve-model``: the OpenAI-compatible server on a tiny real model, driven by OpenAIAgent.

No mocks: a real uvicorn server on 127.0.0.1 runs the app around a real `HFGenerator`, and the
last test starts the actual command in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tinymodel
from agentgym.agents.base import AgentError, AgentReply, ContextOverflow, EpisodeContext
from agentgym.agents.hf import HFGenerator, SamplingParams, _Request
from agentgym.agents.model_server import create_app
from agentgym.agents.openai_compat import OpenAIAgent
from agentgym.core.types import EnvSpec

SPEC = EnvSpec(
    id="maze", version="1", max_rounds=15, metric="success", action_format="react_first", splits={}
)
NAME = "tiny-test"


def ctx(task: int = 0, sample: int = 0) -> EpisodeContext:
    return EpisodeContext(env_id="maze", task_id=task, spec=SPEC, sample=sample)


def msgs(i: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Observation: you are at ({i}, {2 * i}). Where next? " * (1 + i % 2)}
    ]


pytestmark = pytest.mark.usefixtures("one_thread")  # model_path: the tiny model in conftest.py


@pytest.fixture(scope="module")
def server(model_path: Path):
    generator = HFGenerator(model_path, max_batch=8, batch_window=0.1)
    with tinymodel.serve(create_app(generator, model_name=NAME, default_max_tokens=16)) as url:
        yield url, generator


def agent_for(url: str, **kw) -> OpenAIAgent:
    kw.setdefault("max_tokens", 8)
    return OpenAIAgent(url + "/v1", NAME, backoff=0.01, **kw)


async def test_replies_match_the_model(server) -> None:
    url, generator = server
    agent = agent_for(url)
    r = await agent.reply(msgs(1), ctx())
    # the same request generated directly (the server is idle, so calling the model here is safe)
    ids = generator.encode(msgs(1))
    expected = generator.generate_batch([_Request(ids, SamplingParams(max_new_tokens=8), 0)])[0]
    assert r.text == expected.text
    assert (r.prompt_tokens, r.completion_tokens) == (len(ids), 8)
    assert agent.usage["prompt_tokens"] == len(ids)
    await agent.aclose()


async def test_concurrent_requests_are_batched(server) -> None:
    url, generator = server
    agent = agent_for(url, concurrency=8)
    before, requests = generator.batcher.batches, generator.stats["requests"]
    started, release = threading.Event(), threading.Event()

    def hold_first_forward(module, args) -> None:  # runs in the batcher's worker thread
        if not started.is_set():
            started.set()
            release.wait(120)

    # the first batch waits in its first forward pass until all 8 requests reached the generator,
    # however slowly they arrive: the rest must then run together as the next batch
    hook = generator.model.register_forward_pre_hook(hold_first_forward)
    replies = asyncio.gather(*(agent.reply(msgs(i), ctx(i)) for i in range(8)))
    try:
        deadline = time.monotonic() + 120
        while not (started.is_set() and generator.stats["requests"] - requests == 8):
            assert time.monotonic() < deadline, "the 8 requests did not reach the generator"
            await asyncio.sleep(0.01)
    finally:
        release.set()
        hook.remove()
    together = await replies
    used = generator.batcher.batches - before
    assert used <= 2 and sum(generator.batcher.batch_sizes[-used:]) == 8  # 8 requests, <= 2 batches
    alone = [await agent.reply(msgs(i), ctx(i)) for i in range(8)]
    assert [r.text for r in together] == [r.text for r in alone]
    await agent.aclose()


async def test_seeded_sampling_over_http(server) -> None:
    url, _ = server
    agent = agent_for(url, temperature=1.0, seed=11, max_tokens=10)
    a = await agent.reply(msgs(0), ctx(0, sample=0))
    b = await agent.reply(msgs(0), ctx(0, sample=0))
    c = await agent.reply(msgs(0), ctx(0, sample=1))
    assert a.text == b.text
    assert c.text != a.text
    await agent.aclose()


async def test_too_long_prompt_raises_context_overflow(server) -> None:
    url, _ = server
    agent = agent_for(url)
    long = [{"role": "user", "content": "move up and then move left " * 60}]
    with pytest.raises(ContextOverflow, match="maximum context length is 256"):
        await agent.reply(long, ctx())
    await agent.aclose()


async def test_client_errors_raise_agent_error(server) -> None:
    url, _ = server
    wrong_model = OpenAIAgent(url + "/v1", "no-such-model", max_tokens=4)
    with pytest.raises(AgentError, match="HTTP 404.*no-such-model"):
        await wrong_model.reply(msgs(0), ctx())
    await wrong_model.aclose()
    bad_params = agent_for(url, extra_body={"presence_penalty": 1.0})
    with pytest.raises(AgentError, match="HTTP 400.*presence_penalty is not supported"):
        await bad_params.reply(msgs(0), ctx())
    await bad_params.aclose()


def test_openai_shapes(server) -> None:
    url, generator = server
    with httpx.Client(base_url=url, timeout=60) as http:
        models = http.get("/v1/models").json()
        assert models["object"] == "list" and models["data"][0]["id"] == NAME
        assert models["data"][0]["max_model_len"] == 256
        body = {"model": NAME, "messages": msgs(0), "temperature": 0, "max_tokens": 5, "stop": "\u2603"}
        r = http.post("/v1/chat/completions", json=body).json()
        assert r["object"] == "chat.completion" and r["model"] == NAME
        assert r["choices"][0]["message"]["role"] == "assistant"
        assert r["choices"][0]["finish_reason"] == "length"
        u = r["usage"]
        assert u["completion_tokens"] == 5 and u["total_tokens"] == u["prompt_tokens"] + 5
        # no max_tokens: the server's default (16 here)
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "temperature": 0}
        r = http.post("/v1/chat/completions", json=body).json()
        assert r["usage"]["completion_tokens"] == 16
        # errors in OpenAI's shape
        for bad, param in [
            ({"messages": msgs(0), "temperature": 5}, "temperature"),
            ({"messages": []}, "messages"),
        ]:
            resp = http.post("/v1/chat/completions", json=bad)
            assert resp.status_code == 400
            err = resp.json()["error"]
            assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]
        long = {"messages": [{"role": "user", "content": "left " * 300}]}
        resp = http.post("/v1/chat/completions", json=long)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "context_length_exceeded"
        resp = http.post("/v1/chat/completions", json={"messages": msgs(0), "n": 0})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "n"
        assert http.get("/v1/nothing").json()["error"]["type"] == "not_found_error"
        assert http.get("/health").json()["status"] == "ok"


def test_api_key(model_path: Path, server) -> None:
    _, generator = server
    app = create_app(generator, model_name=NAME, api_key="sk-local", close_generator=False)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        resp = http.get("/v1/models")
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
        ok = http.get("/v1/models", headers={"Authorization": "Bearer sk-local"})
        assert ok.status_code == 200
        assert http.get("/health").status_code == 200  # health stays open for probes

        async def ask(key: str | None) -> AgentReply:
            agent = OpenAIAgent(url + "/v1", NAME, api_key=key, api_key_env="NO_SUCH_VAR", max_tokens=3)
            try:
                return await agent.reply(msgs(0), ctx())
            finally:
                await agent.aclose()

        r = asyncio.run(ask("sk-local"))
        # with the key: the model's own answer (generated directly; the server is idle now)
        ids = generator.encode(msgs(0))
        want = generator.generate_batch([_Request(ids, SamplingParams(max_new_tokens=3), 0)])[0]
        assert (r.text, r.prompt_tokens, r.completion_tokens) == (want.text, len(ids), want.completion_tokens)
        with pytest.raises(AgentError, match="HTTP 401"):
            asyncio.run(ask(None))


@pytest.mark.slow  # ~7-12 s (the real serve-model process): out of `make test-fast`
def test_serve_model_command(model_path: Path) -> None:
    """The real `agentgym serve-model` process, answered over HTTP, then stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "agentgym"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(exe), "serve-model", str(model_path), "--port", str(port), "--model-name", "cli-tiny"]
    cmd += ["--max-body-mb", "0.5", "--max-prompt-tokens", "100", "--log-level", "info"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "exited"
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve-model did not come up"
                time.sleep(0.5)
        assert models["data"][0]["id"] == "cli-tiny"
        body = {"model": "cli-tiny", "messages": msgs(0), "max_tokens": 4, "temperature": 0}
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60).json()
        assert r["usage"]["completion_tokens"] == 4
        # the limits given as flags
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert (health["max_body_bytes"], health["max_prompt_tokens"]) == (1 << 19, 100)
        big = {**body, "messages": [{"role": "user", "content": "x" * (1 << 20)}]}
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=big, timeout=60)
        assert resp.status_code == 413
        long = {**body, "messages": [{"role": "user", "content": "move up and then move left " * 12}]}
        resp = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=long, timeout=60)
        assert resp.status_code == 400 and "limit is 100 prompt tokens" in resp.json()["error"]["message"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = proc.stdout.read() if proc.stdout else ""
    # --log-level info: one line per request (uvicorn's own access log is off)
    assert "POST /v1/chat/completions 200 in=" in output and "POST /v1/chat/completions 413" in output


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory):
    """A model with a long context, so one request generates for seconds: long enough that the
    client's hang-up is seen mid-generation however fast the machine is."""
    path = tinymodel.build(tmp_path_factory.mktemp("tiny-long"), max_positions=4096)
    generator = HFGenerator(path, max_batch=8, batch_window=0.05)
    app = create_app(
        generator, model_name=NAME, default_max_tokens=16, disconnect_poll_s=0.05, retry_grace_s=0.05
    )
    with tinymodel.serve(app) as url:
        yield url, generator


def test_server_stops_work_for_clients_that_hang_up(long_server) -> None:
    """A client that hangs up and does not retry within the grace period (0.05 s here; 60 s by
    default, for the retry to pick the work up) leaves no work running."""
    url, generator = long_server
    before, before_tokens = generator.stats["cancelled"], generator.stats["generated_tokens"]
    n = 4096 - len(generator.encode(msgs(3)))  # as many new tokens as the context allows
    body = {"messages": msgs(3), "max_tokens": n, "temperature": 0}
    with pytest.raises(httpx.TimeoutException):
        httpx.post(url + "/v1/chat/completions", json=body, timeout=0.2)
    deadline = time.monotonic() + 120
    while generator.stats["cancelled"] == before:
        assert time.monotonic() < deadline, "the server kept generating for a client that left"
        time.sleep(0.05)
    # and it still serves
    r = httpx.post(url + "/v1/chat/completions", json={**body, "max_tokens": 3}, timeout=60).json()
    assert r["usage"]["completion_tokens"] == 3
    assert generator.stats["generated_tokens"] - before_tokens < n + 3  # the abandoned row stopped early
