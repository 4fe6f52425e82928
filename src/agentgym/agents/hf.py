"""A local transformers model as an agent: batched, reproducible generation on CPU or GPU.

Two layers:

* `HFGenerator` owns the model, the tokenizer and a `Batcher`. ``await complete(messages,
  params)`` renders the chat template, checks the context limit, and joins the next batch: the
  pending turns of all concurrent episodes (or HTTP requests, see `agentgym.agents.model_server`)
  go through one left-padded ``model.generate`` call in a worker thread.
* `HFAgent` is the `Agent` on top: one `SamplingParams` for the run, a per-turn seed.

Why sampling goes through our own logits processor: ``generate`` samples from the global torch RNG
for the whole batch, so a sampled reply would depend on which other requests shared its batch (and
on timing). `RowSampler` instead draws each row's token from that request's own seeded
``torch.Generator`` and hands ``generate`` a one-hot score, which its greedy path then picks. A
request's reply therefore depends only on its prompt, its parameters and its seed - batched or not
- and requests with different temperatures, top-p, length limits and stop strings share a batch.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from agentgym.agents.base import Agent, AgentError, AgentReply, ContextOverflow, EpisodeContext
from agentgym.agents.batching import Batcher
from agentgym.agents.smollm2 import load_smollm2
from agentgym.core.seeding import derive_seed

if TYPE_CHECKING:
    import torch

__all__ = ["Completion", "HFAgent", "HFGenerator", "SamplingParams", "TokenLogprob", "load_smollm2"]

MAX_TOP_LOGPROBS = 20
"""Most alternatives per token a request may ask for (OpenAI's chat limit)."""

END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>")
"""End-of-turn markers of common chat templates; the ones in the vocabulary stop generation."""

MODEL_ALIASES = {"smollm2": load_smollm2}
"""Names that resolve to a local model folder (``HFGenerator("smollm2")``)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to generate one reply. ``temperature == 0`` is greedy; ``seed=None`` draws a fresh seed."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None
    """None: no log-probabilities; k >= 0: each generated token's, with its k most likely alternatives."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.seed is not None and not 0 <= self.seed < 2**64:  # torch's generators take 64 bits
            raise ValueError(f"seed must be in [0, 2**64), got {self.seed}")
        if self.logprobs is not None and not 0 <= self.logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"logprobs must be in [0, {MAX_TOP_LOGPROBS}], got {self.logprobs}")


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's log-probability under the model (before temperature and top-p, as
    vLLM reports them) and the ``top`` most likely tokens at that step, as (id, logprob)."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


TokenCallback = Callable[[int, "TokenLogprob | None"], None]
"""Called from the worker thread with each generated token (not the end-of-turn token) as it is
generated, and its log-probability when asked for: what a streaming server forwards."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"]
    token_ids: list[int] = field(default_factory=list)
    """The generated ids, up to and excluding the end-of-turn token (e.g. for RL on token level)."""
    logprobs: list[TokenLogprob] | None = None
    """One per id of ``token_ids`` when ``SamplingParams.logprobs`` asked for them."""


@dataclass
class _Request:
    prompt_ids: list[int]
    params: SamplingParams
    seed: int = 0
    cancelled: bool = False
    """Set when the caller gave up (cancelled task, disconnected HTTP client): its row stops."""
    on_token: TokenCallback | None = None


class RowSampler:
    """A logits processor that samples each row with its own generator (see the module docstring).

    Rows with temperature 0 are left alone (``generate`` takes their argmax). A row whose own
    ``max_new_tokens`` is reached before the batch's is forced to emit ``eos_id`` (and marked in
    ``forced`` so its finish reason is "length").
    """

    def __init__(self, reqs: Sequence[_Request], prompt_len: int, eos_ids: set[int], device: torch.device):
        import torch

        self.prompt_len = prompt_len
        self.eos_id = min(eos_ids)
        self.limits = [r.params.max_new_tokens for r in reqs]
        self.forced = [False] * len(reqs)
        self.finished = [False] * len(reqs)
        self.eos_ids = eos_ids
        self.sample_rows = [i for i, r in enumerate(reqs) if r.params.temperature > 0]
        self.gens = [torch.Generator().manual_seed(reqs[i].seed) for i in self.sample_rows]
        temps = [max(reqs[i].params.temperature, 1e-4) for i in self.sample_rows]  # no overflow in / t
        self.temps = torch.tensor(temps, device=device)
        self.top_ps = torch.tensor([reqs[i].params.top_p for i in self.sample_rows], device=device)
        self.device = device

    @property
    def needed(self) -> bool:
        return bool(self.sample_rows) or len(set(self.limits)) > 1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import torch

        step = input_ids.shape[1] - self.prompt_len
        if step > 0:
            for i, t in enumerate(input_ids[:, -1].tolist()):
                self.finished[i] = self.finished[i] or t in self.eos_ids
        if self.sample_rows:
            rows = torch.tensor(self.sample_rows, device=scores.device)
            probs = torch.softmax(scores[rows].float() / self.temps[:, None], dim=-1)
            sorted_p, sorted_ix = probs.sort(dim=-1, descending=True)
            cum = sorted_p.cumsum(dim=-1)
            sorted_p = sorted_p * ((cum - sorted_p) < self.top_ps[:, None])  # nucleus; keeps the top token
            cum = (sorted_p / sorted_p.sum(dim=-1, keepdim=True)).cumsum(dim=-1)
            u = torch.stack([torch.rand((), generator=g) for g in self.gens]).to(scores.device)
            pick = torch.searchsorted(cum, u[:, None]).clamp_(max=cum.shape[-1] - 1)
            tokens = sorted_ix.gather(1, pick).squeeze(1)
            scores[rows] = float("-inf")
            scores[rows, tokens] = 0.0
        for i, limit in enumerate(self.limits):
            if step >= limit and not self.finished[i]:
                self.forced[i] = True
                scores[i] = float("-inf")
                scores[i, self.eos_id] = 0.0
        return scores


class LogprobTap:
    """A logits processor, first in the list, that keeps the model's log-probabilities of this step
    for the rows that asked for them (`RowStopper` reads the chosen token's once it is known).

    First because `RowSampler` replaces a sampled row's scores by a one-hot choice. Only one step
    is kept: a whole generation's worth would be steps x rows x vocabulary floats."""

    def __init__(self, reqs: Sequence[_Request]):
        self.rows = [i for i, r in enumerate(reqs) if r.params.logprobs is not None]
        self.pos = {row: k for k, row in enumerate(self.rows)}
        self.k = max((reqs[i].params.logprobs or 0 for i in self.rows), default=0)
        self.want = [r.params.logprobs for r in reqs]
        self.step: Any = None
        self.top: tuple[list[list[float]], list[list[int]]] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        import torch

        if self.rows:
            self.step = torch.log_softmax(scores[self.rows].float(), dim=-1)
            if self.k:
                values, ids = self.step.topk(self.k, dim=-1)
                self.top = (values.tolist(), ids.tolist())
        return scores

    def take(self, row: int, token: int) -> TokenLogprob | None:
        """The log-probability of ``token``, just chosen for ``row`` (None if it asked for none)."""
        want = self.want[row]
        if want is None or self.step is None:
            return None
        k = self.pos[row]
        top: tuple[tuple[int, float], ...] = ()
        if want and self.top is not None:
            values, ids = self.top
            top = tuple(zip(ids[k][:want], values[k][:want], strict=True))
        return TokenLogprob(token, float(self.step[k, token]), top)


class RowStopper:
    """A stopping criterion, called after each token: stops rows whose caller gave up and rows
    whose generated tail (decoded) holds one of their stop strings; hands each new token to its
    request's ``on_token`` (streaming) and collects the log-probabilities `LogprobTap` kept."""

    def __init__(self, tokenizer: Any, reqs: Sequence[_Request], prompt_len: int, eos_ids: set[int]):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = [r.params.stop for r in reqs]
        self.tail = max((len(s) for st in self.stops for s in st), default=0) + 8
        self.stopped_at = [0] * len(reqs)
        self.reqs = reqs
        self.eos_ids = eos_ids
        self.ended = [False] * len(reqs)
        """The row produced its last content token (end-of-turn, stop string, gave up)."""
        self.tap: LogprobTap | None = None
        self.logprobs: list[list[TokenLogprob]] = [[] for _ in reqs]

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        step = input_ids.shape[1] - self.prompt_len
        last = input_ids[:, -1].tolist()
        for i, stops in enumerate(self.stops):
            if self.ended[i]:
                continue
            if self.reqs[i].cancelled:
                self.stopped_at[i] = step
                self.ended[i] = done[i] = True
                continue
            token = last[i]
            if token in self.eos_ids:  # generate ends the row itself; the token is no content
                self.ended[i] = True
                continue
            lp = self.tap.take(i, token) if self.tap is not None else None
            if lp is not None:
                self.logprobs[i].append(lp)
            on_token = self.reqs[i].on_token
            if on_token is not None:
                on_token(token, lp)
            if not stops:
                continue
            start = max(self.prompt_len, input_ids.shape[1] - self.tail)  # generated tokens only
            tail = self.tokenizer.decode(input_ids[i, start:].tolist(), skip_special_tokens=True)
            if any(s in tail for s in stops):
                self.stopped_at[i] = step
                self.ended[i] = done[i] = True
        return cast("torch.BoolTensor", done)  # a bool Tensor: what StoppingCriteria declares


def _truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class HFGenerator:
    """A causal LM with a chat template behind a request batcher (see the module docstring).

    ``model`` is a local folder, a hub name, ``"smollm2"`` (see `load_smollm2`) or an already
    loaded model (then ``tokenizer`` is required). ``max_context`` defaults to the model's
    ``max_position_embeddings``. ``extra_eos`` adds end-of-turn token ids.

    ``num_threads`` sets torch's (process-wide) CPU thread count. On a CPU shared with other busy
    processes one thread can be 10x faster than two: spinning OpenMP workers wait for each other.
    """

    def __init__(
        self,
        model: str | Path | Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        dtype: str = "auto",
        max_batch: int = 16,
        batch_window: float = 0.02,
        max_context: int | None = None,
        extra_eos: Sequence[int] = (),
        chat_template_kwargs: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
        num_threads: int | None = None,
    ):
        import torch

        if num_threads is not None:
            torch.set_num_threads(num_threads)

        if isinstance(model, (str, Path)):
            self.model_path = str(model)
            if self.model_path in MODEL_ALIASES and not Path(self.model_path).exists():
                self.model_path = str(MODEL_ALIASES[self.model_path]())
            model, tokenizer = self._load(self.model_path, tokenizer, device, dtype, trust_remote_code)
        else:
            if tokenizer is None:
                raise ValueError("HFGenerator with a loaded model needs its tokenizer")
            self.model_path = str(getattr(model, "name_or_path", "") or type(model).__name__)
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"the tokenizer of {self.model_path} has no chat template")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = self._end_of_turn_ids(model, tokenizer) | set(extra_eos)
        if not self.eos_ids:
            raise ValueError(f"{self.model_path}: no end-of-turn token found (pass extra_eos)")
        self.max_context = max_context or self._model_context(model)
        self.chat_template_kwargs = chat_template_kwargs or {}
        # isolate_failures: a request that breaks `generate` must not fail the requests batched with it
        self.batcher: Batcher[_Request, Completion] = Batcher(
            self.generate_batch,
            max_batch=max_batch,
            window=batch_window,
            name="hf-generate",
            isolate_failures=True,
        )
        self._torch = torch
        self.stats = {"requests": 0, "cancelled": 0, "generated_tokens": 0}
        """Counters since start: requests, requests whose caller gave up, tokens generated."""

    @staticmethod
    def _load(path: str, tokenizer: Any, device: str | None, dtype: str, trust_remote_code: bool):
        import torch
        from transformers import AutoModelForCausalLM

        from agentgym.train.tiny import load_tokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
            torch_dtype = torch.bfloat16 if use_bf16 else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
        # transformers types `to` through a decorator that loses the bound self.
        model.to(device)  # type: ignore[arg-type]
        if tokenizer is None:
            tokenizer = load_tokenizer(path, **({"trust_remote_code": True} if trust_remote_code else {}))
        return model, tokenizer

    @staticmethod
    def _end_of_turn_ids(model: Any, tokenizer: Any) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        for tid in [tokenizer.eos_token_id, *(gen_eos if isinstance(gen_eos, list) else [gen_eos])]:
            if tid is not None:
                ids.add(int(tid))
        vocab = tokenizer.get_vocab()
        ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
        return ids

    @staticmethod
    def _model_context(model: Any) -> int:
        cfg = model.config
        for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                return value
        raise ValueError("cannot tell the model's context length: pass max_context")

    # -- prompts -----------------------------------------------------------------------------

    def encode(self, messages: list[dict[str, Any]]) -> list[int]:
        """Token ids of the chat-templated conversation, ending with the assistant turn's header."""
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def overflow_message(self, prompt_tokens: int, max_new_tokens: int) -> str | None:
        """The reason a request does not fit the context, or None (wording as OpenAI's servers)."""
        total = prompt_tokens + max_new_tokens
        if total <= self.max_context:
            return None
        return (
            f"This model's maximum context length is {self.max_context} tokens. However, you requested "
            f"{total} tokens ({prompt_tokens} in the messages, {max_new_tokens} in the completion). "
            "Please reduce the length of the messages or completion."
        )

    async def complete(self, messages: list[dict[str, Any]], params: SamplingParams) -> Completion:
        """One reply, generated in a batch with the other pending requests.

        Raises `ContextOverflow` when prompt + ``max_new_tokens`` exceed ``max_context``.
        """
        ids = self.encode(messages)
        return await self.complete_ids(ids, params)

    def encode_text(self, text: str) -> list[int]:
        """Token ids of a plain prompt (``/v1/completions``): no chat template, the tokenizer's
        special tokens (e.g. BOS) as it adds them by default."""
        return list(self.tokenizer(text)["input_ids"])

    async def complete_ids(
        self, prompt_ids: list[int], params: SamplingParams, on_token: TokenCallback | None = None
    ) -> Completion:
        """One reply to the token ids ``prompt_ids`` (see `complete`). ``on_token`` is called from
        the worker thread with each token as it is generated (it must be quick and thread-safe)."""
        message = self.overflow_message(len(prompt_ids), params.max_new_tokens)
        if message:
            raise ContextOverflow(message)
        seed = params.seed if params.seed is not None else secrets.randbits(63)
        request = _Request(prompt_ids, params, seed, on_token=on_token)
        self.stats["requests"] += 1
        try:
            return await self.batcher.submit(request)
        except asyncio.CancelledError:
            request.cancelled = True  # a running batch stops generating for it at the next token
            self.stats["cancelled"] += 1
            raise

    # -- the batch (worker thread) -------------------------------------------------------------

    def generate_batch(self, reqs: Sequence[_Request]) -> list[Completion]:
        """Generate for ``reqs`` in one left-padded ``generate`` call (runs in the worker thread)."""
        torch = self._torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        width = max(len(r.prompt_ids) for r in reqs)
        input_ids = torch.full((len(reqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(reqs), width), dtype=torch.long)
        for i, r in enumerate(reqs):
            n = len(r.prompt_ids)
            input_ids[i, width - n :] = torch.tensor(r.prompt_ids, dtype=torch.long)
            attention[i, width - n :] = 1
        sampler = RowSampler(reqs, width, self.eos_ids, self.device)
        if all(r.cancelled for r in reqs):
            return [Completion("", len(r.prompt_ids), 0, "stop") for r in reqs]
        stopper = RowStopper(self.tokenizer, reqs, width, self.eos_ids)
        tap = LogprobTap(reqs)
        if tap.rows:
            stopper.tap = tap
        config = GenerationConfig(
            max_new_tokens=max(r.params.max_new_tokens for r in reqs),
            do_sample=False,
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id,
            use_cache=True,
        )
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                logits_processor=LogitsProcessorList(
                    ([tap] if tap.rows else []) + ([sampler] if sampler.needed else [])
                ),
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        results: list[Completion] = []
        for i, r in enumerate(reqs):
            gen = out[i, width:].tolist()
            if stopper.stopped_at[i]:
                gen = gen[: stopper.stopped_at[i]]
            finish: Literal["stop", "length"] = "length"
            end = next((k for k, t in enumerate(gen) if t in self.eos_ids), None)
            if end is not None:
                gen = gen[:end]
                finish = "length" if sampler.forced[i] else "stop"
            text = self.tokenizer.decode(gen, skip_special_tokens=True)
            text, hit = _truncate_at_stop(text, r.params.stop)
            if hit:
                finish = "stop"
            counted_eos = end is not None and not sampler.forced[i]  # a forced eos is not the model's
            logprobs = stopper.logprobs[i][: len(gen)] if r.params.logprobs is not None else None
            results.append(Completion(text, len(r.prompt_ids), len(gen) + counted_eos, finish, gen, logprobs))
            self.stats["generated_tokens"] += results[-1].completion_tokens
        return results

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_path, "device": str(self.device), "max_context": self.max_context}

    async def aclose(self) -> None:
        await self.batcher.aclose()


class HFAgent(Agent):
    """An `Agent` backed by a local transformers model (`HFGenerator`).

    Each turn's sampling seed is derived from (``seed``, env, task, sample, round), so a run is
    reproducible whatever the batching, and the k samples of an item (pass@k) differ.
    Generator options (``device``, ``dtype``, ``max_batch``, ``batch_window``, ``max_context``, ...)
    pass through ``**generator_kwargs``; or pass a shared ``generator``.
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path | Any = None,
        tokenizer: Any = None,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int = 0,
        generator: HFGenerator | None = None,
        **generator_kwargs: Any,
    ):
        if generator is None:
            if model is None:
                raise ValueError("HFAgent needs a model (path, hub name or loaded model) or a generator")
            generator = HFGenerator(model, tokenizer, **generator_kwargs)
        self.generator = generator
        self.params = SamplingParams(temperature, top_p, max_new_tokens, tuple(stop or ()))
        self.seed = seed

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        seed = derive_seed(self.seed, ctx.env_id, ctx.task_id, ctx.sample, ctx.round)
        stop = tuple(dict.fromkeys((*self.params.stop, *ctx.spec.stop)))  # the env's too (EnvSpec.stop)
        params = SamplingParams(**{**self.params.__dict__, "seed": seed, "stop": stop})
        try:
            c = await self.generator.complete(messages, params)
        except ContextOverflow:
            raise
        except Exception as e:  # OOM, a broken model...: the episode cannot continue
            raise AgentError(f"generation failed: {type(e).__name__}: {e}") from e
        return AgentReply(c.text, c.prompt_tokens, c.completion_tokens)

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {
            "name": self.name,
            **self.generator.describe(),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_new_tokens": p.max_new_tokens,
            "stop": list(p.stop),
            "seed": self.seed,
        }

    async def aclose(self) -> None:
        await self.generator.aclose()
