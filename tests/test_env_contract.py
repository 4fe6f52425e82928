"""Every registered env honours the `Env` contract, in process and behind a server.

One parametrised run of `agentgym.core.checker` per env of ``list_envs(available_only=True)`` - so a
new env (built in, or a plugin's through the entry point) is checked the day it is registered:
well-formed spec with disjoint splits, reset/step contracts and truncation, determinism, and the
expert on a sample of three test tasks (first, middle, last). The expert's full figures are
`make check-experts`; here it must solve at least one task of the sample, i.e. it works at all.

Then the same episode through a real server (the ``server`` fixture): an env must not behave
differently behind the wire - same observations, rewards, ends, info and expert replies, step by
step, as the same env in this process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agentgym.client.http import EnvClient
from agentgym.core.checker import check_env
from agentgym.core.react import parse_reply
from agentgym.core.registry import env_class, list_envs, make

HEAVY = {"sciworld", "alfworld"}  # a JVM / TextWorld engine: tens of seconds each
ENV_IDS = list_envs(available_only=True)


def _params() -> list[Any]:
    return [pytest.param(e, id=e, marks=[pytest.mark.heavy] if e in HEAVY else []) for e in ENV_IDS]


def sample_tasks(env_id: str) -> list[int]:
    """The first, middle and last test task (fewer if the split is that small)."""
    test = env_class(env_id).spec.split("test")
    return sorted({test[0], test[len(test) // 2], test[-1]})


def test_every_builtin_env_is_checked_here() -> None:
    """The light built-in envs must load on this machine: a missing one would silently shrink the
    parametrisation below (``available_only`` drops envs that fail to import)."""
    from agentgym.envs import BUILTIN

    assert set(BUILTIN) - HEAVY <= set(ENV_IDS)


@pytest.mark.parametrize("env_id", _params())
def test_checker_passes_on_a_sample(env_id: str) -> None:
    tasks = sample_tasks(env_id)
    report = check_env(env_id, expert_tasks=tasks)
    failed = {r.name: r.detail for r in report.results if not r.ok}
    assert not failed, failed
    assert [r.name for r in report.results] == ["splits", "contracts", "determinism", "expert"]
    assert report.expert_episodes == len(tasks)
    assert report.expert_success is not None and report.expert_success > 0, report.results[-1].detail


CLOCK_KEYS = {"elapsed_ms"}  # wall-clock measurements (bird's query time): differ run to run by nature


def _wire(info: dict[str, Any]) -> Any:
    """``info`` as it reads after a JSON round trip (tuples become lists, keys strings), less clocks."""
    return json.loads(json.dumps({k: v for k, v in info.items() if k not in CLOCK_KEYS}))


@pytest.mark.parametrize("env_id", _params())
def test_same_episode_over_http(env_id: str, server: Callable[..., str]) -> None:
    task = sample_tasks(env_id)[0]
    url = server([env_id])
    local = make(env_id)
    try:
        with EnvClient(url) as client, client.session(env_id) as remote:
            first_local, first_remote = local.reset(task, seed=3), remote.reset(task, seed=3)
            assert first_remote.text == first_local.text
            assert _wire(first_remote.info) == _wire(first_local.info)
            assert remote.instruction() == local.instruction()
            assert remote.available_actions() == local.available_actions()
            for _ in range(local.max_rounds):
                reply = local.expert_reply()
                assert remote.expert_reply() == reply
                action = parse_reply(reply, local.spec.action_format).action
                assert action is not None, reply
                mine, theirs = local.step(action), remote.step(action)
                assert (theirs.observation, theirs.reward, theirs.terminated, theirs.truncated) == (
                    mine.observation,
                    mine.reward,
                    mine.terminated,
                    mine.truncated,
                )
                assert _wire(theirs.info) == _wire(mine.info)
                assert remote.observation() == local.observation()
                if mine.done:
                    break
            assert local.done, f"the expert did not end task {task} within max_rounds={local.max_rounds}"
    finally:
        local.close()
