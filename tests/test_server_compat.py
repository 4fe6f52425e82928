"""The original AgentGym routes (reference §2) over real HTTP: an unchanged LMRL-Gym client flow for
maze and wordle, and one env of each other family (the counter test env standing in for them)."""

from __future__ import annotations

import httpx
import pytest

from agentgym.core.registry import make, register
from agentgym.server.app import create_app
from agentgym.server.compat import FAMILIES
from agentgym.server.testing import run_server
from conftest import light_envs

# the counter env hosted once per original family it stands in for
STAND_INS = {
    f"c_{fam}": fam for fam in ("babyai", "sciworld", "textcraft", "alfworld", "webshop", "bird", "weather")
}
LIGHT = light_envs()


@pytest.fixture(scope="module")
def url(dummy_envs):
    for env_id in STAND_INS:
        register(env_id, dummy_envs["counter"])
    with run_server([*STAND_INS, *LIGHT], compat_families=STAND_INS) as u:
        yield u


@pytest.fixture
def http(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        yield c


def ok(r: httpx.Response):
    assert r.status_code == 200, f"{r.status_code}: {r.text}"
    return r.json()


def not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert isinstance(r.json()["detail"], str), "unlike the original: a real 404 with a message"


# ----------------------------------------------------------------- LMRL-Gym (maze, wordle)
@pytest.mark.skipif("maze" not in LIGHT, reason="maze env not in this checkout yet")
def test_old_maze_client_flow(url):
    base = f"{url}/maze"  # the base URL an old MazeEnvClient is given
    env_id = ok(httpx.post(f"{base}/create"))["id"]
    assert isinstance(env_id, int)
    local = make("maze")
    reset = ok(httpx.post(f"{base}/reset", json={"id": env_id, "game": 3}))
    assert reset == {"observation": local.reset(3).text}
    assert ok(httpx.get(f"{base}/available_actions")) == local.available_actions()  # no id, as the original
    assert ok(httpx.get(f"{base}/available_actions", params={"id": env_id})) == local.available_actions()
    for _ in range(local.max_rounds):
        action = local.expert_reply().split("Action:")[-1].strip()
        step = ok(httpx.post(f"{base}/step", json={"id": env_id, "action": action}))
        want = local.step(action)
        assert step == {"observation": want.observation, "reward": want.reward, "done": want.done}
        if step["done"]:
            break
    assert step["reward"] == 1.0 and step["done"] is True
    assert ok(httpx.get(f"{base}/observation", params={"id": env_id})) == step["observation"]
    detail = ok(httpx.get(f"{base}/detail", params={"id": env_id}))
    assert detail["task_id"] == 3 and detail["done"] is True
    assert ok(httpx.post(f"{base}/close", json={"id": env_id})) is True
    not_found(httpx.post(f"{base}/step", json={"id": env_id, "action": "move up"}))
    not_found(httpx.post(f"{base}/reset", json={"id": 10**6, "game": 0}))
    not_found(httpx.post(f"{base}/reset", json={"id": ok(httpx.post(f"{base}/create"))["id"], "game": 999}))


@pytest.mark.skipif("wordle" not in LIGHT, reason="wordle env not in this checkout yet")
def test_old_wordle_client_flow(url):
    base = f"{url}/wordle"
    env_id = ok(httpx.post(f"{base}/create"))["id"]
    vocab = ok(httpx.get(f"{base}/filtered_vocab", params={"id": env_id}))  # fetched right after create
    local = make("wordle")
    # A short list, as the original (its client pastes it into the prompt): 40 distinct answer words.
    answers = set(local.words.answers)
    assert len(vocab) == 40 == len(set(vocab)) and set(vocab) <= answers
    task = local.spec.split("test")[0]
    reset = ok(httpx.post(f"{base}/reset", json={"id": env_id, "seed": task}))
    assert reset == {"id": env_id, "observation": local.reset(task).text}
    for guess in ("c r a n e", "s l o t h", "xxxxx"):
        step = ok(httpx.post(f"{base}/step", json={"id": env_id, "action": guess}))
        want = local.step(guess)
        assert step == {"observation": want.observation, "reward": want.reward, "done": want.done}
    assert ok(httpx.get(f"{base}/observation", params={"id": env_id})) == step["observation"]
    # After feedback the list holds only words consistent with it (the local twin agrees).
    vocab = ok(httpx.get(f"{base}/filtered_vocab", params={"id": env_id}))
    assert vocab == local.filtered_vocab() and 0 < len(vocab) <= 40
    assert len(vocab) < 40 or int(local.step("x").info["consistent"]) > 40
    assert ok(httpx.post(f"{base}/close", json={"id": env_id})) is True
    not_found(httpx.get(f"{base}/filtered_vocab", params={"id": env_id}))


# ---------------------------------------------------------------------- id-style families
def test_babyai_family(http):
    env_id = ok(http.post("/c_babyai/create"))["id"]
    reset = ok(http.post("/c_babyai/reset", json={"id": env_id, "data_idx": 12}))
    assert set(reset) == {"observation", "reward", "score", "deleted", "done"}
    assert reset["observation"].startswith("task 12 count 12") and reset["deleted"] is False
    steps = [ok(http.post("/c_babyai/step", json={"id": env_id, "action": "inc"})) for _ in range(3)]
    assert set(steps[0]) == {"observation", "reward", "score", "done"}
    assert steps[-1]["done"] is True and steps[-1]["score"] == 100.0  # "score" comes from the env's info
    assert (
        ok(http.get("/c_babyai/observation", params={"id": env_id}))["observation"]
        == steps[-1]["observation"]
    )
    conflict = http.post("/c_babyai/step", json={"id": env_id, "action": "inc"})
    assert conflict.status_code == 409 and "reset" in conflict.json()["detail"]
    assert ok(http.post("/c_babyai/close", json={"id": env_id})) is True
    not_found(http.post("/c_babyai/close", json={"id": env_id}))


def test_sciworld_family(http):
    env_id = ok(http.post("/c_sciworld/create"))["id"]
    reset = ok(http.post("/c_sciworld/reset", json={"id": env_id, "data_idx": 11}))
    assert list(reset) == [
        "task_name",
        "var_num",
        "task_description",
        "observation",
        "reward",
        "score",
        "deleted",
        "done",
    ]
    assert reset["task_description"] == "Reach 14 by typing inc or dec."  # falls back to instruction()
    hint = ok(http.get("/c_sciworld/action_hint", params={"id": env_id}))
    assert hint == {"possible_actions": ["inc", "dec"], "possible_objects": None}


def test_textcraft_family_resets_on_create(http):
    created = ok(http.post("/c_textcraft/create", json={"commands": None, "goal": None}))
    assert set(created) == {"id", "observation", "done", "reward"} and created["done"] is False
    assert ok(http.get("/c_textcraft/commands", params={"id": created["id"]})) == "inc, dec"
    reset = ok(http.post("/c_textcraft/reset", json={"id": created["id"], "data_idx": 15}))
    assert reset["id"] == created["id"] and reset["observation"].startswith("task 15")
    assert ok(http.get("/c_textcraft/goal", params={"id": created["id"]})) == "reach 18"
    bad = http.post("/c_textcraft/create", json={"goal": "diamond"})
    assert bad.status_code == 422 and "not supported" in bad.json()["detail"]


def test_alfworld_family(http):
    env_id = ok(http.post("/c_alfworld/create"))["id"]
    reset = ok(http.post("/c_alfworld/reset", json={"id": env_id, "game": 10, "world_type": "Text"}))
    assert (
        reset["id"] == env_id
        and reset["available_actions"] == ["inc", "dec"]
        and reset["task_type"] == "count"
    )
    step = ok(http.post("/c_alfworld/step", json={"id": env_id, "action": "inc"}))
    assert set(step) == {"observation", "reward", "available_actions", "done"}
    assert ok(http.get("/c_alfworld/available_actions", params={"id": env_id})) == ["inc", "dec"]


def test_id_style_errors(http):
    not_found(http.get("/c_babyai/observation", params={"id": 987654}))
    missing = http.post("/c_babyai/reset", json={"id": 0})  # no data_idx
    assert missing.status_code == 422 and "data_idx" in missing.json()["detail"]
    assert http.get("/c_babyai/observation").status_code == 422  # id required
    other = ok(http.post("/c_alfworld/create"))["id"]  # ids of one env are not valid on another
    not_found(http.post("/c_babyai/step", json={"id": other, "action": "inc"}))


# ----------------------------------------------------------------- env_idx-style families
def test_webshop_family(http):
    assert ok(http.get("/c_webshop/")) == "ok"
    idx = ok(http.post("/c_webshop/create"))
    assert isinstance(idx, int)  # a bare JSON number, as the original
    assert idx in ok(http.get("/c_webshop/list_envs"))
    reset = ok(http.post("/c_webshop/reset", json={"env_idx": idx, "session_id": 13}))
    assert isinstance(reset, list) and reset[1] is None and reset[0].startswith("task 13")
    step = ok(http.post("/c_webshop/step", json={"env_idx": idx, "action": "inc"}))
    assert set(step) == {"state", "reward", "done", "info"} and step["info"] is None
    assert ok(http.get("/c_webshop/available_actions", params={"env_idx": idx})) == {
        "has_search_bar": False,
        "clickables": [],
    }
    assert (
        ok(http.get("/c_webshop/instruction_text", params={"env_idx": idx}))
        == "Reach 16 by typing inc or dec."
    )
    assert ok(http.get("/c_webshop/observation", params={"env_idx": idx})) == step["state"]
    replay = ok(http.post("/c_webshop/reset", json={"env_idx": idx, "session_id": None}))  # null: same task
    assert replay[0].startswith("task 13 count 13")
    assert ok(http.post("/c_webshop/close", json={"env_idx": idx})) is True
    assert idx not in ok(http.get("/c_webshop/list_envs"))
    not_found(http.get("/c_webshop/observation", params={"env_idx": idx}))


def test_tool_family(http):
    idx = ok(http.post("/c_weather/create", json={"id": 14}))  # create resets to that dataset row
    assert isinstance(idx, int)
    assert ok(http.get("/c_weather/observation", params={"env_idx": idx})).startswith("task 14")
    step = ok(http.post("/c_weather/step", json={"env_idx": idx, "action": "inc"}))
    assert set(step) == {"observation", "reward", "done"}
    obs = ok(http.post("/c_weather/reset", json={"env_idx": idx, "id": 16}))
    assert isinstance(obs, str) and obs.startswith("task 16")
    assert ok(http.post("/c_weather/reset", json={"env_idx": idx, "id": None})).startswith("task 16")
    fresh = ok(http.post("/c_weather/create", json={"id": 12345}))  # not a task id: created, not reset
    assert http.get("/c_weather/observation", params={"env_idx": fresh}).status_code == 409


def test_bird_family(http):
    idx = ok(http.post("/c_bird/create"))
    question = ok(http.post("/c_bird/reset", json={"env_idx": idx, "item_id": 17}))
    assert question[1] is None and question[0].startswith("task 17")
    step = ok(http.post("/c_bird/step", json={"env_idx": idx, "action": "inc"}))
    assert step["info"] == {"ground_truth": None} and set(step) == {"state", "reward", "done", "info"}


# ---------------------------------------------------------------------------- mounting
def test_single_env_server_serves_original_routes_at_root(dummy_envs):
    with run_server(["counter"], compat_families={"counter": "babyai"}) as u, httpx.Client(base_url=u) as c:
        a = ok(c.post("/create"))["id"]
        b = ok(c.post("/counter/create"))["id"]
        assert a != b, "ids are never reused"
        assert ok(c.post("/reset", json={"id": b, "data_idx": 10}))["observation"].startswith("task 10")
        assert ok(c.get("/v1/health"))["sessions"] == 2  # both routes share one session table
        assert "/counter/create" in ok(c.get("/openapi.json"))["paths"]


def test_every_family_mounts(dummy_envs):
    for fam in FAMILIES:
        app = create_app(["counter"], compat_families={"counter": fam})
        paths = set(app.openapi()["paths"])
        assert {"/counter/create", "/counter/reset", "/counter/step", "/counter/close"} <= paths, fam
    with pytest.raises(ValueError, match="unknown compat family"):
        create_app(["counter"], compat_families={"counter": "nope"})
    no_compat = set(create_app(["counter"]).openapi()["paths"])  # not in the table: no original routes
    assert not any(p.startswith("/counter") for p in no_compat)
