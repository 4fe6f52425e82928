"""README claims about two commands, run as a user runs them (subprocesses):

* ``agentgym train tiny`` "trains a BPE tokenizer and builds a small Llama from scratch": the folder
  it writes is an ordinary HF model folder that transformers loads and generates with;
* ``python -m agentgym.demo --skip-learn`` (stages 1-2 of ``make demo``): serves the 11 light envs,
  runs the expert over HTTP on every test item - "740 episodes, 100 % expert success on 10 envs,
  88/90 on BabyAI" - and writes the table, ``report.md`` and ``scores.png`` in ``OUT/expert``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AGENTGYM = Path(sys.executable).with_name("agentgym")  # the console script of this venv
HANG_GUARD_S = 1200.0  # generous: only there so a broken build fails instead of hanging
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_train_tiny_command_writes_a_model_folder_transformers_loads(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    data = tmp_path / "traj.json"
    res = subprocess.run(
        [str(AGENTGYM), "collect", "--envs", "maze", "--split", "train", "--limit", "8",
         "--out", str(data), "--no-progress"],
        capture_output=True, text=True, env=ENV, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    out = tmp_path / "tiny"
    res = subprocess.run(
        [str(AGENTGYM), "train", "tiny", "--data", str(data), "--out", str(out), "--layers", "2",
         "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--vocab-size", "400",
         "--max-positions", "512"],
        capture_output=True, text=True, env=ENV, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"saved {out}" in res.stdout

    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    tok = transformers.AutoTokenizer.from_pretrained(out)
    cfg = model.config
    assert cfg.model_type == "llama"
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads) == (
        2,
        64,
        4,
        2,
    )
    assert cfg.max_position_embeddings == 512
    assert cfg.vocab_size == len(tok) and len(tok) <= 400 + 8  # BPE vocab + a few special tokens
    # the tokenizer was trained on the collected trajectories: their text round-trips
    records = json.loads(data.read_text())
    text = records[0]["conversations"][2]["value"]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text and len(ids) < len(text) / 2  # merges learned from the data
    # the chat template and generation work as with any HF chat model
    messages = [{"role": "user", "content": text}]
    prompt = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        gen = model.generate(**prompt, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] == prompt["input_ids"].shape[1] + 5 or tok.eos_token_id in gen[0].tolist()
    n_params = sum(p.numel() for p in model.parameters())
    assert 50_000 < n_params < 500_000


@pytest.mark.slow
def test_demo_skip_learn_serves_and_checks_the_experts(tmp_path):
    out = tmp_path / "demo"
    log = tmp_path / "demo.log"
    with open(log, "wb") as fh:
        res = subprocess.run(
            [sys.executable, "-m", "agentgym.demo", "--skip-learn", "--out", str(out)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=ENV,
            timeout=HANG_GUARD_S,
        )
    output = log.read_text()
    assert res.returncode == 0, output[-4000:]
    expert = out / "expert"
    for name in ("trajectories.jsonl", "results.json", "report.md", "scores.png"):
        assert (expert / name).exists(), name
    assert not (out / "evol").exists()  # --skip-learn: no BC / AgentEvol stage
    results = json.loads((expert / "results.json").read_text())
    envs = results["envs"]
    light = ["maze", "wordle", "textcraft", "babyai", "webshop", "bird", "weather", "movie", "academia"]
    light += ["sheet", "todo"]
    assert set(envs) == set(light)
    assert sum(m["episodes"] for m in envs.values()) == 740
    assert all(m["errors"] == 0 for m in envs.values())
    for env in light:
        if env != "babyai":
            assert envs[env]["success_rate"] == 1.0, (env, envs[env])
    # BabyAI's metric is reward x 100; its success count is the README's 88/90
    assert (envs["babyai"]["episodes"], envs["babyai"]["successes"]) == (90, 88)
    assert results["run"]["agent"] == {"name": "expert"} and results["run"]["split"] == "test"
    report = (expert / "report.md").read_text()
    assert all(f"## {env}" in report for env in light)
    assert (expert / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "demo finished" in output
