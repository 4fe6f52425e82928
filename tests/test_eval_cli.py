"""`agentgym eval / compare / collect` end to end, in-process (real envs, real files)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.data.agenttraj import load_agenttraj
from agentgym.rollout.store import read_trajectories

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "expert"
    res = invoke("eval", "--envs", "maze,wordle", "--agent", "expert", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    return out, res.output


def test_eval_writes_all_four_outputs_with_full_expert_success(expert_run):
    out, output = expert_run
    for name in ("trajectories.jsonl", "results.json", "report.md", "scores.png"):
        assert (out / name).exists(), name
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert set(results["envs"]) == {"maze", "wordle"}
    for m in results["envs"].values():
        assert (m["episodes"], m["success_rate"], m["score"], m["errors"]) == (25, 1.0, 100.0, 0)
    assert results["run"]["agent"] == {"name": "expert"} and results["run"]["split"] == "test"
    report = (out / "report.md").read_text()
    assert "| maze | success rate | 100.0 |" in report and "## wordle" in report
    assert "maze" in output and "results.json" in output
    assert len(read_trajectories(out)) == 50


def test_rerun_resumes_without_duplicates(expert_run):
    out, _ = expert_run
    before = (out / "trajectories.jsonl").read_bytes()
    res = invoke("eval", "--envs", "maze,wordle", "--agent", "expert", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    assert (out / "trajectories.jsonl").read_bytes() == before
    res = invoke("eval", "--envs", "maze", "--agent", "random", "--out", out, "--no-progress")
    assert res.exit_code == 2 and "different agent" in res.output


def test_random_run_with_samples_and_compare(expert_run, tmp_path):
    out_a, _ = expert_run
    out_b = tmp_path / "random"
    res = invoke(
        "eval",
        "--envs",
        "maze",
        "--agent",
        "random",
        "--limit",
        "5",
        "--samples",
        "2",
        "--seed",
        "3",
        "--concurrency",
        "4",
        "--out",
        out_b,
        "--no-progress",
    )
    assert res.exit_code == 0, res.output
    m = json.loads((out_b / "results.json").read_text())["envs"]["maze"]
    assert m["episodes"] == 10 and m["items"] == 5 and set(m["pass_at_k"]) == {"1", "2"}
    assert m["success_rate"] < 1.0
    res = invoke("compare", out_a, out_b, "--out", tmp_path / "cmp")
    assert res.exit_code == 0, res.output
    cmp = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert cmp["envs"]["maze"]["shared_items"] == 5
    assert cmp["envs"]["maze"]["score"]["delta"] < 0 and cmp["envs"]["wordle"]["shared_items"] == 0
    assert "| maze |" in res.output


def test_collect_keeps_successful_train_episodes(tmp_path):
    out = tmp_path / "maze_train.json"
    res = invoke(
        "collect",
        "--envs",
        "maze",
        "--split",
        "train",
        "--limit",
        "6",
        "--out",
        out,
        "--no-progress",
        "--original-ids",
    )
    assert res.exit_code == 0, res.output
    raw = json.loads(out.read_text())
    assert len(raw) == 6 and set(raw[0]) == {"item_id", "conversations"}
    assert all(r["item_id"].startswith("lmrlgym_maze_") for r in raw)
    trajs = load_agenttraj(out, known_envs=["maze"])
    assert all(t.conversations[-2].from_ == "gpt" and t.conversations[-2].loss for t in trajs)
    assert "kept 6/6" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--envs", "nosuchenv"], "unknown env"),
        (["--envs", "maze", "--agent", "openai"], "needs --model"),
        (["--envs", "maze", "--agent", "bogus"], "unknown agent"),
        (["--envs", "maze", "--split", "dev"], "no split 'dev'"),
    ],
)
def test_bad_options_give_clear_errors(tmp_path, args, message):
    res = invoke("eval", *args, "--out", tmp_path / "x", "--no-progress")
    assert res.exit_code == 2
    assert message in res.output


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import tinymodel

    return tinymodel.build(tmp_path_factory.mktemp("tiny"), max_positions=2048)


def test_llm_backends_through_the_cli(tiny_model, tmp_path):
    """A real (tiny, random) transformers model, locally and behind the OpenAI-compatible server."""
    import tinymodel
    from agentgym.agents.hf import HFGenerator
    from agentgym.agents.model_server import create_app

    common = ["--envs", "maze", "--limit", "2", "--max-tokens", "6", "--max-rounds", "2", "--no-progress"]
    res = invoke("eval", "--agent", "hf", "--model", tiny_model, *common, "--out", tmp_path / "hf")
    assert res.exit_code == 0, res.output
    trajs = read_trajectories(tmp_path / "hf")
    assert len(trajs) == 2 and all(t.agent["name"] != "expert" for t in trajs)
    for t in trajs:  # gibberish replies: recorded as gpt turns, corrected, counted invalid
        assert t.stop in ("max_rounds", "done", "context") and t.rounds <= 2
        replies = [c for c in t.conversations[3:] if c.from_ == "gpt"]
        assert len(replies) == t.rounds and all(c.loss for c in replies)
    assert sum(t.invalid_actions for t in trajs) >= 1

    res = invoke(
        "eval",
        "--agent",
        "hf",
        "--model",
        tiny_model,
        *common,
        "--max-context-tokens",
        "50",
        "--out",
        tmp_path / "ctx",
    )
    assert res.exit_code == 0, res.output
    assert all(t.stop == "context" and t.rounds == 0 for t in read_trajectories(tmp_path / "ctx"))

    with tinymodel.serve(create_app(HFGenerator(tiny_model), model_name="tiny")) as url:
        res = invoke(
            "eval",
            "--agent",
            "openai",
            "--model",
            "tiny",
            "--base-url",
            f"{url}/v1",
            *common,
            "--out",
            tmp_path / "oai",
        )
    assert res.exit_code == 0, res.output
    trajs = read_trajectories(tmp_path / "oai")
    assert len(trajs) == 2 and all(t.stop in ("max_rounds", "done") and t.rounds >= 1 for t in trajs)


def test_eval_on_an_original_agenteval_id_file(tmp_path):
    ids = tmp_path / "maze_test.json"
    ids.write_text(
        json.dumps(
            [
                {"item_id": "lmrlgym_maze_3"},
                {"item_id": "lmrlgym_maze_4", "conversations": []},
                {"item_id": "sqlgym_1"},
            ]
        )
    )
    res = invoke("eval", "--envs", "maze", "--items", ids, "--out", tmp_path / "run", "--no-progress")
    assert res.exit_code == 0, res.output
    assert [t.item_id for t in read_trajectories(tmp_path / "run")] == ["maze_3", "maze_4"]
    res = invoke("eval", "--envs", "wordle", "--items", ids, "--out", tmp_path / "run2", "--no-progress")
    assert res.exit_code == 2 and "no item of wordle" in res.output
