"""Token-exact label masks for behavioural cloning: train on agent turns, ignore the rest.

A conversation in the AgentGym format (``from``: human/gpt, ``value``, ``loss``) becomes chat
messages, the model's chat template renders them, and every token gets a label: its own id where
the agent produced it, -100 everywhere else (instructions, observations, role headers, padding).

Which agent turns count (``loss_on``):

* ``all_gpt`` - every ``gpt`` turn, including the "OK." acknowledgement, as the original
  ``bc_trainer.py`` does (it ignores the ``loss`` flag);
* ``loss_true`` - only ``gpt`` turns whose ``loss`` is true (or missing: a file without flags
  trains on every reply, as the original would).

Two ways to find the agent tokens, chosen per tokenizer:

* a template with ``{% generation %}`` (ours, `agentgym.train.tiny.CHAT_TEMPLATE`) gives HF's
  ``assistant_masks`` directly - the template itself honours the ``loss`` key;
* any other template (e.g. SmolLM2's): each agent turn's character span is found by rendering the
  conversation prefix before and after it, then every token whose offsets overlap a span is trained
  (also a token BPE merged from the header's end and the reply's start, as HF's masks do).

Both include the end-of-turn token (so the model learns to stop) and agree on our template (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentgym.data import trajfile
from agentgym.data.trajfile import LossOn

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def n_trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def to_messages(conversations: Sequence[Any], loss_on: LossOn = "loss_true") -> list[dict[str, Any]]:
    """AgentGym turns -> chat messages; assistant messages carry ``loss`` (whether to train on them).

    `agentgym.data.trajfile.to_messages` with a trainer's choices only (no ``None``/``as_written``)."""
    if loss_on not in ("all_gpt", "loss_true"):
        raise ValueError(f"loss_on must be 'all_gpt' or 'loss_true', not {loss_on!r}")
    return trajfile.to_messages(conversations, loss_on)


def has_generation_markers(tokenizer: Any) -> bool:
    template = getattr(tokenizer, "chat_template", None) or ""
    return isinstance(template, str) and "generation" in template and "endgeneration" in template


def _render(tokenizer: Any, msgs: list[dict[str, Any]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)


_SENTINEL = "\x00agentgym-agent-turn\x00"


def agent_spans(tokenizer: Any, msgs: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of the trainable agent turns (template-agnostic).

    A span runs from the end of the prefix rendered with the assistant header (generation prompt)
    to the end of the prefix including the turn, minus trailing whitespace after the end token.
    A conversation opening with an agent turn has no prefix to render: its span starts where the
    template puts a sentinel content (after any system prompt the template inserts).
    """
    text = _render(tokenizer, msgs)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant" or not m.get("loss", True):
            continue
        after = _render(tokenizer, msgs[: i + 1])
        before: str | None
        if i:
            before = _render(tokenizer, msgs[:i], add_generation_prompt=True)
        else:  # nothing to render before it, and a template may insert a system prompt: use a sentinel
            probe = _render(tokenizer, [{**m, "content": _SENTINEL}])
            before = probe[: probe.find(_SENTINEL)] if _SENTINEL in probe else None
        if before is None or not text.startswith(after) or not after.startswith(before):
            raise ValueError("the chat template does not render conversations prefix-consistently")
        end = len(after.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return text, spans


def _encode_by_spans(tokenizer: Any, msgs: list[dict[str, Any]]) -> Encoded:
    text, spans = agent_spans(tokenizer, msgs)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [IGNORE] * len(ids)
    j = 0
    for k, (start, end) in enumerate(offsets):
        while j < len(spans) and start >= spans[j][1]:
            j += 1
        # a token overlapping a span is trained, also one that BPE merged from the end of the
        # assistant header and the start of the reply: it holds reply characters (HF's
        # assistant_masks count it too)
        if j < len(spans) and (start >= spans[j][0] or end > spans[j][0]):
            labels[k] = ids[k]
    return Encoded(list(ids), labels)


def _encode_by_template(tokenizer: Any, msgs: list[dict[str, Any]]) -> Encoded:
    out = tokenizer.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(out["input_ids"])
    mask = out["assistant_masks"]
    return Encoded(ids, [t if m else IGNORE for t, m in zip(ids, mask, strict=True)])


def encode_conversation(
    tokenizer: Any,
    conversations: Sequence[Any],
    *,
    loss_on: LossOn = "loss_true",
    max_length: int | None = None,
    method: Literal["auto", "template", "spans"] = "auto",
) -> Encoded:
    """Token ids and labels of one conversation; truncated on the right to ``max_length``."""
    msgs = to_messages(conversations, loss_on)
    if method == "auto":
        method = "template" if has_generation_markers(tokenizer) else "spans"
    enc = _encode_by_template(tokenizer, msgs) if method == "template" else _encode_by_spans(tokenizer, msgs)
    if max_length is not None and len(enc.input_ids) > max_length:
        enc = Encoded(enc.input_ids[:max_length], enc.labels[:max_length])
    return enc


def trained_text(tokenizer: Any, enc: Encoded) -> list[str]:
    """The decoded runs of labelled tokens (one string per contiguous run): what BC trains on."""
    runs: list[list[int]] = []
    prev = False
    for tok, lab in zip(enc.input_ids, enc.labels, strict=True):
        on = lab != IGNORE
        if on and not prev:
            runs.append([])
        if on:
            runs[-1].append(tok)
        prev = on
    return [tokenizer.decode(r) for r in runs]
