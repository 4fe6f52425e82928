"""vLLM's offline engine as an agent (GPU machines): the fastest way to roll out many episodes.

Same pattern as `agentgym.agents.hf`: ``reply`` enqueues the conversation in a `Batcher`, which
hands the pending turns of all concurrent episodes to one ``LLM.chat`` call in a worker thread.
vLLM batches continuously inside that call, so larger batches (``max_batch`` 64-256) pay off.

vLLM is optional (``pip install 'agentgym[vllm]'``, CUDA only): this module imports without it and
`VLLMAgent` raises a clear error when vLLM is missing. Without a GPU use `HFAgent`, or serve the
model with ``vllm serve`` / ``agentgym serve-model`` and use `OpenAIAgent`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentgym.agents.base import Agent, AgentError, AgentReply, ContextOverflow, EpisodeContext
from agentgym.agents.batching import Batcher
from agentgym.core.seeding import derive_seed

INSTALL_HINT = "VLLMAgent needs vLLM: pip install 'agentgym[vllm]' on a GPU machine (CUDA)"


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError that says how to get it."""
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e


@dataclass
class _Turn:
    messages: list[dict[str, str]]
    seed: int
    prompt_tokens: int
    stop: list[str]


class VLLMAgent(Agent):
    """An `Agent` on ``vllm.LLM``. ``llm_kwargs`` go to ``LLM(...)`` (``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``max_model_len``, ``dtype``...). Seeds per turn as `HFAgent`."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 512,
        stop: Sequence[str] | None = None,
        seed: int = 0,
        max_batch: int = 128,
        batch_window: float = 0.05,
        chat_template_kwargs: dict[str, Any] | None = None,
        **llm_kwargs: Any,
    ):
        vllm = import_vllm()
        self.model = model
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.stop = list(stop or [])
        self.seed = seed
        self.chat_template_kwargs = chat_template_kwargs or {}
        self._SamplingParams = vllm.SamplingParams
        self.llm = vllm.LLM(model=model, seed=seed, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context = self._max_model_len()
        self.batcher: Batcher[_Turn, AgentReply] = Batcher(
            self._run_batch, max_batch=max_batch, window=batch_window, name="vllm-chat"
        )

    def _max_model_len(self) -> int:
        engine = getattr(self.llm, "llm_engine", None)
        config = getattr(engine, "model_config", None)
        length = getattr(config, "max_model_len", None)
        if isinstance(length, int) and length > 0:
            return length
        return int(getattr(self.tokenizer, "model_max_length", 1 << 30))

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
        )
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        n = self._prompt_tokens(messages)
        if n + self.max_tokens > self.max_context:
            raise ContextOverflow(
                f"prompt of {n} tokens + max_tokens {self.max_tokens} exceeds the context of {self.max_context}"
            )
        seed = derive_seed(self.seed, ctx.env_id, ctx.task_id, ctx.sample, ctx.round) % (1 << 31)
        stop = list(dict.fromkeys([*self.stop, *ctx.spec.stop]))  # the env's too (EnvSpec.stop)
        try:
            return await self.batcher.submit(_Turn(messages, seed, n, stop))
        except Exception as e:
            raise AgentError(f"vLLM generation failed: {type(e).__name__}: {e}") from e

    def _run_batch(self, turns: Sequence[_Turn]) -> list[AgentReply]:
        params = [
            self._SamplingParams(
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                stop=t.stop or None,
                seed=t.seed,
            )
            for t in turns
        ]
        outputs = self.llm.chat(
            [t.messages for t in turns],
            sampling_params=params,
            use_tqdm=False,
            chat_template_kwargs=self.chat_template_kwargs or None,
        )
        replies = []
        for t, out in zip(turns, outputs, strict=True):
            completion = out.outputs[0]
            prompt_tokens = len(out.prompt_token_ids or []) or t.prompt_tokens
            replies.append(AgentReply(completion.text, prompt_tokens, len(completion.token_ids)))
        return replies

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
            "seed": self.seed,
            "max_context": self.max_context,
        }

    async def aclose(self) -> None:
        await self.batcher.aclose()
