"""Unit tests of agentgym.core: types, reply parsing, seeding, registry and the Env base contract
(with a tiny env defined here)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

import agentgym
from agentgym.core import registry
from agentgym.core.env import Env, invalid
from agentgym.core.errors import EpisodeOver, NoExpert, NotReset, UnknownEnv, UnknownTask
from agentgym.core.react import FORMAT_HINT, format_reply, parse_reply
from agentgym.core.seeding import derive_seed, make_np_rng, make_rng
from agentgym.core.types import EnvSpec, Observation, StepResult, Trajectory, Turn, item_id, parse_item_id


# ------------------------------------------------------------------ the tiny env
class GuessEnv(Env):
    """Guess a number 0..9 drawn from the env RNG; "hint" is an invalid action that reveals parity."""

    spec = EnvSpec(
        id="core-guess",
        version="2",
        max_rounds=4,
        metric="success",
        action_format="react_first",
        splits={"train": [100, 101, 102], "test": [0, 1]},
    )

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.secret = -1
        self.closed = False

    def instruction(self) -> str:
        return "Guess the number from 0 to 9."

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        self.secret = self.rng.randrange(10)
        return "Guess!", {"task": task_id}

    def _step(self, action: str) -> StepResult:
        if not action.isdigit():
            return invalid(f"{action!r} is not a number", parity=self.secret % 2)
        if int(action) == self.secret:
            return StepResult("right", 1.0, True, False, {})
        return StepResult("higher" if int(action) < self.secret else "lower", 0.0, False, False, {})

    def available_actions(self) -> list[str]:
        return [str(i) for i in range(10)]

    def close(self) -> None:
        self.closed = True


class NoExpertEnv(GuessEnv):
    spec = GuessEnv.spec.model_copy(update={"id": "core-noexpert"})

    def available_actions(self) -> None:  # type: ignore[override]
        return None


# ------------------------------------------------------------------------ types
def test_step_result_done_and_frozen() -> None:
    assert StepResult("o", 0.0, False, True).done and StepResult("o", 1.0, True, False).done
    res = StepResult("o", 0.0, False, False)
    assert not res.done and res.info == {}
    with pytest.raises(AttributeError):
        res.reward = 1.0  # type: ignore[misc]
    assert Observation("x").info == {}


def test_env_spec_validation_and_split() -> None:
    spec = GuessEnv.spec
    assert spec.split("test") == [0, 1] and spec.success_threshold == 1.0 and not spec.blocking
    with pytest.raises(KeyError, match="has no split 'dev'"):
        spec.split("dev")
    with pytest.raises(ValidationError):
        EnvSpec(id="x", version="1", max_rounds=3, metric="accuracy", action_format="raw", splits={})
    with pytest.raises(ValidationError):
        spec.max_rounds = 9  # type: ignore[misc]
    assert EnvSpec.model_validate_json(spec.model_dump_json()) == spec


def test_turn_and_trajectory_round_trip() -> None:
    record = {
        "item_id": "maze_3",
        "conversations": [
            {"from": "human", "value": "go", "loss": None},
            {"from": "gpt", "value": "Ok.", "loss": False},
            {"from": "gpt", "value": "Thought: x\nAction: move up", "loss": True},
        ],
    }
    traj = Trajectory.model_validate(record)  # an original AgentTraj record loads with defaults
    assert traj.conversations[2].from_ == "gpt" and traj.reward == 0.0 and traj.key == "maze_3#0"
    dumped = traj.dump()
    assert dumped["conversations"] == record["conversations"]
    assert Trajectory.model_validate(dumped) == traj
    with pytest.raises(ValidationError):
        Turn.model_validate({"from": "system", "value": "x"})


def test_item_ids() -> None:
    assert item_id("maze", 3) == "maze_3"
    assert parse_item_id("tool_weather_12") == ("tool_weather", 12)
    for bad in ("maze", "maze_x", "_3"):
        with pytest.raises(ValueError):
            parse_item_id(bad)


# ------------------------------------------------------------------------ react
@pytest.mark.parametrize(
    ("reply", "fmt", "action"),
    [
        ("Thought: go\nAction: move up", "react_first", "move up"),
        ("Thought: go\nAction: move up\nAction: move down", "react_first", "move up"),
        ("Thought: a\n\nAction:\nclick[Buy Now]", "react_last", "click[Buy Now]"),
        ("Action: search[x]\nThought: no\nAction: click[y]</s>", "react_last", "click[y]"),
        ("action :  go to desk 1! \nmore", "react_line", "go to desk 1"),
        ("Thought: q\nAction:\n```sql\nSELECT 1;\n```", "sql_block", "SELECT 1;"),
        ("```sql\nSELECT 1\n```\n```SQL\nSELECT 2\n```", "sql_block", "SELECT 2"),
        ("  whatever the tool gets<|im_end|>", "raw", "whatever the tool gets"),
    ],
)
def test_parse_reply(reply: str, fmt: Any, action: str) -> None:
    parsed = parse_reply(reply, fmt)
    assert parsed.ok and parsed.action == action and parsed.error is None


@pytest.mark.parametrize(
    ("reply", "fmt", "error"),
    [
        ("Thought: I am lost", "react_first", "No action found"),
        ("Thought: x\nAction:   ", "react_last", "The action is empty"),
        ("Action: a\nAction: b", "react_line", "more than one Action"),
        ("SELECT 1", "sql_block", "No ```sql"),
        ("```sql\n \n```", "sql_block", "SQL block is empty"),
        ("", "raw", "empty"),
    ],
)
def test_parse_reply_errors(reply: str, fmt: Any, error: str) -> None:
    parsed = parse_reply(reply, fmt)
    assert not parsed.ok and parsed.action is None and error in parsed.error
    assert FORMAT_HINT[fmt] in parsed.error


def test_format_reply_round_trips() -> None:
    reply = format_reply("the goal is below", "move down")
    assert reply == "Thought: the goal is below\nAction: move down"
    assert parse_reply(reply, "react_first").action == "move down"


# ---------------------------------------------------------------------- seeding
def test_seeds_are_stable_and_distinct() -> None:
    assert derive_seed("maze", "1", 3, 0) == derive_seed("maze", "1", 3, 0)
    assert len({derive_seed("maze", "1", t, s) for t in range(20) for s in range(5)}) == 100
    assert 0 <= derive_seed("x") < 2**63
    a, b = make_rng("e", 1), make_rng("e", 1)
    assert [a.random() for _ in range(5)] == [b.random() for _ in range(5)]
    assert make_np_rng("e", 1).integers(0, 10**9) == make_np_rng("e", 1).integers(0, 10**9)


def test_seed_does_not_depend_on_the_process() -> None:
    """Python's hash() is salted per process; derive_seed must not be."""
    code = "from agentgym.core.seeding import derive_seed; print(derive_seed('wordle', '1', 7, 2))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout
        for env in ({**os.environ, "PYTHONHASHSEED": "1"}, {**os.environ, "PYTHONHASHSEED": "2"})
    }
    assert outs == {f"{derive_seed('wordle', '1', 7, 2)}\n"}


def test_global_random_is_untouched() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    env = GuessEnv()
    env.reset(0)
    env.step("5")
    env.random_action(random.Random(0))
    assert random.random() == expected


# --------------------------------------------------------------------- registry
@pytest.fixture()
def scratch_registry():
    """Register test envs for one test only, so other test modules never see them."""
    added: list[str] = []

    def add(env_id: str, entry: Any) -> None:
        registry.register(env_id, entry)
        added.append(env_id)

    yield add
    for env_id in added:
        registry._entries.pop(env_id, None)
        registry._loaded.pop(env_id, None)


def test_registry_register_make_and_errors(scratch_registry: Any) -> None:
    scratch_registry("core-guess", GuessEnv)
    env = agentgym.make("core-guess", max_rounds=2)
    assert isinstance(env, GuessEnv) and env.max_rounds == 2
    assert agentgym.spec("core-guess") is GuessEnv.spec
    assert "core-guess" in agentgym.list_envs() and "maze" in agentgym.list_envs()
    with pytest.raises(UnknownEnv, match="unknown env 'nope'"):
        agentgym.make("nope")
    scratch_registry("core-by-path", "test_core:GuessEnv")  # the lazy "module:Class" form
    assert registry.env_class("core-by-path") is GuessEnv


def test_registry_import_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.list_envs()
    monkeypatch.setitem(registry._entries, "core-missing", "agentgym.envs.not_here.env:X")
    with pytest.raises(ImportError, match="needs a package that is not installed"):
        registry.env_class("core-missing")
    assert "core-missing" in registry.list_envs()
    assert "core-missing" not in registry.list_envs(available_only=True)
    assert {"maze", "wordle"} <= set(registry.list_envs(available_only=True))


# -------------------------------------------------------------- Env base contract
def test_reset_step_and_info_keys() -> None:
    env = GuessEnv()
    obs = env.reset(0)
    assert obs == Observation("Guess!", {"task": 0}) and env.observation() == "Guess!"
    res = env.step("hint")
    assert res.info["invalid_action"] and res.info["parity"] == env.secret % 2
    assert res.info["success"] is False and res.info["rounds"] == 1 and not res.done
    assert env.observation() == res.observation
    res = env.step(str(env.secret))
    assert (
        res.terminated
        and res.reward == 1.0
        and res.info == {"invalid_action": False, "success": True, "rounds": 2}
    )
    with pytest.raises(EpisodeOver):
        env.step("1")
    env.reset(1)  # a new episode after the end
    assert env.rounds == 0 and not env.done


def test_errors_before_reset_and_unknown_tasks() -> None:
    env = GuessEnv()
    with pytest.raises(NotReset):
        env.step("1")
    with pytest.raises(NotReset):
        env.observation()
    for bad in (2, 99, -1, "0", 0.0):
        with pytest.raises(UnknownTask):
            env.reset(bad)  # type: ignore[arg-type]
    assert env.is_valid_task(101) and not env.is_valid_task(103)


def test_truncation_at_max_rounds() -> None:
    env = GuessEnv(max_rounds=3)
    env.reset(0)
    wrong = str((env.secret + 1) % 10)
    results = [env.step(wrong) for _ in range(3)]
    assert [r.truncated for r in results] == [False, False, True]
    assert not results[-1].terminated and env.done
    assert GuessEnv().max_rounds == 4  # the spec's default


def test_rng_per_task_and_seed() -> None:
    def secrets(seed: int | None) -> list[int]:
        env = GuessEnv()
        out = []
        for task in (0, 1, 100, 101, 102):
            env.reset(task, seed)
            out.append(env.secret)
        return out

    assert secrets(None) == secrets(0) == secrets(0)  # None means seed 0
    runs = {tuple(secrets(s)) for s in range(6)}
    assert len(runs) > 1
    env = GuessEnv()
    env.reset(0, 5)
    first = env.secret
    env.reset(1, 5)
    env.reset(0, 5)
    assert env.secret == first and env.seed == 5  # re-derived on every reset: order does not matter


def test_random_action_and_expert_defaults() -> None:
    env = GuessEnv()
    env.reset(0)
    acts = {env.random_action(random.Random(i)) for i in range(30)}
    assert acts <= set(env.available_actions()) and len(acts) > 3
    with pytest.raises(NoExpert):
        env.expert_reply()
    other = NoExpertEnv()
    other.reset(0)
    with pytest.raises(NotImplementedError, match="override random_action"):
        other.random_action(random.Random(0))


def test_context_manager_closes_and_repr() -> None:
    with GuessEnv() as env:
        env.reset(1)
        assert "core-guess v2 task=1" in repr(env)
    assert env.closed


def test_success_threshold() -> None:
    env = GuessEnv()
    assert env.is_success(1.0) and not env.is_success(0.99)

    class LaxGuess(GuessEnv):
        spec = GuessEnv.spec.model_copy(update={"success_threshold": 0.5})

    class StrictGuess(GuessEnv):
        spec = GuessEnv.spec.model_copy(update={"success_threshold": 1.5})

    assert LaxGuess().is_success(0.5) and not LaxGuess().is_success(0.49)
    # the spec's threshold decides a finished episode's info["success"], the same reward 1.0 either way
    for cls, success in ((GuessEnv, True), (StrictGuess, False)):
        e = cls()
        e.reset(0)
        res = e.step(str(e.secret))
        assert res.terminated and res.reward == 1.0 and res.info["success"] is success


def test_task_id_cache_survives_reused_object_ids():
    """A spec freed and a new one allocated at the same address must not share cached task ids."""
    import gc

    from agentgym.core.env import _task_ids
    from agentgym.core.types import EnvSpec

    def spec(n: int) -> EnvSpec:
        return EnvSpec(
            id=f"s{n}", version="1", max_rounds=1, metric="success", action_format="raw",
            splits={"test": [n]},
        )  # fmt: skip

    first = spec(0)
    assert _task_ids(first) == {0}
    old = id(first)
    del first
    gc.collect()
    for n in range(1, 5000):  # CPython hands a freed address out again soon
        s = spec(n)
        assert _task_ids(s) == {n}
        if id(s) == old:
            break
