"""Rough edges a newcomer hit: undocumented options, help and tables cut at 80 columns, a spec
whose repr dumps thousands of ids, gymnasium samples of 100,000 random characters and a reset that
played an unstated task, and ``--progress`` defaults that differed between commands."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest
import typer.main
from rich.pretty import pretty_repr

import agentgym.gym_adapter  # noqa: F401  (registers the gymnasium ids)
from agentgym.cli import app
from agentgym.core.registry import make, spec

SRC = str(Path(__file__).resolve().parents[1] / "src")
COMMANDS = [("eval",), ("collect",), ("evol",), ("train", "bc"), ("train", "tiny")]


def command(*path: str):  # a click command
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_option_has_help(path: tuple[str, ...]) -> None:
    undocumented = [
        p.opts[0]
        for p in command(*path).params
        if p.param_type_name == "option" and not (p.help or "").strip()
    ]
    assert undocumented == []


def test_progress_defaults_agree() -> None:
    """``--progress`` is on by default for every command that has it (a bar or log lines)."""
    defaults = {}
    for path in COMMANDS[:4]:
        opt = next(p for p in command(*path).params if p.name == "progress")
        defaults[" ".join(path)] = opt.default
    assert defaults == {"eval": True, "collect": True, "evol": True, "train bc": True}
    for path in COMMANDS[:3]:
        every = next(p for p in command(*path).params if p.name == "progress_every")
        assert every.default == 30.0


def cli_80(*args: str) -> str:
    """The CLI in a subprocess on an 80-column 'terminal' (COLUMNS), output captured."""
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    proc = subprocess.run(
        [sys.executable, "-m", "agentgym.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "agentgym")
def test_help_is_readable_at_80_columns(path: tuple[str, ...]) -> None:
    text = cli_80(*path, "--help")
    assert "…" not in text and "..." not in text.replace("[ARGS]...", "")  # nothing cut
    assert max(map(len, text.splitlines())) <= 80
    if path:  # every long option name appears whole
        for p in command(*path).params:
            for opt in [*p.opts, *getattr(p, "secondary_opts", [])]:
                if opt.startswith("--"):
                    assert opt in text, opt
    else:  # each command's first sentence in full, wrapped rather than cut
        flat = " ".join(text.split())
        assert "check a running env server's HTTP protocol (any implementation) for conformance." in flat


def test_envs_table_fits_80_columns() -> None:
    text = cli_80("envs")
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for env_id in ("academia", "alfworld", "textcraft", "webshop"):
        assert f" {env_id} " in text
    for fmt in ("react_first", "react_last", "react_line", "sql_block"):
        assert fmt in text  # action formats never broken
    maze = next(line for line in text.splitlines() if line.strip().startswith("maze "))
    assert "train=4520, test=25" in maze


def test_env_spec_repr_is_a_summary() -> None:
    s = spec("maze")
    text = repr(s)
    assert len(text) < 800 and "4999" in text and "1000, 1001" not in text
    assert "splits={train: 4520 ids 100..4999, test: 25 ids 0-24}" in text
    assert len(str(s)) < 800 and len(pretty_repr(s)) < 1000
    assert len(s.splits["train"]) == 4520 and s.model_dump()["splits"] == s.splits  # data unchanged


# ----------------------------------------------------------------------------- gymnasium adapter
def test_action_space_is_bounded_and_samples_available_actions() -> None:
    env = gymnasium.make("agentgym/Maze-v0")
    inner = env.unwrapped.env
    assert env.action_space.max_length == inner.spec.max_action_chars
    env.reset(seed=0, options={"task_id": 1})
    env.action_space.seed(0)
    samples = [env.action_space.sample() for _ in range(20)]
    assert set(samples) <= set(inner.available_actions()) and len(set(samples)) > 1
    env.close()


def test_sample_without_listed_actions_is_short_text() -> None:
    env = gymnasium.make("agentgym/Wordle-v0")
    env.reset(seed=0, options={"task_id": 0})
    assert env.unwrapped.env.available_actions() is None
    env.action_space.seed(0)
    samples = [env.action_space.sample() for _ in range(50)]
    assert all(1 <= len(a) <= 32 and env.action_space.contains(a) and a.isprintable() for a in samples)
    # a copied or pickled space (vector envs) does not drag the env along
    for clone in (copy.deepcopy(env.action_space), pickle.loads(pickle.dumps(env.action_space))):
        assert clone._actions is None and 1 <= len(clone.sample()) <= 32
    env.close()


def test_reset_says_which_task_and_refuses_unknown_options() -> None:
    env = gymnasium.make("agentgym/Maze-v0")
    test_ids = set(spec("maze").split("test"))
    _, info = env.reset(seed=5)
    assert info["split"] == "test" and info["task_id"] in test_ids
    assert env.reset(seed=5)[1]["task_id"] == info["task_id"]  # the seed fixes the drawn task
    _, info = env.reset(seed=5, options={"task_id": 7})
    assert (info["task_id"], info["split"]) == (7, None)
    with pytest.raises(ValueError, match="unknown reset option.*task_id"):
        env.reset(options={"task": 3})
    env.close()
    train = gymnasium.make("agentgym/Maze-v0", split="train")
    _, info = train.reset(seed=1)
    assert info["split"] == "train" and info["task_id"] in set(spec("maze").split("train"))
    train.close()
    with pytest.raises(KeyError, match="no split 'dev'"):
        gymnasium.make("agentgym/Maze-v0", split="dev")


def test_plain_env_still_works_after_adapter_changes() -> None:
    """The adapter wraps; agentgym's own env is untouched."""
    env = make("maze")
    env.reset(1)
    assert env.available_actions() == ["move up", "move down", "move left", "move right"]
