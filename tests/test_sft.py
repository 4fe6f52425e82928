"""Behavioural cloning: data loading, weighted loss, packing, training, LoRA merge, CLI."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from agentgym.train.config import TrainConfig  # noqa: E402
from agentgym.train.masks import IGNORE  # noqa: E402
from agentgym.train.sft import (  # noqa: E402
    Collator,
    encode_records,
    load_records,
    pack_rows,
    train_on_records,
    weighted_nll,
)
from agentgym.train.tiny import build_tiny_model, load_tiny  # noqa: E402

DIRS = ["up", "down", "left", "right"]


def conv(d: str, n: int) -> list[dict]:
    return [
        {"from": "human", "value": "Reach the exit. Answer with Thought and Action.", "loss": None},
        {"from": "gpt", "value": "OK.", "loss": False},
        {"from": "human", "value": f"Room {n}. The exit is {d}.", "loss": None},
        {"from": "gpt", "value": f"Thought: the exit is {d}.\nAction: move {d}", "loss": True},
    ]


RECORDS = [{"item_id": f"toy_{i}", "conversations": conv(DIRS[i % 4], i), "reward": i % 2} for i in range(24)]
FAST = dict(lr=3e-3, batch_size=8, logging_steps=1, max_length=128, warmup_ratio=0.0)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    texts = [t["value"] for r in RECORDS for t in r["conversations"]]
    return build_tiny_model(texts, tmp_path_factory.mktemp("base"), layers=2, hidden=64, vocab_size=400)


def test_load_records_json_and_jsonl(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps(RECORDS[:3]))
    b = tmp_path / "trajectories.jsonl"
    b.write_text("\n".join(json.dumps(r) for r in RECORDS[3:5]) + "\n")
    assert [r["item_id"] for r in load_records([a, b])] == [f"toy_{i}" for i in range(5)]
    with pytest.raises(FileNotFoundError):
        load_records([tmp_path / "missing.json"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"item_id": "x"}]))
    with pytest.raises(ValueError, match="conversations"):
        load_records([bad])


def test_weighted_nll_matches_hf_loss_and_zero_weight_drops_rows(base):
    model, tok = load_tiny(base)
    rows = encode_records(tok, RECORDS[:4], TrainConfig())
    batch = Collator(tok.pad_token_id, packed=False)(rows)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    ours = weighted_nll(out.logits, batch["labels"], batch["token_weights"])
    assert torch.allclose(ours, out.loss, atol=1e-5)

    def grads(b, w):
        model.zero_grad()
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        weighted_nll(logits, b["labels"], w).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    w = batch["token_weights"].clone()
    w[0] = 0.0
    g_zero = grads(batch, w)
    rest = Collator(tok.pad_token_id, packed=False)(rows[1:])
    g_drop = grads(rest, rest["token_weights"])
    assert torch.allclose(g_zero, g_drop, atol=1e-5)


def test_weight_field_is_read_and_zero_weights_are_dropped(base):
    _, tok = load_tiny(base)
    rows = encode_records(tok, RECORDS[:6], TrainConfig(weight_field="reward"))
    assert len(rows) == 3 and all(r["weight"] == 1.0 for r in rows)
    with pytest.raises(ValueError, match="weight field"):
        encode_records(
            tok, [{"item_id": "x", "conversations": conv("up", 0)}], TrainConfig(weight_field="reward")
        )


def test_packing_is_block_diagonal(base):
    """A packed row gives every example the same logits as running it alone."""
    model, tok = load_tiny(base)
    rows = encode_records(tok, RECORDS[:3], TrainConfig())
    packed = pack_rows(rows, max_length=1000)
    assert len(packed) == 1
    batch = Collator(tok.pad_token_id, packed=True)(packed)
    assert "attention_mask" not in batch
    with torch.no_grad():
        logits = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits[0]
        start = 0
        for r in sorted(rows, key=lambda r: -len(r["input_ids"])):
            n = len(r["input_ids"])
            alone = model(input_ids=torch.tensor([r["input_ids"]])).logits[0]
            assert torch.allclose(logits[start : start + n], alone, atol=1e-4)
            start += n
    assert sum(lab != IGNORE for lab in packed[0]["labels"]) == sum(
        lab != IGNORE for r in rows for lab in r["labels"]
    )


@pytest.mark.slow  # 15-25 s each on 2 CPU cores: out of `make test-fast`
@pytest.mark.parametrize("packing", [False, True])
def test_loss_falls(base, tmp_path, packing):
    summary = train_on_records(
        RECORDS, base, tmp_path / "out", TrainConfig(epochs=8, packing=packing, **FAST)
    )
    curve = summary["loss_curve"]
    assert summary["steps"] >= 8 and summary["trained_tokens"] > 0
    assert min(curve[-3:]) < 0.5 * curve[0], curve
    model, _ = load_tiny(tmp_path / "out")  # a plain, loadable model folder
    assert (tmp_path / "out" / "bc_meta.json").exists() and model.config.use_cache


def test_lora_merged_model_matches_adapter_model(base, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = TrainConfig(epochs=1, lora=True, lora_r=4, lora_alpha=8, **FAST)
    train_on_records(RECORDS, base, tmp_path / "lora", cfg)
    merged, tok = load_tiny(tmp_path / "lora")
    assert not hasattr(merged, "peft_config")
    adapter = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base)), str(tmp_path / "lora" / "adapter")
    )
    adapter.eval()
    plain, _ = load_tiny(base)
    ids = torch.tensor([encode_records(tok, RECORDS[:1], cfg)[0]["input_ids"]])
    with torch.no_grad():
        a, m, p = adapter(ids).logits, merged(ids).logits, plain(ids).logits
    assert torch.allclose(a, m, atol=1e-4)
    assert not torch.allclose(m, p, atol=1e-4)  # the adapter did change the model


def test_cli_train_bc(base, tmp_path):
    import typer
    from typer.testing import CliRunner

    from agentgym.train.cli import register

    data = tmp_path / "d.json"
    data.write_text(json.dumps(RECORDS))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    args = ["train", "bc", "--data", str(data), "--model", str(base), "--out", str(tmp_path / "m")]
    res = runner.invoke(app, [*args, "--max-steps", "2", "--lr", "1e-3", "--loss-on", "loss_true"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "bc_meta.json").read_text())
    assert meta["steps"] == 2 and meta["config"]["loss_on"] == "loss_true"
    res = runner.invoke(
        app, ["train", "bc", "--data", str(tmp_path / "nope.json"), "--model", str(base), "--out", "x"]
    )
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, [*args, "--loss-on", "sometimes"])
    assert res.exit_code != 0
