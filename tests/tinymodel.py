"""Test helpers for the agent backends: a tiny model and a loopback server.

`build`: a tiny random-init Llama with a BPE tokenizer and a ChatML chat template.

Built with `agentgym.train.tiny.build_tiny_model` (a few seconds, no download) into a folder the
caller owns (a pytest ``tmp_path_factory`` folder). The weights are random, so the "replies" are
gibberish - but gibberish a real transformers model generates, which is what the agent backends
and the model server tests need. The default init (std 0.02) makes near-uniform logits whose
greedy continuation is one token repeated; re-drawing the weights with a larger std gives varied
text, so comparing batched and one-by-one outputs means something.

`serve`: a real uvicorn server on 127.0.0.1 (a free port) in a thread, for integration tests.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CORPUS = [
    "Thought: I should move towards the goal.\n\nAction: move up",
    "Thought: the wall is on my left, so I go right.\n\nAction: move right",
    "Observation: You are at (3, 4). The goal is at (1, 2). There are walls to your left and below.",
    "You are an agent in a maze. Reply with a thought and an action: move up, down, left or right.",
    "OK. I'll follow your instructions and try my best to solve the task.",
    "Guess a five letter word. Feedback: g = right place, y = wrong place, b = not in the word.",
]


def build(out_dir: str | Path, *, max_positions: int = 256, seed: int = 0, std: float = 0.15) -> Path:
    """A tiny model folder (2 layers, hidden 64) with a small context, so overflow is easy to hit."""
    import torch
    from transformers import AutoModelForCausalLM

    from agentgym.train.tiny import build_tiny_model

    path = build_tiny_model(
        CORPUS * 4,
        out_dir,
        layers=2,
        hidden=64,
        heads=4,
        kv_heads=2,
        vocab_size=400,
        max_positions=max_positions,
        seed=seed,
    )
    model = AutoModelForCausalLM.from_pretrained(path)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" not in name:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    model.save_pretrained(path)
    return path


@contextlib.contextmanager
def serve(app: Any, timeout: float = 30.0) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
