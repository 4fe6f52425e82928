"""Label masks: exactly the agent tokens are trained, checked against the chat template."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from agentgym.train.masks import (
    IGNORE,
    encode_conversation,
    has_generation_markers,
    to_messages,
    trained_text,
)
from agentgym.train.tiny import IM_END, train_tokenizer

ACK = "OK. I'll follow your instructions and try my best to solve the task."
CONV = [
    {"from": "human", "value": "You are in a maze. Reach the goal.", "loss": None},
    {"from": "gpt", "value": ACK, "loss": False},
    {"from": "human", "value": "The goal is at (8, 6). You are at (1, 1).", "loss": None},
    {"from": "gpt", "value": "Thought: The goal is below.\nAction: move down", "loss": True},
    {"from": "human", "value": "You cannot move down: there is a wall.", "loss": None},
    {"from": "gpt", "value": "Thought: Go right then.\nAction: move right", "loss": True},
]
REPLIES = [t["value"] for t in CONV if t["from"] == "gpt"]

# A template with no {% generation %} markers (Llama-3 style headers): the span method must cope.
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }} says:\n{{ m['content'] }}<|im_end|>\n\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant says:\n{% endif %}"
)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer([t["value"] for t in CONV] * 30, vocab_size=500)


@pytest.fixture(scope="module")
def plain_tok():
    t = train_tokenizer([t["value"] for t in CONV] * 30, vocab_size=500)
    t.chat_template = PLAIN_TEMPLATE
    return t


@pytest.mark.parametrize("method", ["template", "spans"])
def test_loss_true_trains_only_flagged_replies(tok, method):
    enc = encode_conversation(tok, CONV, loss_on="loss_true", method=method)
    assert trained_text(tok, enc) == [r + IM_END for r in REPLIES[1:]]


@pytest.mark.parametrize("method", ["template", "spans"])
def test_all_gpt_trains_the_ack_too(tok, method):
    enc = encode_conversation(tok, CONV, loss_on="all_gpt", method=method)
    assert trained_text(tok, enc) == [r + IM_END for r in REPLIES]


@pytest.mark.parametrize("loss_on", ["all_gpt", "loss_true"])
def test_methods_agree_token_for_token(tok, loss_on):
    a = encode_conversation(tok, CONV, loss_on=loss_on, method="template")
    b = encode_conversation(tok, CONV, loss_on=loss_on, method="spans")
    assert a.input_ids == b.input_ids and a.labels == b.labels
    assert has_generation_markers(tok)


def test_ids_are_the_rendered_text_and_labels_copy_ids(tok):
    enc = encode_conversation(tok, CONV)
    rendered = tok.apply_chat_template(to_messages(CONV), tokenize=False)
    assert tok.decode(enc.input_ids) == rendered
    assert all(lab in (IGNORE, tid) for lab, tid in zip(enc.labels, enc.input_ids, strict=True))
    # nothing of the human turns or the role headers is trained
    assert "You are in a maze" not in "".join(trained_text(tok, enc))
    assert "assistant" not in "".join(trained_text(tok, enc))


def test_template_without_generation_markers_uses_spans(plain_tok):
    assert not has_generation_markers(plain_tok)
    enc = encode_conversation(plain_tok, CONV, loss_on="loss_true")
    assert trained_text(plain_tok, enc) == [r + IM_END for r in REPLIES[1:]]


def test_missing_loss_flags_train_every_reply(tok):
    conv = [{"from": t["from"], "value": t["value"]} for t in CONV]
    enc = encode_conversation(tok, conv, loss_on="loss_true")
    assert len(trained_text(tok, enc)) == 3


def test_turn_objects_are_accepted(tok):
    from agentgym.core.types import Turn

    turns = [Turn.model_validate(t) for t in CONV]
    assert encode_conversation(tok, turns).labels == encode_conversation(tok, CONV).labels


def test_truncation_keeps_the_prefix(tok):
    full = encode_conversation(tok, CONV)
    cut = encode_conversation(tok, CONV, max_length=40)
    assert cut.input_ids == full.input_ids[:40] and cut.labels == full.labels[:40]


def test_bad_input_is_a_clear_error(tok):
    with pytest.raises(ValueError, match="bad conversation turn"):
        encode_conversation(tok, [{"from": "robot", "value": "x"}])
    with pytest.raises(ValueError, match="loss_on"):
        to_messages(CONV, loss_on="everything")  # type: ignore[arg-type]
