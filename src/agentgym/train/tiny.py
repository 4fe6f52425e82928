"""Tiny causal LMs from scratch: a byte-level BPE tokenizer and a small Llama, no download.

There is no model hub on the machines this project is tested on, so the whole pipeline (BC,
AgentEvol, the HF agent backend) runs on a model built here: a BPE tokenizer trained on our own
trajectory text and a randomly initialised Llama of ~1 M parameters, saved as an ordinary HF model
folder that `AutoModelForCausalLM` / `AutoTokenizer` load like any other checkpoint.

Why these choices (see reference/training-notes.md):

* **Llama, not Qwen2**: transformers 5 maps a ``qwen2`` config to ``Qwen2Tokenizer``, which swaps
  our trained pre-tokenizer for Qwen's regex and silently changes the token ids; with ``llama`` the
  generic tokenizer backend keeps ours.
* **Small vocab**: on 2 CPU cores the lm_head is a large share of the FLOPs; ReAct text saturates a
  BPE at a few hundred merges. ``generic_corpus=True`` adds the interpreter's stdlib sources when a
  bigger, more general vocab is wanted.
* **ChatML template with ``{% generation %}``** around assistant turns whose AgentGym ``loss`` flag
  is not ``false`` (and around ``<|im_end|>`` so the model learns to stop): HF's
  ``return_assistant_tokens_mask`` then gives exactly the tokens BC trains on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

PAD, IM_START, IM_END, EOT = "<pad>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END, EOT]
MARKER = "agentgym_tiny.json"
"""File written next to a tiny model: its build settings (and a sign to load its tokenizer as-is)."""

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if message.get('loss', true) is not false -%}"
    "{%- generation -%}{{- message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{%- else -%}{{- message['content'] + '<|im_end|>' -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def texts_from_records(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The turn texts of trajectory records (dicts with ``conversations``), for tokenizer training."""
    for rec in records:
        for turn in rec.get("conversations") or []:
            value = turn.get("value") if isinstance(turn, dict) else getattr(turn, "value", None)
            if value:
                yield value


def stdlib_corpus(max_files: int = 400) -> Iterator[str]:
    """Generic English-ish/code text with no download: the interpreter's own stdlib sources."""
    json_file = sys.modules["json"].__file__
    assert json_file is not None  # json is a source module of the stdlib
    root = Path(json_file).resolve().parent.parent
    for i, path in enumerate(sorted(root.glob("*.py"))):
        if i >= max_files:
            return
        try:
            yield path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024, *, generic_corpus: bool = False):
    """Train a byte-level BPE and wrap it as a `PreTrainedTokenizerFast` with our chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts and not generic_corpus:
        raise ValueError("train_tokenizer needs some text (or generic_corpus=True)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus: Iterable[str] = texts
    if generic_corpus:
        corpus = [*texts, *stdlib_corpus()]
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=IM_END, bos_token=None)
    fast.add_special_tokens({"additional_special_tokens": [IM_START, EOT]})
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 1 << 30
    return fast


def build_tiny_model(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    layers: int = 4,
    hidden: int = 128,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int | None = None,
    vocab_size: int = 1024,
    max_positions: int = 2048,
    generic_corpus: bool = False,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a random-init Llama sized by the arguments, save both.

    Returns ``out_dir``, an ordinary HF model folder (config, safetensors, tokenizer files,
    ``chat_template.jinja``) plus `MARKER` with the build settings.
    """
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    if hidden % heads or heads % kv_heads:
        raise ValueError(f"hidden ({hidden}) must divide by heads ({heads}), heads by kv_heads ({kv_heads})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(texts, vocab_size, generic_corpus=generic_corpus)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=intermediate or 3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.convert_tokens_to_ids(IM_END),
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    settings = {
        "layers": layers,
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "vocab_size": len(tok),
        "max_positions": max_positions,
        "generic_corpus": generic_corpus,
        "params": sum(p.numel() for p in model.parameters()),
    }
    (out / MARKER).write_text(json.dumps(settings, indent=2))
    return out


def load_tokenizer(path: str | Path, **kwargs: Any):
    """Load the tokenizer of any model folder or hub name.

    Our tiny models are loaded with `PreTrainedTokenizerFast` directly so that no model-specific
    tokenizer class can replace the trained pre-tokenizer; others go through `AutoTokenizer`.
    A missing pad token falls back to the eos token (needed for batching).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    p = Path(path)
    if (p / MARKER).exists():
        tok = PreTrainedTokenizerFast.from_pretrained(str(p), **kwargs)
    else:
        tok = AutoTokenizer.from_pretrained(str(path), **kwargs)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_tiny(path: str | Path):
    """(model, tokenizer) of a saved model folder, model in eval mode on CPU."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path))
    model.eval()
    return model, load_tokenizer(path)
