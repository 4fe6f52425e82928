"""``agentgym serve-model`` against hostile or broken clients (regressions of an adversarial review).

The review found: no body-size limit and tokenisation on the event loop (an 8 MB prompt froze the
server for 18.7 s at 1.35 GB RSS), and one request with ``seed: 2**64`` failing its whole batch
with a 500. Each test drives a real uvicorn server on 127.0.0.1 around a real tiny `HFGenerator`
over HTTP (as tests/test_model_server.py does), and checks the server keeps serving afterwards.
No timing assertions: ordering is shown with events, work with counters.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tinymodel
from agentgym.agents.hf import HFGenerator, SamplingParams, _Request
from agentgym.agents.model_server import DEFAULT_MAX_BODY_BYTES, create_app

NAME = "tiny-hardening"
CHAT = "/v1/chat/completions"
HANG_GUARD_S = 120.0
"""Only so a broken server fails the test instead of hanging it; never a performance bound."""


def hello(i: int = 0) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Observation: you are at ({i}, {i + 1}). Where next?"}]


def good(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"model": NAME, "messages": hello(i), "max_tokens": 3, "temperature": 0, **extra}


pytestmark = pytest.mark.usefixtures("one_thread")  # model_path: the tiny model in conftest.py


@pytest.fixture(scope="module")
def server(model_path: Path):
    """The app with its default limits (4 MB bodies, prompts up to the 256-token context)."""
    generator = HFGenerator(model_path, max_batch=8, batch_window=0.1)
    with tinymodel.serve(create_app(generator, model_name=NAME, default_max_tokens=8)) as url:
        yield url, generator


def assert_serving(http: httpx.Client) -> None:
    """Health answers and a normal request still gets a normal reply."""
    assert http.get("/health").json()["status"] == "ok"
    r = http.post(CHAT, json=good())
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] == 3


def assert_openai_error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    return err


def test_oversized_body_is_413_before_it_is_parsed(server) -> None:
    url, generator = server
    prompt = "move left " * (840 << 10)  # 8 MB of text, valid JSON around it
    body = json.dumps({"model": NAME, "messages": [{"role": "user", "content": prompt}]}).encode()
    assert len(body) > 8 << 20 > DEFAULT_MAX_BODY_BYTES
    before = generator.stats["requests"]
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        resp = http.post(CHAT, content=body, headers={"content-type": "application/json"})
        err = assert_openai_error(resp, 413)
        assert err["code"] == "request_too_large" and str(DEFAULT_MAX_BODY_BYTES) in err["message"]
        assert http.get("/health").status_code == 200  # right after, on the same client

        # no Content-Length (chunked): counted as it arrives, refused once past the limit
        def chunks():
            for i in range(0, len(body), 1 << 16):
                yield body[i : i + (1 << 16)]

        resp = http.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
        assert assert_openai_error(resp, 413)["code"] == "request_too_large"
        # a chunked body under the limit goes through whole
        small = json.dumps(good()).encode()
        resp = http.post(
            CHAT, content=iter([small[:10], small[10:]]), headers={"content-type": "application/json"}
        )
        assert resp.status_code == 200, resp.text
        assert_serving(http)
    assert generator.stats["requests"] == before + 2  # only the two small requests reached the model


def test_prompt_over_the_token_limit_is_400_before_generation(model_path: Path, server) -> None:
    url, generator = server
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        assert http.get("/health").json()["max_prompt_tokens"] == 256  # default: the context length
    app = create_app(generator, model_name=NAME, max_prompt_tokens=64, close_generator=False)
    long = [{"role": "user", "content": "move up and then move left " * 12}]
    n = len(generator.encode(long))
    assert 64 < n < 256  # over this server's limit, within the model's context
    before = generator.stats["requests"]
    with tinymodel.serve(app) as url64, httpx.Client(base_url=url64, timeout=HANG_GUARD_S) as http:
        err = assert_openai_error(http.post(CHAT, json={"messages": long, "max_tokens": 1}), 400)
        assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
        assert f"{n} tokens" in err["message"] and "limit is 64 prompt tokens" in err["message"]
        # far too long to fit whatever the tokenisation: refused by its length, untokenised
        huge = [{"role": "user", "content": "left " * 20_000}]
        err = assert_openai_error(http.post(CHAT, json={"messages": huge}), 400)
        assert err["code"] == "context_length_exceeded" and "100000 characters" in err["message"]
        assert_serving(http)
    assert generator.stats["requests"] == before + 1  # only assert_serving's request was generated


def test_bad_seed_fails_alone_among_concurrent_requests(server) -> None:
    url, _ = server

    async def four() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=HANG_GUARD_S) as http:
            bodies = [good(0, seed=1), good(1, seed=2**64, temperature=1), good(2, seed=3), good(3)]
            return await asyncio.gather(*(http.post(CHAT, json=b) for b in bodies))

    responses = asyncio.run(four())
    assert [r.status_code for r in responses] == [200, 400, 200, 200]
    err = responses[1].json()["error"]
    assert err["param"] == "seed" and err["type"] == "invalid_request_error"
    for r in responses[::2] + responses[3:]:
        assert r.json()["usage"]["completion_tokens"] == 3
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        assert http.post(CHAT, json=good(seed=2**64 - 1, temperature=1)).status_code == 200  # torch's max
        assert_serving(http)


def test_a_request_that_breaks_generate_fails_alone(model_path: Path) -> None:
    """Defence in depth behind validation: a member that makes ``generate`` raise (here a seed
    torch cannot take, slipped past `SamplingParams`) gets the error; its batch-mates get the
    replies they would get alone."""
    generator = HFGenerator(model_path, max_batch=4, batch_window=5.0)  # the 4 fill one batch
    ids = [generator.encode(hello(i)) for i in range(3)]
    alone = [generator.generate_batch([_Request(x, SamplingParams(max_new_tokens=4), 0)])[0] for x in ids]

    async def batch() -> list[Any]:
        bad = _Request(ids[0], SamplingParams(temperature=1.0, max_new_tokens=4), seed=2**64)
        goods = [generator.complete_ids(x, SamplingParams(max_new_tokens=4, seed=7)) for x in ids]
        try:
            return await asyncio.gather(generator.batcher.submit(bad), *goods, return_exceptions=True)
        finally:
            await generator.aclose()

    out = asyncio.run(batch())
    assert generator.batcher.batch_sizes == [4] and generator.batcher.isolated == 1
    assert isinstance(out[0], (ValueError, RuntimeError, OverflowError)), out[0]
    assert [c.text for c in out[1:]] == [c.text for c in alone]
    with pytest.raises(ValueError, match="seed"):
        SamplingParams(seed=2**64)


def test_batcher_isolates_failures_only_when_asked() -> None:
    """`Batcher` on its own: with ``isolate_failures`` a batch that raises is re-run one request
    at a time; without it (the default) every request of the batch gets the error."""
    from agentgym.agents.batching import Batcher

    def run(batch: list[str]) -> list[str]:
        if "boom" in batch:
            raise RuntimeError("batch failed")
        return [x.upper() for x in batch]

    async def go(isolate: bool) -> tuple[list[Any], Batcher[str, str]]:
        batcher: Batcher[str, str] = Batcher(run, max_batch=3, window=5.0, isolate_failures=isolate)
        try:
            out = await asyncio.gather(
                *(batcher.submit(w) for w in ("a", "boom", "c")), return_exceptions=True
            )
            batcher.window = 0  # the next request alone: no need to wait for company
            return [*out, await batcher.submit("d")], batcher
        finally:
            await batcher.aclose()

    out, batcher = asyncio.run(go(True))
    assert out[0] == "A" and isinstance(out[1], RuntimeError) and out[2:] == ["C", "D"]
    assert batcher.batch_sizes == [3, 1] and batcher.isolated == 1
    out, batcher = asyncio.run(go(False))
    assert all(isinstance(o, RuntimeError) for o in out[:3]) and out[3] == "D" and batcher.isolated == 0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "top_p": Infinity}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "seed": -Infinity}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}], "unknown_field": NaN}', 400),
        (b'{"messages": [{"role": "user", "content": "hi"}', 400),  # truncated
        (b"not json at all", 400),
        (b"", 400),
        (b"[1, 2]", 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),  # deeper than the parser's recursion limit
        (b'{"messages": [{"role": "user", "content": "hi"}], "seed": 1' + b"0" * 5000 + b"}", 400),
    ],
    ids=["nan", "inf", "neg-inf", "nan-extra", "truncated", "text", "empty", "array", "deep", "huge-int"],
)
def test_non_json_and_nan_are_400(server, raw: bytes, status: int) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        resp = http.post(CHAT, content=raw, headers={"content-type": "application/json"})
        assert_openai_error(resp, status)
        assert_serving(http)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": -3}, "max_completion_tokens"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": "abc"}, "seed"),
        ({"n": 17}, "n"),
        ({"stop": ["x"] * 17}, "stop"),
        ({"stop": "x" * 600}, "stop"),
        ({"stop": 5}, "stop"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ],
)
def test_each_field_is_validated_on_arrival(server, extra: dict[str, Any], param: str) -> None:
    url, generator = server
    before = generator.stats["requests"]
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        err = assert_openai_error(http.post(CHAT, json={**good(), **extra}), 400)
        assert err["type"] == "invalid_request_error" and err["param"].startswith(param), err
        assert generator.stats["requests"] == before  # refused before it reached a batch
        assert_serving(http)


def test_max_tokens_beyond_the_context_is_400(server) -> None:
    url, _ = server
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        err = assert_openai_error(http.post(CHAT, json=good(max_tokens=10**30)), 400)
        assert err["code"] == "context_length_exceeded"
        # an empty stop string would match at once: it is ignored, not a 0-token reply
        r = http.post(CHAT, json=good(stop=["", "\u2603"]))
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3


class GatedEncode(HFGenerator):
    """A real generator whose tokenisation waits for the test's go: it stands for a prompt that
    takes long to tokenise, for as long as the test needs, without a clock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered, self.release = threading.Event(), threading.Event()
        self.threads: list[str] = []

    def encode(self, messages: list[dict[str, Any]]) -> list[int]:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(HANG_GUARD_S), "the test never released the tokenizer"
        return super().encode(messages)


def test_health_answers_while_a_prompt_is_tokenised(model_path: Path) -> None:
    generator = GatedEncode(model_path, max_batch=4, batch_window=0.01)
    result: dict[str, httpx.Response] = {}

    def chat() -> None:
        result["chat"] = httpx.post(url + CHAT, json=good(), timeout=HANG_GUARD_S)

    with tinymodel.serve(create_app(generator, model_name=NAME)) as url:
        worker = threading.Thread(target=chat)
        worker.start()
        try:
            assert generator.entered.wait(HANG_GUARD_S)
            # the chat request is inside the tokenizer: the event loop must still answer
            health = httpx.get(url + "/health", timeout=HANG_GUARD_S / 4)
            assert health.status_code == 200
            models = httpx.get(url + "/v1/models", timeout=HANG_GUARD_S / 4)
            assert models.json()["data"][0]["id"] == NAME
        finally:
            generator.release.set()
            worker.join(HANG_GUARD_S)
        assert result["chat"].status_code == 200
        assert generator.threads and all(t.startswith("tokenize") for t in generator.threads)


def test_one_log_line_per_request(server, caplog: pytest.LogCaptureFixture) -> None:
    url, _ = server
    caplog.set_level(logging.INFO, logger="agentgym.model_server")
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as http:
        r = http.post(CHAT, json=good()).json()
        http.post(CHAT, content=b"{", headers={"content-type": "application/json"})
    prompt = r["usage"]["prompt_tokens"]
    wanted = [f"POST {CHAT} 200 in={prompt} out=3 ", f"POST {CHAT} 400 in=- out=- "]
    deadline = time.monotonic() + HANG_GUARD_S  # the line is written just after the response
    while not all(any(w in m for m in caplog.messages) for w in wanted):
        assert time.monotonic() < deadline, caplog.messages
        time.sleep(0.05)
    line = next(m for m in caplog.messages if wanted[0] in m)
    assert line.endswith("s") and float(line.rsplit(" ", 1)[1][:-1]) >= 0
