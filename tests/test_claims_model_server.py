"""README claim: `agentgym serve-model` is "an OpenAI-compatible server around the batched
transformers backend" - checked past the 8 concurrent requests of tests/test_model_server.py.

The real command runs in a subprocess on a tiny random model (tests/tinymodel.py) with
``--max-batch 8``; 24 chat requests with different prompts and lengths arrive at once, so they
cannot all fit one batch. Each must get its own answer: with greedy decoding, the same text and
token counts as the same request sent alone to the idle server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tinymodel

AGENTGYM = Path(sys.executable).with_name("agentgym")
HANG_GUARD_S = 300.0  # generous: only there so a broken build fails instead of hanging
NAME = "tiny-claims"
N = 24
MAX_BATCH = 8


def body(i: int) -> dict:
    """Request i: its own prompt (length varies, so rows are padded differently) and max_tokens."""
    text = f"Observation: you are at ({i}, {3 * i % 7}). The goal is at ({i % 5}, 2). Where next? "
    return {
        "model": NAME,
        "messages": [{"role": "user", "content": text * (1 + i % 3)}],
        "temperature": 0,
        "max_tokens": 4 + i % 5,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tinymodel.build(tmp_path_factory.mktemp("tiny"), max_positions=512)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("log") / "serve-model.log"
    cmd = [str(AGENTGYM), "serve-model", str(path), "--port", str(port), "--model-name", NAME]
    cmd += ["--max-batch", str(MAX_BATCH), "--threads", "1", "--log-level", "warning"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "hang guard: serve-model did not come up"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=HANG_GUARD_S, limits=limits) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))


@pytest.mark.slow
def test_24_concurrent_requests_each_get_their_own_greedy_reply(server: str) -> None:
    health0 = httpx.get(f"{server}/health", timeout=30).json()
    assert health0["max_batch"] == MAX_BATCH
    responses = asyncio.run(concurrently(server, [body(i) for i in range(N)]))
    assert [r.status_code for r in responses] == [200] * N, [
        r.text for r in responses if r.status_code != 200
    ]
    together = [r.json() for r in responses]
    health1 = httpx.get(f"{server}/health", timeout=30).json()
    assert health1["requests"] - health0["requests"] == N
    assert health1["batches"] - health0["batches"] >= N // MAX_BATCH  # more requests than one batch holds
    assert health1["cancelled"] == health0["cancelled"]

    with httpx.Client(base_url=server, timeout=HANG_GUARD_S) as client:  # the same requests, one by one
        alone = [client.post("/v1/chat/completions", json=body(i)).json() for i in range(N)]
    for i, (a, b) in enumerate(zip(together, alone, strict=True)):
        assert a["object"] == "chat.completion" and a["model"] == NAME
        choice = a["choices"][0]
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"] == b["choices"][0]["message"]["content"], i
        assert choice["finish_reason"] == b["choices"][0]["finish_reason"]
        assert a["usage"] == b["usage"], i
        assert a["usage"]["completion_tokens"] <= body(i)["max_tokens"]
    assert len({a["id"] for a in together}) == N  # one completion per request
    texts = [a["choices"][0]["message"]["content"] for a in together]
    assert len(set(texts)) > N // 2  # the prompts give different replies, so equality means something
