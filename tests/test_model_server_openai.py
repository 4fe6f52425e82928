"""``agentgym serve-model``'s OpenAI compatibility and its behaviour on slow hardware, over HTTP.

A real uvicorn server on 127.0.0.1 around a real `HFGenerator` (a tiny random model), talked to
in OpenAI's wire format. The ``openai`` SDK is not installed in this environment, so requests
are made with httpx exactly as the SDK sends them (JSON bodies, ``Idempotency-Key`` on retries,
server-sent events read line by line), and `OpenAIAgent` is the client that backs off and retries.

Where a test needs the server busy (a full queue, a client that times out mid-generation), it
occupies the generator's single worker thread with a task that waits for the test's go: work then
queues exactly as it does behind a long batch, for as long as the test needs, without a clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tinymodel
from agentgym.agents.base import EpisodeContext
from agentgym.agents.hf import HFGenerator
from agentgym.agents.model_server import create_app
from agentgym.agents.openai_compat import OpenAIAgent
from agentgym.agents.serving import Admission, AtCapacity, retry_after_header
from agentgym.core.types import EnvSpec

NAME = "tiny-openai"
CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
HANG_GUARD_S = 120.0
"""Only a guard against a hang; no test waits for a duration."""
SPEC = EnvSpec(
    id="maze", version="1", max_rounds=15, metric="success", action_format="react_first", splits={}
)


def msgs(i: int = 0) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Observation: you are at ({i}, {2 * i}). Where next?"}]


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": NAME, "messages": msgs(), "max_tokens": 8, "temperature": 0, **extra}


pytestmark = pytest.mark.usefixtures("one_thread")  # model_path: the tiny model in conftest.py


@pytest.fixture(scope="module")
def generator(model_path: Path) -> HFGenerator:
    return HFGenerator(model_path, max_batch=8, batch_window=0.05)


@pytest.fixture(scope="module")
def server(generator: HFGenerator):
    app = create_app(generator, model_name=NAME, default_max_tokens=16, close_generator=False)
    with tinymodel.serve(app) as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=HANG_GUARD_S) as client:
        yield client


@contextmanager
def busy_worker(generator: HFGenerator) -> Iterator[threading.Event]:
    """Occupy the generator's worker thread until the yielded event is set (or the block ends):
    batches wait behind it as behind a long batch of other requests."""
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(HANG_GUARD_S)

    held: Future[None] = generator.batcher._executor.submit(hold)
    assert started.wait(HANG_GUARD_S)
    try:
        yield release
    finally:
        release.set()
        held.result(HANG_GUARD_S)


def wait_until(what: str, check: Any) -> None:
    """Poll ``check()`` until true (an event seen through /health); fail only after the hang guard."""
    done = threading.Event()
    for _ in range(int(HANG_GUARD_S / 0.02)):
        if check():
            return
        done.wait(0.02)
    raise AssertionError(f"never happened: {what}")


def events(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a server-sent event stream, JSON-decoded (``[DONE]`` as a string)."""
    out = []
    for line in response.iter_lines():
        if not line:
            continue
        assert line.startswith("data: "), line
        data = line[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


# ---------------------------------------------------------------------------------- streaming
def test_chat_stream_matches_the_plain_reply(http: httpx.Client) -> None:
    plain = http.post(CHAT, json=chat_body(max_tokens=12)).json()
    body = chat_body(max_tokens=12, stream=True, stream_options={"include_usage": True})
    with http.stream("POST", CHAT, json=body) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        chunks = events(resp)
    assert chunks[-1] == "[DONE]"
    chunks = chunks[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == NAME for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == plain["choices"][0]["finish_reason"] == "length"
    assert all(f is None for f in finishes[:-1])
    # the last chunk before [DONE] carries the usage, with no choices
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_usage_and_with_n(http: httpx.Client) -> None:
    body = chat_body(stream=True, n=2, temperature=1.0, seed=3)
    with http.stream("POST", CHAT, json=body) as resp:
        chunks = events(resp)[:-1]
    assert all("usage" not in c for c in chunks)
    texts = {0: "", 1: ""}
    for c in chunks:
        for choice in c["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
    plain = http.post(CHAT, json=chat_body(n=2, temperature=1.0, seed=3)).json()
    assert [texts[0], texts[1]] == [c["message"]["content"] for c in plain["choices"]]


# --------------------------------------------------------------------------------------- n > 1
def test_n_choices_are_seeded_samples(http: httpx.Client, generator: HFGenerator) -> None:
    one = http.post(CHAT, json=chat_body(temperature=1.0, seed=7)).json()
    three = http.post(CHAT, json=chat_body(temperature=1.0, seed=7, n=3)).json()
    texts = [c["message"]["content"] for c in three["choices"]]
    assert [c["index"] for c in three["choices"]] == [0, 1, 2]
    assert texts[0] == one["choices"][0]["message"]["content"]  # choice 0 uses the request's seed
    assert len(set(texts)) == 3  # independent samples
    u = three["usage"]
    assert u["completion_tokens"] == 3 * 8 and u["prompt_tokens"] == one["usage"]["prompt_tokens"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    # greedy choices would be identical: generated once
    before = generator.stats["requests"]
    greedy = http.post(CHAT, json=chat_body(n=4, max_tokens=5)).json()
    assert len({c["message"]["content"] for c in greedy["choices"]}) == 1 and len(greedy["choices"]) == 4
    assert generator.stats["requests"] == before + 1
    assert greedy["usage"]["completion_tokens"] == 4 * 5


# ------------------------------------------------------------------------------------ logprobs
def test_chat_logprobs_are_the_models(http: httpx.Client, generator: HFGenerator) -> None:
    import torch

    r = http.post(CHAT, json=chat_body(max_tokens=6, logprobs=True, top_logprobs=3)).json()
    choice = r["choices"][0]
    content = choice["logprobs"]["content"]
    assert len(content) == r["usage"]["completion_tokens"] == 6
    for entry in content:
        tops = entry["top_logprobs"]
        assert len(tops) == 3 and [t["logprob"] for t in tops] == sorted(
            (t["logprob"] for t in tops), reverse=True
        )
        assert entry["logprob"] <= 0 and all(isinstance(b, int) for b in entry["bytes"])
        assert tops[0]["logprob"] == pytest.approx(entry["logprob"])  # greedy: the top token was chosen
    raw = b"".join(bytes(e["bytes"]) for e in content)
    assert raw.decode("utf-8", "replace") == choice["message"]["content"]
    # the first token's log-probability is the model's own, computed here directly
    ids = generator.encode(msgs())
    with torch.inference_mode():
        logits = generator.model(torch.tensor([ids])).logits[0, -1]
    expected = torch.log_softmax(logits.float(), -1).max().item()
    assert content[0]["logprob"] == pytest.approx(expected, abs=1e-4)
    # without logprobs: null, and logprobs without top_logprobs: no alternatives
    assert http.post(CHAT, json=chat_body()).json()["choices"][0]["logprobs"] is None
    bare = http.post(CHAT, json=chat_body(logprobs=True)).json()["choices"][0]["logprobs"]["content"]
    assert all(e["top_logprobs"] == [] for e in bare)


def test_streamed_logprobs_add_up(http: httpx.Client) -> None:
    plain = http.post(CHAT, json=chat_body(logprobs=True, top_logprobs=2)).json()
    with http.stream("POST", CHAT, json=chat_body(logprobs=True, top_logprobs=2, stream=True)) as resp:
        chunks = events(resp)[:-1]
    streamed = [e for c in chunks for ch in c["choices"] if ch["logprobs"] for e in ch["logprobs"]["content"]]
    assert streamed == plain["choices"][0]["logprobs"]["content"]


# --------------------------------------------------------------------------------- completions
def test_text_completions(http: httpx.Client, generator: HFGenerator) -> None:
    r = http.post(COMPLETIONS, json={"model": NAME, "prompt": "Thought: I", "temperature": 0}).json()
    assert r["object"] == "text_completion" and r["model"] == NAME
    assert r["usage"]["completion_tokens"] == 16  # OpenAI's default max_tokens for completions
    assert r["usage"]["prompt_tokens"] == len(generator.encode_text("Thought: I"))
    text = r["choices"][0]["text"]
    # the same prompt as token ids, echoed
    ids = generator.encode_text("Thought: I")
    body = {"prompt": ids, "temperature": 0, "max_tokens": 16, "echo": True}
    echoed = http.post(COMPLETIONS, json=body).json()["choices"][0]["text"]
    assert echoed == generator.tokenizer.decode(ids) + text
    # a list of prompts x n: index = prompt * n + choice
    body = {"prompt": ["Thought: I", "Action: move"], "n": 2, "max_tokens": 16, "temperature": 0}
    many = http.post(COMPLETIONS, json=body).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2, 3]
    assert many["choices"][0]["text"] == many["choices"][1]["text"] == text
    assert many["choices"][2]["text"] == many["choices"][3]["text"] != text
    assert many["usage"]["completion_tokens"] == 4 * 16
    long = http.post(COMPLETIONS, json={"prompt": "move left " * 300, "max_tokens": 2})
    assert long.status_code == 400
    assert (long.json()["error"]["code"], long.json()["error"]["param"]) == (
        "context_length_exceeded",
        "prompt",
    )


def test_completion_logprobs_and_stream(http: httpx.Client) -> None:
    body = {"prompt": "Action: move", "max_tokens": 5, "temperature": 0, "logprobs": 2}
    r = http.post(COMPLETIONS, json=body).json()
    lp = r["choices"][0]["logprobs"]
    assert set(lp) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 5
    assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0
    for token, value, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], strict=True):
        assert top[token] == pytest.approx(value) and 2 <= len(top) <= 3
    with http.stream("POST", COMPLETIONS, json={**body, "stream": True}) as resp:
        chunks = events(resp)
    assert chunks[-1] == "[DONE]"
    texts = [ch["text"] for c in chunks[:-1] for ch in c["choices"]]
    assert "".join(texts) == r["choices"][0]["text"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    streamed = [
        t for c in chunks[:-1] for ch in c["choices"] if ch["logprobs"] for t in ch["logprobs"]["tokens"]
    ]
    assert streamed == lp["tokens"]


# --------------------------------------------------------------------------------------- stop
def ascii_stop(text: str) -> str:
    """Two consecutive ASCII letters/digits of ``text`` after its start (a stop string the reply
    surely contains, and whose bytes cannot be half of a character)."""
    for i in range(1, len(text) - 1):
        if text[i : i + 2].isascii() and text[i : i + 2].isalnum():
            return text[i : i + 2]
    pytest.skip(f"no two ASCII alphanumerics in {text!r}")


@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings_end_the_reply_before_them(http: httpx.Client, stream: bool) -> None:
    full = http.post(CHAT, json=chat_body(max_tokens=24)).json()["choices"][0]["message"]["content"]
    stop = ascii_stop(full)
    body = chat_body(max_tokens=24, stop=["\u2603", stop])
    if stream:
        with http.stream("POST", CHAT, json={**body, "stream": True}) as resp:
            chunks = events(resp)[:-1]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        r = http.post(CHAT, json=body).json()
        text, finish = r["choices"][0]["message"]["content"], r["choices"][0]["finish_reason"]
        assert r["usage"]["completion_tokens"] < 24  # generation stopped there, not just the text
    assert text == full[: full.index(stop)] and finish == "stop"


# --------------------------------------------------------------------------------- refused
@pytest.mark.parametrize(
    ("path", "extra", "param"),
    [
        (CHAT, {"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        (CHAT, {"tool_choice": "auto"}, "tool_choice"),
        (CHAT, {"response_format": {"type": "json_object"}}, "response_format"),
        (CHAT, {"presence_penalty": 0.5}, "presence_penalty"),
        (CHAT, {"frequency_penalty": 1}, "frequency_penalty"),
        (CHAT, {"logit_bias": {"5": 10}}, "logit_bias"),
        (CHAT, {"top_logprobs": 2}, "top_logprobs"),
        (CHAT, {"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        (CHAT, {"n": 17}, "n"),
        (COMPLETIONS, {"suffix": "end"}, "suffix"),
        (COMPLETIONS, {"best_of": 3}, "best_of"),
        (COMPLETIONS, {"echo": True, "logprobs": 1}, "echo"),
        (COMPLETIONS, {"prompt": []}, "prompt"),
        (COMPLETIONS, {"prompt": [10**9]}, "prompt"),
    ],
)
def test_what_is_not_supported_is_a_clear_400(
    http: httpx.Client, generator: HFGenerator, path: str, extra: dict[str, Any], param: str
) -> None:
    base = chat_body() if path == CHAT else {"model": NAME, "prompt": "hi", "max_tokens": 2}
    before = generator.stats["requests"]
    resp = http.post(path, json={**base, **extra})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["param"].startswith(param) and err["type"] == "invalid_request_error" and err["message"]
    assert generator.stats["requests"] == before


# ------------------------------------------------------------------------ capacity (503)
def test_full_queue_is_503_with_retry_after_and_the_agent_waits_it_out(generator: HFGenerator) -> None:
    app = create_app(generator, model_name=NAME, close_generator=False, max_queue=1, disconnect_poll_s=0.05)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        health = lambda: http.get("/health").json()  # noqa: E731
        results: dict[str, Any] = {}

        def post(name: str, body: dict[str, Any]) -> None:
            results[name] = httpx.post(url + CHAT, json=body, timeout=HANG_GUARD_S)

        async def agent_reply() -> Any:
            agent = OpenAIAgent(url + "/v1", NAME, max_tokens=4, max_retries=0, backoff=0.01)
            try:
                return await agent.reply(msgs(5), EpisodeContext("maze", 0, SPEC)), agent.usage
            finally:
                await agent.aclose()

        with busy_worker(generator) as release:
            a = threading.Thread(target=post, args=("a", chat_body(messages=msgs(1))))
            a.start()
            wait_until("a in a batch", lambda: health()["admission"]["running"] == 1)
            b = threading.Thread(target=post, args=("b", chat_body(messages=msgs(2))))
            b.start()
            wait_until("b waiting", lambda: health()["admission"]["queued"] == 1)
            # the queue is full: a third request is told to come back later
            full = http.post(CHAT, json=chat_body(messages=msgs(3)))
            assert full.status_code == 503, full.text
            assert full.headers["retry-after"].isdigit() and int(full.headers["retry-after"]) >= 1
            assert full.json()["error"]["code"] == "server_at_capacity"
            assert "--max-queue 1" in full.json()["error"]["message"]
            # an agent with no retries at all still gets its reply: it waits as asked
            outcome: dict[str, Any] = {}
            t = threading.Thread(target=lambda: outcome.update(r=asyncio.run(agent_reply())))
            t.start()
            wait_until("the agent came back", lambda: health()["admission"]["rejected"] >= 3)
            release.set()
            for thread in (a, b, t):
                thread.join(HANG_GUARD_S)
        assert results["a"].status_code == results["b"].status_code == 200
        reply, usage = outcome["r"]
        assert isinstance(reply.text, str) and reply.completion_tokens > 0
        assert usage["capacity_waits"] >= 2 and usage["retries"] == 0


@dataclass
class Batches:
    """What `Admission` reads of a batcher, set by hand: the estimate is plain arithmetic."""

    max_batch: int = 2
    running: int = 0
    running_since: float | None = None
    batch_seconds: float | None = None


def test_admission_estimates_the_wait_from_the_batches_so_far() -> None:
    batches, rows = Batches(), {"n": 0}
    admission = Admission(batches, lambda: rows["n"], max_queue=4, max_wait=10.0)
    admission.check(100)  # idle: anything is admitted, however big
    rows["n"], batches.running = 2, 2
    admission.check(1)  # no batch has finished yet: nothing to estimate from, only the queue counts
    batches.batch_seconds, batches.running_since = 8.0, time.monotonic()
    rows["n"] = 3  # one row waits behind the running batch (~8 s left): a new one would wait ~8 s
    admission.check(1)
    rows["n"] = 4  # two rows wait: a new one goes in the batch after theirs, ~16 s away
    with pytest.raises(AtCapacity, match="--max-wait 10") as exc:
        admission.check(1)
    assert 5.5 <= exc.value.retry_after <= 6  # when the estimate drops to 10 s
    rows["n"] = 6  # four wait: the queue is full
    with pytest.raises(AtCapacity, match="--max-queue 4") as exc:
        admission.check(1)
    assert 7.5 <= exc.value.retry_after <= 8  # when the running batch should end
    assert admission.rejected == 2
    assert retry_after_header(0.2) == "1" and retry_after_header(6.1) == "7"


# ---------------------------------------------------------------- retries resume, not redo
def test_a_retry_after_a_client_timeout_picks_up_the_same_generation(generator: HFGenerator) -> None:
    app = create_app(generator, model_name=NAME, close_generator=False, disconnect_poll_s=0.05)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        health = lambda: http.get("/health").json()  # noqa: E731
        body = chat_body(messages=msgs(4), temperature=0.9)  # sampled, no seed: only the key identifies it
        key = {"Idempotency-Key": "stainless-python-retry-1"}
        before = generator.stats["requests"]
        with busy_worker(generator) as release:
            with pytest.raises(httpx.ReadTimeout):  # the worker is busy: no answer can come in time
                httpx.post(url + CHAT, json=body, headers=key, timeout=0.5)
            wait_until("the server saw the hang-up", lambda: health()["jobs"]["orphaned"] == 1)
            retry: dict[str, httpx.Response] = {}
            t = threading.Thread(
                target=lambda: retry.update(
                    r=httpx.post(url + CHAT, json=body, headers=key, timeout=HANG_GUARD_S)
                )
            )
            t.start()
            wait_until("the retry attached", lambda: health()["jobs"]["resumed"] == 1)
            release.set()
            t.join(HANG_GUARD_S)
        first = retry["r"]
        assert first.status_code == 200 and first.headers["x-agentgym-resumable"] == "1"
        assert generator.stats["requests"] == before + 1  # generated once for both attempts
        # a late retry gets the kept result; another key (or none, for a sampled request) is new work
        again = http.post(CHAT, json=body, headers=key)
        assert again.json() == first.json() and generator.stats["requests"] == before + 1
        other = http.post(CHAT, json=body, headers={"Idempotency-Key": "another"})
        assert other.status_code == 200 and generator.stats["requests"] == before + 2
        http.post(CHAT, json=body)
        http.post(CHAT, json=body)
        assert generator.stats["requests"] == before + 4


def test_identical_deterministic_requests_share_one_generation(generator: HFGenerator) -> None:
    app = create_app(generator, model_name=NAME, close_generator=False, disconnect_poll_s=0.05)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        health = lambda: http.get("/health").json()  # noqa: E731
        before = generator.stats["requests"]
        out: list[httpx.Response] = []
        with busy_worker(generator) as release:
            threads = [
                threading.Thread(
                    target=lambda: out.append(
                        httpx.post(url + CHAT, json=chat_body(seed=9, temperature=1.0), timeout=HANG_GUARD_S)
                    )
                )
                for _ in range(2)
            ]
            for t in threads:
                t.start()
            wait_until("the second joined the first", lambda: health()["jobs"]["resumed"] == 1)
            release.set()
            for t in threads:
                t.join(HANG_GUARD_S)
        assert [r.status_code for r in out] == [200, 200] and out[0].json() == out[1].json()
        assert generator.stats["requests"] == before + 1


def test_openai_agent_resumes_after_its_timeout(generator: HFGenerator) -> None:
    app = create_app(generator, model_name=NAME, close_generator=False, disconnect_poll_s=0.05)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        health = lambda: http.get("/health").json()  # noqa: E731
        agent = OpenAIAgent(url + "/v1", NAME, max_tokens=4, timeout=0.5, max_retries=10_000, temperature=0.9)
        checked, go = threading.Event(), threading.Event()

        async def run() -> Any:
            try:
                await agent.preflight()  # learns from the response header that retries resume here
                checked.set()
                await asyncio.to_thread(go.wait, HANG_GUARD_S)
                start = generator.stats["requests"]
                return await agent.reply(msgs(6), EpisodeContext("maze", 0, SPEC)), start
            finally:
                await agent.aclose()

        outcome: dict[str, Any] = {}
        t = threading.Thread(target=lambda: outcome.update(r=asyncio.run(run())))
        t.start()
        assert checked.wait(HANG_GUARD_S) and agent.resumable
        with busy_worker(generator) as release:
            go.set()  # the reply cannot come within 0.5 s now: the agent times out and retries
            wait_until("a timed-out attempt was retried", lambda: health()["jobs"]["resumed"] >= 1)
            release.set()
            t.join(HANG_GUARD_S)
        reply, start = outcome["r"]
        assert reply.completion_tokens > 0 and agent.usage["timeouts"] >= 1
        assert generator.stats["requests"] == start + 1  # one generation for all its attempts


def test_work_nobody_comes_back_for_is_stopped(model_path: Path) -> None:
    generator = HFGenerator(model_path, max_batch=2, batch_window=0.0)
    app = create_app(generator, model_name=NAME, retry_grace_s=0.01, disconnect_poll_s=0.05)
    with tinymodel.serve(app) as url, httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        health = lambda: http.get("/health").json()  # noqa: E731
        with busy_worker(generator):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url + CHAT, json=chat_body(), headers={"Idempotency-Key": "gone"}, timeout=0.5)
            wait_until("the job was abandoned", lambda: health()["jobs"]["abandoned"] == 1)
        wait_until("its row was cancelled", lambda: generator.stats["cancelled"] == 1)
        assert http.post(CHAT, json=chat_body()).status_code == 200  # and it still serves


# ------------------------------------------------------------------ the official openai client
def test_the_official_openai_client_gets_the_same_answers(server: str, http: httpx.Client) -> None:
    """What the wire tests above check, through `openai` itself: chat, streaming with usage, n > 1,
    logprobs, text completions, stop, and the 400 it raises for an unsupported field."""
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="none", timeout=HANG_GUARD_S, max_retries=0)
    plain = http.post(CHAT, json=chat_body(max_tokens=12)).json()
    chat = client.chat.completions.create(model=NAME, messages=msgs(), max_tokens=12, temperature=0)
    assert chat.choices[0].message.content == plain["choices"][0]["message"]["content"]
    assert chat.usage is not None and chat.usage.total_tokens == plain["usage"]["total_tokens"]

    stream = client.chat.completions.create(
        model=NAME, messages=msgs(), max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == chat.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == chat.usage.completion_tokens

    many = client.chat.completions.create(
        model=NAME, messages=msgs(), max_tokens=6, temperature=1.0, seed=3, n=2, logprobs=True, top_logprobs=2
    )
    wire = http.post(
        CHAT, json=chat_body(max_tokens=6, temperature=1.0, seed=3, n=2, logprobs=True, top_logprobs=2)
    ).json()
    assert [c.message.content for c in many.choices] == [c["message"]["content"] for c in wire["choices"]]
    assert many.choices[0].logprobs is not None and all(
        len(t.top_logprobs) == 2 for t in many.choices[0].logprobs.content
    )

    done = client.completions.create(model=NAME, prompt="Thought: I", max_tokens=8, temperature=0)
    wire_text = http.post(COMPLETIONS, json={"prompt": "Thought: I", "max_tokens": 8, "temperature": 0})
    assert done.choices[0].text == wire_text.json()["choices"][0]["text"]

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=NAME, messages=msgs(), logit_bias={"1": 5})
    assert err.value.status_code == 400 and "logit_bias" in str(err.value)
