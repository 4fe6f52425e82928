"""Tiny models from scratch: tokenizer, chat template, save/load round trip."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from agentgym.train.tiny import (  # noqa: E402
    IM_END,
    IM_START,
    MARKER,
    build_tiny_model,
    load_tiny,
    load_tokenizer,
    train_tokenizer,
)

TEXTS = [
    "The goal is at (8, 6). You are at (1, 1). There are walls above you and below you; you can move right.",
    "Thought: The shortest path to the goal takes 12 moves and goes right next.\nAction: move right",
    "Thought: The shortest path to the goal takes 3 moves and goes down next.\nAction: move down",
    "You cannot move up: there is a wall. You stay where you are.",
] * 20


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_model(TEXTS, tmp_path_factory.mktemp("tiny"), layers=2, hidden=64, heads=4, kv_heads=2)


def test_tokenizer_round_trip_and_specials():
    tok = train_tokenizer(TEXTS, vocab_size=400)
    for text in [TEXTS[0], "unseen text: ünïcode ✓ 12345", ""]:
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    for special in (IM_START, IM_END, "<pad>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    assert tok.eos_token == IM_END and tok.pad_token == "<pad>"


def test_chat_template_is_chatml_with_generation_prompt():
    tok = train_tokenizer(TEXTS, vocab_size=400)
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Thought: x\nAction: move up"},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nThought: x\nAction: move up<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_generic_corpus_grows_the_vocab():
    small = train_tokenizer(TEXTS, vocab_size=2048)
    big = train_tokenizer(TEXTS, vocab_size=2048, generic_corpus=True)
    assert len(small) < 1000 < len(big) <= 2048 + 4


def test_save_load_round_trip(tiny_dir):
    meta = json.loads((tiny_dir / MARKER).read_text())
    assert meta["layers"] == 2 and meta["hidden"] == 64 and meta["params"] > 0
    model, tok = load_tiny(tiny_dir)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert model.config.eos_token_id == tok.convert_tokens_to_ids(IM_END)
    # the reloaded tokenizer is the trained one (no model-specific class replaced its pre-tokenizer)
    fresh = train_tokenizer(TEXTS, vocab_size=1024)
    probe = "The goal is at (8, 6). You are at (10, 11).\nThought: go 12 moves"
    assert tok(probe)["input_ids"] == fresh(probe)["input_ids"]
    assert tok.chat_template == fresh.chat_template
    again, _ = load_tiny(tiny_dir)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_tiny_model_generates_and_stops(tiny_dir):
    model, tok = load_tiny(tiny_dir)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
    end = tok.convert_tokens_to_ids(IM_END)
    out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert torch.equal(out[0, : ids.shape[1]], ids[0])
    new = out[0, ids.shape[1] :].tolist()
    # the untrained model may or may not pick <|im_end|>; either way nothing follows the first one
    assert new and (new.index(end) == len(new) - 1 if end in new else len(new) == 5)
    # with every other token suppressed it must pick <|im_end|> first, and the saved generation
    # config's eos stops it right there instead of at max_new_tokens
    others = [i for i in range(model.config.vocab_size) if i != end]
    out = model.generate(ids, max_new_tokens=5, do_sample=False, suppress_tokens=others)
    assert out[0, ids.shape[1] :].tolist() == [end]


def test_autotokenizer_also_loads_it(tiny_dir):
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(tiny_dir))
    tok = load_tokenizer(tiny_dir)
    assert auto(TEXTS[1])["input_ids"] == tok(TEXTS[1])["input_ids"]


def test_bad_shape_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="divide"):
        build_tiny_model(TEXTS, tmp_path, hidden=100, heads=3)
