"""`agentgym envs | play | check` through typer's CliRunner, and the gymnasium adapter."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
import typer
from typer.testing import CliRunner

from agentgym import cli_envs
from agentgym.core import registry
from agentgym.core.checker import run_expert_episode
from agentgym.core.env import Env
from agentgym.core.react import format_reply, parse_reply
from agentgym.core.registry import make, register
from agentgym.core.types import EnvSpec, StepResult

runner = CliRunner()


def invoke(app: typer.Typer, args: list[str], input: str | None = None):
    """Run a command with a wide terminal, so rich does not wrap the lines the tests look for."""
    return runner.invoke(app, args, input=input, env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    cli_envs.register(app)
    return app


def test_registered_in_the_main_cli() -> None:
    from agentgym import cli

    assert "agentgym.cli_envs" in cli.COMMAND_MODULES


# ------------------------------------------------------------------------ envs
def test_envs_lists_specs_and_unavailable_envs(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.list_envs()  # load the built-in entries first
    monkeypatch.setitem(registry._entries, "ghost", "agentgym.envs.ghost_does_not_exist.env:GhostEnv")
    res = invoke(app, ["envs"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines() if len(line.split()) > 4}
    assert "train=4520, test=25" in lines["maze"] and "15" in lines["maze"] and "react_first" in lines["maze"]
    assert "train=4000, test=25" in lines["wordle"] and "success" in lines["wordle"]
    assert "unavailable" in lines["ghost"]
    assert "ghost unavailable: ModuleNotFoundError" in res.output


# ------------------------------------------------------------------------ play
def _expert_moves(env_id: str, task: int, seed: int = 0) -> list[str]:
    env = make(env_id)
    env.reset(task, seed)
    moves = []
    while not env.done:
        action = parse_reply(env.expert_reply(), env.spec.action_format).action
        moves.append(action)
        env.step(action)
    return moves


def test_play_maze_to_the_goal(app: typer.Typer) -> None:
    moves = _expert_moves("maze", 0)
    typed = [
        ":actions",
        ":hint",
        ":map",
        "move up",
        "Thought: right is open\\nAction: move right",
        *moves[1:],
    ]
    res = invoke(app, ["play", "maze", "--task", "0"], input="\n".join(typed) + "\n")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "maze task 0 seed 0" in out and "The goal is at (8, 6). You are at (1, 1)." in out
    assert "move up, move down, move left, move right" in out  # :actions
    assert "expert: Thought: I can only move right." in out  # :hint
    assert "#@....#.....#" in out  # :map
    assert "You cannot move up: there is a wall" in out
    assert "You are at (1, 2)" in out  # the ReAct-style line was parsed
    assert "Success! You reached the goal" in out
    assert f"success, final reward 1, {len(moves) + 1} rounds, 0 invalid" in out


def test_play_wordle_invalid_then_quit(app: typer.Typer) -> None:
    typed = ["xyzzy", "c r a n e", ":actions", ":bogus", ":quit", "slate"]
    res = invoke(app, ["play", "wordle", "--task", "3", "--seed", "2"], input="\n".join(typed) + "\n")
    assert res.exit_code == 0, res.output
    assert "not in the word list" in res.output and "(invalid)" in res.output
    assert "Feedback for c r a n e:" in res.output
    assert "cannot list its actions" in res.output and "unknown command" in res.output
    assert "bye" in res.output and "s l a t e" not in res.output


def test_play_wins_wordle_with_the_experts_guesses(app: typer.Typer) -> None:
    guesses = _expert_moves("wordle", 7, seed=1)
    res = invoke(app, ["play", "wordle", "-t", "7", "-s", "1"], input="\n".join(guesses) + "\n")
    assert res.exit_code == 0 and "you win!" in res.output and "success, final reward 1" in res.output


def test_play_truncation_and_end_of_input(app: typer.Typer) -> None:
    res = invoke(app, ["play", "maze", "--task", "0"], input="move up\n" * 15)
    assert "round limit (15) reached" in res.output and "no success" in res.output
    res = invoke(app, ["play", "maze", "--task", "0"], input="move right\n")
    assert res.exit_code == 0 and "end of input" in res.output


def test_play_bad_task_or_env(app: typer.Typer) -> None:
    res = invoke(app, ["play", "maze", "--task", "99"])
    assert res.exit_code == 2 and "not in any split" in res.output
    res = invoke(app, ["play", "no-such-env", "--task", "0"])
    assert res.exit_code == 2 and "unknown env" in res.output


# ----------------------------------------------------------------------- check
class _Sloppy(Env):
    """Accepts nonsense without flagging it (a contract violation the checker must catch)."""

    spec = EnvSpec(
        id="cli-sloppy",
        version="1",
        max_rounds=3,
        metric="success",
        action_format="react_first",
        splits={"test": [0, 1]},
    )

    def instruction(self) -> str:
        return "Say done."

    def _reset(self, task_id: int) -> str:
        return "start"

    def _step(self, action: str) -> StepResult:
        return StepResult("ok", float(action == "done"), action == "done", False, {})

    def expert_reply(self) -> str:
        return format_reply("Finish.", "done")


class _Clueless(_Sloppy):
    """Honours the contract but its expert never succeeds."""

    spec = _Sloppy.spec.model_copy(update={"id": "cli-clueless"})

    def _step(self, action: str) -> StepResult:
        return StepResult("ok", 0.0, False, False, {"invalid_action": action != "wait"})

    def expert_reply(self) -> str:
        return format_reply("Hmm.", "wait")


def test_check_passes_on_maze(app: typer.Typer) -> None:
    res = invoke(app, ["check", "maze", "--tasks", "3"])
    assert res.exit_code == 0, res.output
    for name in ("splits", "contracts", "determinism", "expert"):
        assert name in res.output
    assert "3/3 test tasks solved" in res.output and "expert success: 100.0% on 3 test tasks" in res.output
    assert "FAIL" not in res.output


@pytest.fixture()
def broken_envs():
    for cls in (_Sloppy, _Clueless):
        register(cls.spec.id, cls)
    yield
    for cls in (_Sloppy, _Clueless):
        registry._entries.pop(cls.spec.id, None)
        registry._loaded.pop(cls.spec.id, None)


@pytest.mark.usefixtures("broken_envs")
def test_check_fails_on_contract_violation_and_low_expert(app: typer.Typer) -> None:
    res = invoke(app, ["check", "cli-sloppy"])
    assert res.exit_code == 1 and "FAIL" in res.output and "must be flagged invalid" in res.output
    res = invoke(app, ["check", "cli-clueless"])
    assert res.exit_code == 1 and "FAIL" not in res.output and "below --min-expert" in res.output
    res = invoke(app, ["check", "cli-clueless", "--min-expert", "0"])
    assert res.exit_code == 0


def test_check_bad_arguments(app: typer.Typer) -> None:
    assert invoke(app, ["check", "no-such-env"]).exit_code == 2
    assert invoke(app, ["check", "maze", "--tasks", "0"]).exit_code == 2


# ------------------------------------------------------------- gymnasium adapter
def test_gymnasium_ids_for_every_registered_env() -> None:
    from agentgym import gym_adapter

    assert gym_adapter.gym_id("maze") == "agentgym/Maze-v0"
    assert gym_adapter.gym_id("babyai") == "agentgym/BabyAI-v0"
    assert gym_adapter.gym_id("my_env") == "agentgym/MyEnv-v0"
    ids = gym_adapter.register_gymnasium_envs()
    assert len(ids) == len(set(ids)) == len(registry.list_envs())
    for env_id in ("maze", "wordle", "babyai", "sciworld"):
        assert gym_adapter.gym_id(env_id) in gymnasium.registry


@pytest.mark.parametrize(("gid", "env_id"), [("agentgym/Maze-v0", "maze"), ("agentgym/Wordle-v0", "wordle")])
def test_gymnasium_make_and_expert_episode(gid: str, env_id: str) -> None:
    import agentgym.gym_adapter  # noqa: F401  (registers the ids)

    env = gymnasium.make(gid)
    obs, info = env.reset(seed=4, options={"task_id": 2})
    assert isinstance(obs, str) and env.observation_space.contains(obs)
    assert info["task_id"] == 2 and info["instruction"]
    inner = env.unwrapped.env
    assert inner.spec.id == env_id
    for _ in range(inner.max_rounds):
        action = parse_reply(inner.expert_reply(), inner.spec.action_format).action
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert terminated and reward == 1.0 and info["success"]
    # the same through agentgym directly gives the same final observation
    assert run_expert_episode(make(env_id), 2, seed=4)[2][-1] == obs
    env.close()


def test_gymnasium_reset_draws_tasks_reproducibly() -> None:
    import agentgym.gym_adapter  # noqa: F401

    env = gymnasium.make("agentgym/Maze-v0", render_mode="ansi")
    a = [env.reset(seed=s)[1]["task_id"] for s in range(6)]
    b = [env.reset(seed=s)[1]["task_id"] for s in range(6)]
    assert a == b and len(set(a)) > 1 and all(t in range(25) for t in a)
    _, info = env.reset(seed=1, options={"split": "train"})
    assert info["task_id"] in set(env.unwrapped.env.spec.split("train"))
    assert env.render() == env.unwrapped.env.last_observation
    obs, reward, terminated, truncated, info = env.step("dance")
    assert info["invalid_action"] and reward == 0 and not terminated


@pytest.mark.parametrize("gid", ["agentgym/Maze-v0", "agentgym/Wordle-v0"])
def test_gymnasium_env_checker(gid: str) -> None:
    from gymnasium.utils.env_checker import check_env

    import agentgym.gym_adapter  # noqa: F401

    env = gymnasium.make(gid, render_mode="ansi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []  # not even a warning
    env.close()
