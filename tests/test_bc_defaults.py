"""BC on a tiny model works as the README writes it, and a run that learns nothing says so.

The README's command is ``agentgym train bc --data data/traj.json --model PATH --out ckpt/bc``
with no ``--lr``. At the original's 1e-5 a tiny model from scratch keeps its loss near where it
started and nothing fails; the default now depends on the model (`default_lr`), and the stall
check prints a warning that names the learning rate when the loss has not moved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner

from agentgym.cli import app
from agentgym.train.config import FROM_SCRATCH_LR, PRETRAINED_LR, BCConfig, default_lr
from agentgym.train.sft import stall_message
from agentgym.train.tiny import build_tiny_model, texts_from_records


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Expert Maze trajectories, collected by the real CLI (as the README's first step)."""
    out = tmp_path_factory.mktemp("data") / "traj.json"
    res = CliRunner().invoke(
        app, ["collect", "--envs", "maze", "--limit", "32", "--out", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    records = json.loads(data.read_text())
    return build_tiny_model(
        list(texts_from_records(records)),
        tmp_path_factory.mktemp("tiny"),
        layers=2,
        hidden=64,
        vocab_size=400,
    )


def bc(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["train", "bc", *args])
    return res.exit_code, res.stdout, res.stderr


def test_default_lr_depends_on_the_model(tmp_path: Path, tiny: Path) -> None:
    assert default_lr(tiny) == FROM_SCRATCH_LR == 1e-3
    assert default_lr("meta-llama/Llama-2-7b-chat-hf") == PRETRAINED_LR == 1e-5
    assert default_lr(tmp_path) == PRETRAINED_LR  # a model folder without the tiny marker
    cfg = BCConfig(data=[tmp_path / "x.json"], model=str(tiny), out=tmp_path / "o")
    assert cfg.lr is None and cfg.train_config().lr == 1e-3
    assert (
        BCConfig(data=[tmp_path / "x.json"], model=str(tiny), out=tmp_path, lr=2e-4).train_config().lr == 2e-4
    )


@pytest.mark.slow  # ~6-10 s (a CLI training run): out of `make test-fast`
def test_readme_bc_command_learns_on_a_tiny_model(tmp_path: Path, data: Path, tiny: Path) -> None:
    """The README's line as written (only smaller: --batch-size 4 for more steps on little data)."""
    code, out, err = bc(
        "--data", str(data), "--model", str(tiny), "--out", str(tmp_path / "bc"), "--batch-size", "4"
    )
    assert code == 0, out + err
    assert "learning rate 0.001 (the default for a tiny model trained from scratch" in out
    meta = json.loads((tmp_path / "bc" / "bc_meta.json").read_text())
    assert meta["config"]["lr"] == 1e-3
    # it learns: 21 % below the untrained loss after 20 of 24 steps (at 1e-5: about 2 %)
    assert meta["loss_curve"][-1] < 0.85 * meta["first_loss"], (meta["first_loss"], meta["loss_curve"])
    assert meta["warnings"] == [] and "hardly learning" not in err
    assert "[train] step " in out and "| loss " in out  # plain progress lines: stdout is not a TTY


@pytest.mark.slow  # ~5-10 s (a CLI training run): out of `make test-fast`
def test_a_run_that_does_not_learn_warns(tmp_path: Path, data: Path, tiny: Path) -> None:
    code, out, err = bc(
        "--data", str(data), "--model", str(tiny), "--out", str(tmp_path / "bc"),
        "--lr", "1e-5", "--max-steps", "20", "--batch-size", "4",
    )  # fmt: skip
    assert code == 0, out + err
    assert "warning: after 10 of 20 steps the training loss is" in err
    assert "The learning rate is 1e-05" in err and "--lr 1e-3" in err
    meta = json.loads((tmp_path / "bc" / "bc_meta.json").read_text())
    assert meta["warnings"] and meta["warnings"][0].startswith("warning: after 10 of 20 steps")


def test_stall_rule() -> None:
    assert stall_message(6.3, 6.2, 10, 50, 1e-5) is not None  # 1.6 % lower: not learning
    assert stall_message(6.3, 5.4, 10, 50, 1e-3) is None  # 14 % lower: learning
    assert stall_message(6.02, 5.58, 10, 50, 1e-3) is None  # the first mean of a 1e-3 run: 7 % lower
    assert stall_message(0.30, 0.30, 10, 50, 1e-5) is None  # already fits the data (retrain_from: last)
    assert stall_message(2.0, 2.3, 10, 50, 3e-3) is not None  # going up is not learning either
