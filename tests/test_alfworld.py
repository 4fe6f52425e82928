"""ALFWorld on TextWorld's PDDL engine with offline-generated games (and the official-data path).

Generates ~6 games into a temporary cache (2-10 s each on a loaded machine); ~60-90 s in all.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("textworld")

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.registry import make
from agentgym.envs.alfworld import generate, tasks
from agentgym.envs.alfworld.env import clean_step

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module", autouse=True)
def game_cache(tmp_path_factory: pytest.TempPathFactory):
    """Games are generated into a fresh cache, so generation itself is tested."""
    saved = {k: os.environ.get(k) for k in ("AGENTGYM_CACHE", "ALFWORLD_DATA")}
    os.environ["AGENTGYM_CACHE"] = str(tmp_path_factory.mktemp("agentgym-cache"))
    os.environ.pop("ALFWORLD_DATA", None)
    yield Path(os.environ["AGENTGYM_CACHE"])
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_splits_are_the_original_ids() -> None:
    spec = make("alfworld").spec
    assert spec.splits["train"] == list(range(2420))
    assert spec.splits["test"] == list(range(2420, 2620))
    assert not set(spec.splits["train"]) & set(spec.splits["test"])
    assert spec.blocking and spec.max_rounds == 30


def test_generated_games_cover_the_six_task_types() -> None:
    # task type is id-driven; drawing a spec needs no engine (cheap), every type gets a valid room
    seen = {}
    for tid in range(2420, 2432):
        spec = next(s for a in range(tasks.MAX_ATTEMPTS) if (s := generate.draw_spec(tid, a)))
        seen.setdefault(spec.task_type, spec)
    assert set(seen) == set(generate.TASK_TYPES)
    heat = seen["pick_heat_then_place_in_recep"]
    assert heat.scene <= 30 and any(generate.rtype_of(r) == "Microwave" for r in heat.receptacles)
    light = seen["look_at_obj_in_light"]
    assert light.toggle in generate.LAMPS and any(o.startswith(light.toggle) for o, _ in light.objects)
    # deterministic per id
    assert generate.draw_spec(2425, 0) == generate.draw_spec(2425, 0)


def test_reset_step_invalid_and_cache(game_cache: Path) -> None:
    env = make("alfworld")
    obs = env.reset(2424)
    assert "Welcome to TextWorld" not in obs.text
    assert obs.text.startswith("You are in the middle of a room.")
    assert "Your task is to: " in obs.text
    assert obs.info["task_type"] in generate.TASK_TYPES
    assert tasks.generated_game_path(2424).exists()  # cached on disk
    acts = env.available_actions()
    assert acts and "look" in acts and any(a.startswith("go to ") for a in acts)
    res = env.step("fly to the moon")
    assert res.observation == "Nothing happens." and res.info["invalid_action"] and res.reward == 0
    go = next(a for a in acts if a.startswith("go to "))
    res = env.step(go)
    assert not res.info["invalid_action"] and "You arrive at" not in res.observation
    assert res.observation.startswith(("On the ", "The ", "In it")) or "nothing" in res.observation
    # the same id again gives the same game and intro (read back from the cache)
    assert env.reset(2424).text == obs.text
    env.close()
    assert (
        clean_step("You arrive at loc 12. On the desk 1, you see a pen 1.")
        == clean_step("You arrive at desk 1. On the desk 1, you see a pen 1.")
        == "On the desk 1, you see a pen 1."
    )


@pytest.mark.slow  # generates 4 games and plays 4 episodes: ~40 s idle, ~100 s on a loaded machine
def test_check_env_and_expert() -> None:
    report = check_env("alfworld", expert_tasks=[2421, 2425])
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success == 1.0


def test_expert_recovers_after_detours() -> None:
    env = make("alfworld")
    env.reset(2421)
    acts = env.available_actions()
    for a in [a for a in acts if a.startswith("go to ")][-2:]:
        env.step(a)
    res = None
    for _ in range(env.max_rounds - env.rounds):
        res = env.step(env.expert_reply().rsplit("Action:", 1)[1].strip())
        if res.done:
            break
    assert res is not None and res.reward == 1.0 and res.info["success"]


def test_official_data_layout_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A game laid out as the official data (json_2.1.1/valid_train/<task>/<trial>/game.tw-pddl
    plus traj_data.json and mappings_test.json) is played under its original id."""
    game = tasks.generate_game(2425)
    meta = game.pop("agentgym")
    folder = f"{meta['task_type']}-{meta['obj']}-None-{meta['toggle']}-{meta['scene']}"
    trial = tmp_path / "json_2.1.1" / "valid_train" / folder / "trial_T0001"
    trial.mkdir(parents=True)
    (trial / "game.tw-pddl").write_text(json.dumps(game))
    pddl_params = {"object_target": meta["obj"], "parent_target": "", "toggle_target": meta["toggle"]}
    (trial / "traj_data.json").write_text(
        json.dumps({"task_type": meta["task_type"], "pddl_params": pddl_params})
    )
    mapping = [{"item_id": 2420, "task_type": folder, "task_id": "trial_T0001"}]
    (tmp_path / "mappings_test.json").write_text(json.dumps(mapping))
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    tasks.official_games.cache_clear()
    try:
        env = make("alfworld")
        obs = env.reset(2420)
        assert obs.info["source"].endswith("trial_T0001/game.tw-pddl")
        assert obs.info["task_type"] == "look_at_obj_in_light"
        reward, success, _ = run_expert_episode(env, 2420)
        assert success and reward == 1.0
        # ids without an official game still get a generated one
        assert env.reset(2424).info["source"] == "generated"
    finally:
        tasks.official_games.cache_clear()
        shutil.rmtree(tmp_path / "json_2.1.1")


def test_http_server_drives_alfworld() -> None:
    testing = pytest.importorskip("agentgym.server.testing")
    from agentgym.client.http import EnvClient

    with testing.run_server(["alfworld"]) as url:
        client = EnvClient(url)
        session = client.session("alfworld")
        obs = session.reset(2425)
        assert obs.info["task_type"] == "look_at_obj_in_light"
        assert session.available_actions()
        res = None
        for _ in range(30):
            res = session.step(session.expert_reply().rsplit("Action:", 1)[1].strip())
            if res.done:
                break
        assert res is not None and res.reward == 1.0 and res.info["success"]
        session.close()
        client.close()
