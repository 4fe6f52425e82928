"""BabyAI: level mapping, text layer, macro actions, rewards, expert, HTTP."""

from __future__ import annotations

import pytest

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.react import parse_reply
from agentgym.envs.babyai import tasks
from agentgym.envs.babyai.env import BabyAIEnv
from agentgym.envs.babyai.macros import FORWARD, LEFT, PICKUP, RIGHT, compile_macros
from agentgym.envs.babyai.text import see


@pytest.fixture()
def env() -> BabyAIEnv:
    return BabyAIEnv()


def test_levels_follow_minigrid_registry_and_original_mapping() -> None:
    import gymnasium
    import minigrid  # noqa: F401

    registered = [k for k in gymnasium.registry if k.startswith("BabyAI-")]
    assert len(tasks.LEVELS) == 40 and all(lv in registered for lv in tasks.LEVELS)
    positions = [registered.index(lv) for lv in tasks.LEVELS]
    assert positions == sorted(positions)  # the original's order is the registry's
    assert (
        tasks.LEVELS[0] == "BabyAI-GoToRedBallGrey-v0" and tasks.LEVELS[-1] == "BabyAI-BossLevelNoUnlock-v0"
    )
    assert tasks.level_and_seed(0) == ("BabyAI-GoToRedBallGrey-v0", 0)
    assert tasks.level_and_seed(845) == (tasks.LEVELS[5], 21)
    sp = BabyAIEnv.spec.splits
    assert sp["test"] == list(range(810, 900)) and sp["train"] == list(range(810))


def test_reset_observation_and_info(env: BabyAIEnv) -> None:
    obs = env.reset(0)
    game = tasks.make_task(0)
    assert obs.text.startswith(f"Your goal: {game.mission}\n")
    assert "Available actions: turn left, turn right" in obs.text
    assert obs.info["score"] == 0.0 and obs.info["level"] == "BabyAI-GoToRedBallGrey-v0"
    assert env.available_actions()[-1] == "check available actions"


def test_text_layer_matches_the_grid(env: BabyAIEnv) -> None:
    env.reset(0)
    view = see(env.game)
    for o in view.objects:  # every named object is where minigrid has it
        assert env.game.grid.get(*o.pos).type == o.kind
        assert f"{o.label}," in env.last_observation
    # offsets are consistent with the absolute position and heading
    fx, fy = env.game.dir_vec
    for o in view.objects:
        dx, dy = o.pos[0] - view.pos[0], o.pos[1] - view.pos[1]
        assert o.ahead == dx * fx + dy * fy and o.right == dx * -fy + dy * fx


def test_macros_compile_to_valid_primitive_paths(env: BabyAIEnv) -> None:
    env.reset(16)  # Pickup level: objects to pick
    acts, _ = compile_macros(env.view)
    picks = [a for a in acts if a.startswith("pick up ")]
    assert picks
    steps = acts[picks[0]]
    assert steps[-1] == PICKUP and set(steps[:-1]) <= {LEFT, RIGHT, FORWARD}
    res = env.step(picks[0])
    assert not res.info["invalid_action"]
    assert env.game.carrying is not None and "You are carrying a" in res.observation
    assert len(env.primitives) == len(steps) or res.terminated


def test_invalid_actions_explain_and_change_nothing(env: BabyAIEnv) -> None:
    env.reset(16)
    before = (tuple(env.game.agent_pos), env.game.agent_dir, env.game.step_count)
    for bad in ("fly away", "drop", "pick up purple unicorn 1", "go through red open door 9"):
        res = env.step(bad)
        assert res.info["invalid_action"] and res.reward == 0.0 and not res.done
        assert "Available actions:" in res.observation
    assert "not carrying anything" in env.step("drop").observation
    assert (tuple(env.game.agent_pos), env.game.agent_dir, env.game.step_count) == before
    res = env.step("check available actions")
    assert not res.info["invalid_action"] and "You can take these actions." in res.observation


def test_turns_and_forward_move_the_agent(env: BabyAIEnv) -> None:
    env.reset(0)
    d = env.game.agent_dir
    env.step("turn left")
    assert env.game.agent_dir == (d - 1) % 4
    env.step("turn right")
    env.step("turn right")
    assert env.game.agent_dir == (d + 1) % 4


def test_reward_is_minigrids_and_score_accumulates(env: BabyAIEnv) -> None:
    reward, ok, _ = run_expert_episode(env, 0)
    assert ok and 0 < reward <= 1
    expected = 1 - 0.9 * env.game.step_count / env.game.max_steps
    assert reward == pytest.approx(expected)
    assert env.is_success(reward) and not env.is_success(0.0)


def test_determinism(env: BabyAIEnv) -> None:
    a = run_expert_episode(env, 845, seed=3)[2]
    b = run_expert_episode(BabyAIEnv(), 845, seed=3)[2]
    assert a == b


def test_checker_and_expert_subset() -> None:
    ids = BabyAIEnv.spec.split("test")
    subset = ids[:40:4]  # a spread of levels; the full split is measured in benchmarks/
    report = check_env("babyai", expert_tasks=subset)
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success is not None and report.expert_success >= 0.9


def test_over_http() -> None:
    testing = pytest.importorskip("agentgym.server.testing")
    from agentgym.client.http import EnvClient

    with testing.run_server(["babyai"]) as url, EnvClient(url) as client:
        with client.session("babyai") as s:
            obs = s.reset(1)
            assert obs.text.startswith("Your goal:") and obs.info["score"] == 0.0
            bad = s.step("fly away")
            assert bad.info["invalid_action"]
            res = None
            for _ in range(19):
                res = s.step(parse_reply(s.expert_reply(), "react_line").action)
                if res.done:
                    break
            assert res is not None and res.reward > 0 and res.info["success"]
            assert res.info["score"] == pytest.approx(res.reward)
