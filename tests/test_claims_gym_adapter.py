"""README claim: "`import agentgym.gym_adapter` registers `gymnasium.make("agentgym/Maze-v0")` and
friends for RL code" - checked for every env that loads here, not only maze and wordle.

Per env: `gymnasium.make` (with gymnasium's own wrappers, including its passive env checker),
reset on a given test task, the 5-tuple of `step` for a sampled action (an invalid action is an
observation, never an exception) and for the expert's action, an expert episode played to the end
through the adapter, and `gymnasium.utils.env_checker.check_env` without a warning.

Only behaviour that holds whatever the adapter's reset(seed) semantics and action sampling are:
``options["task_id"]`` picks the task, the same seed + task gives the same observation, sampled
actions are in the action space; nothing here depends on what a particular seed draws.
"""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym.gym_adapter as adapter
from agentgym.core.react import parse_reply
from agentgym.core.registry import list_envs
from agentgym.envs import BUILTIN

HEAVY = {"sciworld", "alfworld"}  # a JVM / TextWorld engine: seconds to minutes per env
README_ENVS = {
    "maze", "wordle", "babyai", "textcraft", "sciworld", "alfworld", "webshop", "bird",
    "weather", "movie", "academia", "sheet", "todo",
}  # fmt: skip
# Built-in envs only: other test modules register throwaway envs at runtime (collection order varies).
AVAILABLE = [e for e in list_envs(available_only=True) if e in BUILTIN]


def params() -> list:
    marks = [pytest.mark.heavy, pytest.mark.slow]
    return [pytest.param(e, id=e, marks=marks if e in HEAVY else []) for e in AVAILABLE]


def test_every_readme_env_loads_here_and_has_a_gymnasium_id():
    assert set(AVAILABLE) == README_ENVS == set(BUILTIN)
    ids = [adapter.gym_id(e) for e in AVAILABLE]
    assert len(set(ids)) == len(ids) and all(i in gymnasium.registry for i in ids)


def expert_action(env: gymnasium.Env) -> str:
    inner = env.unwrapped.env
    parsed = parse_reply(inner.expert_reply(), inner.spec.action_format)
    assert parsed.ok, parsed.error
    return parsed.action


def check_step(env: gymnasium.Env, out: tuple) -> dict:
    assert isinstance(out, tuple) and len(out) == 5
    obs, reward, terminated, truncated, info = out
    assert isinstance(obs, str) and env.observation_space.contains(obs)
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info, dict) and isinstance(info["invalid_action"], bool)
    return info


@pytest.mark.parametrize("env_id", params())
def test_gymnasium_adapter_serves_the_env(env_id: str) -> None:
    env = gymnasium.make(adapter.gym_id(env_id), render_mode="ansi")
    try:
        inner = env.unwrapped.env
        assert inner.spec.id == env_id
        task = inner.spec.split("test")[0]
        obs, info = env.reset(seed=3, options={"task_id": task})
        assert isinstance(obs, str) and obs and env.observation_space.contains(obs)
        assert info["task_id"] == task and isinstance(info["instruction"], str) and info["instruction"]
        acts = info["available_actions"]
        assert acts is None or (acts and all(isinstance(a, str) for a in acts))
        assert env.render() == inner.last_observation
        again, _ = env.reset(seed=3, options={"task_id": task})
        assert again == obs  # same seed and task: same episode start

        # a sampled action: any text the space holds is a legal call (at worst an invalid action)
        action = env.action_space.sample()
        assert env.action_space.contains(action)
        check_step(env, env.step(action))

        # the expert's action is a valid one; then its whole episode through the adapter
        env.reset(seed=3, options={"task_id": task})
        for _ in range(inner.max_rounds):
            obs, reward, terminated, truncated, info = out = env.step(expert_action(env))
            check_step(env, out)
            assert not info["invalid_action"]
            if terminated or truncated:
                break
        assert inner.done and terminated and not truncated
        assert info["success"] and reward >= inner.spec.success_threshold
        assert info["task_id"] == task
    finally:
        env.close()


@pytest.mark.parametrize("env_id", params())
def test_gymnasium_env_checker_passes(env_id: str) -> None:
    env = gymnasium.make(adapter.gym_id(env_id), render_mode="ansi")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        assert [str(w.message) for w in caught] == []  # not even a warning
    finally:
        env.close()
