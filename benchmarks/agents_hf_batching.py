"""HF backend batching: generated tokens/s when concurrent episodes share one ``generate`` call.

N concurrent requests (different prompt lengths, as concurrent episodes have) go through
`HFGenerator` twice: all at once (the batcher coalesces them, up to ``--max-batch``) and one
after the other (batch 1). Both produce the same greedy text (checked); the figure is generated
tokens per second of wall time and the speed-up of batching.

    .venv/bin/python benchmarks/agents_hf_batching.py --requests 16 --tokens 32
    .venv/bin/python benchmarks/agents_hf_batching.py --model smollm2 --requests 8 --tokens 24 --threads 1

Without ``--model`` a tiny random-init Llama is built in a temporary folder (a few seconds).
Figures drift on shared machines (other processes take the cores): compare the ratio, and repeat.
On a busy 2-core machine ``--threads 1`` is much faster than torch's default of 2.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

TEXT = [
    "Thought: I should move towards the goal.\n\nAction: move up",
    "Observation: You are at (3, 4). The goal is at (1, 2). There are walls to your left and below.",
    "You are an agent in a maze. Reply with a thought and an action: move up, down, left or right.",
]


def prompts(n: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Observation {i}: you are at ({i}, {i % 5}). " * (1 + i % 4)}]
        for i in range(n)
    ]


async def run(gen, msgs, tokens: int, together: bool) -> tuple[float, list[str], int]:
    from agentgym.agents.hf import SamplingParams

    params = SamplingParams(max_new_tokens=tokens)
    t0 = time.perf_counter()
    if together:
        out = await asyncio.gather(*(gen.complete(m, params) for m in msgs))
    else:
        out = [await gen.complete(m, params) for m in msgs]
    wall = time.perf_counter() - t0
    return wall, [c.text for c in out], sum(c.completion_tokens for c in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model folder, hub name or 'smollm2' (default: a tiny random Llama)")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from agentgym.agents.hf import HFGenerator, SamplingParams

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from agentgym.train.tiny import build_tiny_model

            model = str(build_tiny_model(TEXT * 4, tmp, layers=4, hidden=128, vocab_size=512))
        gen = HFGenerator(model, max_batch=args.max_batch, batch_window=0.05, num_threads=args.threads)
        msgs = prompts(args.requests)

        async def both():
            await gen.complete(msgs[0], SamplingParams(max_new_tokens=2))  # warm-up
            seq = await run(gen, msgs, args.tokens, together=False)
            bat = await run(gen, msgs, args.tokens, together=True)
            await gen.aclose()
            return seq, bat

        (seq_s, seq_text, seq_tok), (bat_s, bat_text, bat_tok) = asyncio.run(both())
    same = seq_text == bat_text
    print(f"model: {gen.model_path}  requests: {args.requests}  new tokens each: {args.tokens}")
    print("| mode | wall s | generated tok/s |")
    print("|---|---|---|")
    print(f"| one by one | {seq_s:.2f} | {seq_tok / seq_s:.1f} |")
    print(f"| batched (max {args.max_batch}) | {bat_s:.2f} | {bat_tok / bat_s:.1f} |")
    print(
        f"speed-up {seq_s / bat_s:.1f}x; identical greedy outputs: {same}; batches {gen.batcher.batch_sizes[1:]}"
    )


if __name__ == "__main__":
    main()
