"""The original AgentGym routes (reference §2) over real HTTP, driven by the real envs.

Light families here - maze, wordle, babyai, textcraft and the five tool envs - each played for a
whole episode through its original routes with the expert's actions, in lockstep with a local env
of the same task: every answer must have the original's shape (keys, types) and our env's texts.
The heavy families (sciworld, alfworld, webshop, bird) are in test_server_compat_real.py.

The counter test env still stands in for a few families at the end, for what only a tiny env can
show: the table-driven renderer's fallbacks when an env sets none of a family's info keys, and the
error paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agentgym.core.env import Env
from agentgym.core.react import parse_reply
from agentgym.core.registry import make, register
from agentgym.core.types import StepResult
from agentgym.server.app import create_app
from agentgym.server.compat import FAMILIES
from agentgym.server.testing import run_server
from conftest import light_envs

TOOLS = ["weather", "movie", "academia", "sheet", "todo"]
REAL = ["babyai", "textcraft", *TOOLS]
# the counter env hosted once per original family whose fallbacks and errors it exercises
STAND_INS = {
    f"c_{fam}": fam for fam in ("babyai", "sciworld", "textcraft", "alfworld", "webshop", "bird", "weather")
}
LIGHT = light_envs()


@pytest.fixture(scope="module")
def url(dummy_envs):
    for env_id in STAND_INS:
        register(env_id, dummy_envs["counter"])
    with run_server([*STAND_INS, *LIGHT, *REAL], compat_families=STAND_INS) as u:
        yield u


@pytest.fixture
def http(url):
    with httpx.Client(base_url=url, timeout=60) as c:
        yield c


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, f"{r.status_code}: {r.text}"
    return r.json()


def not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert isinstance(r.json()["detail"], str), "unlike the original: a real 404 with a message"


def shape(value: Any, **types: type) -> dict:
    """``value`` is a JSON object with exactly these keys, in this order, of exactly these types."""
    assert isinstance(value, dict), value
    assert list(value) == list(types), f"keys {list(value)}, want {list(types)}"
    for key, t in types.items():
        assert type(value[key]) is t, f"{key}: {type(value[key]).__name__}, want {t.__name__}"
    return value


def expert_action(env: Env) -> str:
    """The expert's next action, cut out of its reply as the env's action format says."""
    parsed = parse_reply(env.expert_reply(), env.spec.action_format)
    assert parsed.ok, parsed.error
    return parsed.action


def lockstep(
    http: httpx.Client, base: str, key: str, num: int, local: Env, want: Callable[[StepResult], Any]
) -> list[Any]:
    """Play ``local``'s expert episode through the original ``POST {base}/step`` of env ``num``,
    stepping ``local`` too: every answer must equal ``want(local's step result)``."""
    answers = []
    for _ in range(local.max_rounds):
        action = expert_action(local)
        got = ok(http.post(f"{base}/step", json={key: num, "action": action}))
        res = local.step(action)
        assert got == want(res), f"after {action!r}"
        answers.append(got)
        if res.done:
            break
    assert local.done and local.is_success(res.reward), "the expert finishes the task"
    return answers


def plain_step(res: StepResult) -> dict:
    """The step answer of most families: ``{"observation", "reward", "done"}``."""
    return {"observation": res.observation, "reward": res.reward, "done": res.done}


def closes(http: httpx.Client, base: str, key: str, num: int) -> None:
    """``POST {base}/close`` answers true and frees the env: a later GET on its id is a 404."""
    assert ok(http.post(f"{base}/close", json={key: num})) is True
    not_found(http.get(f"{base}/observation", params={key: num}))
    not_found(http.post(f"{base}/step", json={key: num, "action": "x"}))


# ----------------------------------------------------------------- LMRL-Gym (maze, wordle)
@pytest.mark.skipif("maze" not in LIGHT, reason="maze env not in this checkout yet")
def test_old_maze_client_flow(url, http):
    base = f"{url}/maze"  # the base URL an old MazeEnvClient is given
    env_id = shape(ok(httpx.post(f"{base}/create")), id=int)["id"]
    local = make("maze")
    reset = ok(httpx.post(f"{base}/reset", json={"id": env_id, "game": 3}))
    assert reset == {"observation": local.reset(3).text}
    assert ok(httpx.get(f"{base}/available_actions")) == local.available_actions()  # no id, as the original
    assert ok(httpx.get(f"{base}/available_actions", params={"id": env_id})) == local.available_actions()
    steps = lockstep(http, "/maze", "id", env_id, local, plain_step)
    shape(steps[0], observation=str, reward=float, done=bool)
    assert steps[-1]["reward"] == 1.0 and steps[-1]["done"] is True
    assert ok(httpx.get(f"{base}/observation", params={"id": env_id})) == steps[-1]["observation"]
    detail = ok(httpx.get(f"{base}/detail", params={"id": env_id}))
    assert detail["task_id"] == 3 and detail["done"] is True
    closes(http, "/maze", "id", env_id)
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


@pytest.mark.skipif("wordle" not in LIGHT, reason="wordle env not in this checkout yet")
def test_wordle_expert_episode(http):
    task = make("wordle").spec.split("test")[2]
    env_id = shape(ok(http.post("/wordle/create")), id=int)["id"]
    local = make("wordle")
    reset = shape(ok(http.post("/wordle/reset", json={"id": env_id, "seed": task})), id=int, observation=str)
    assert reset == {"id": env_id, "observation": local.reset(task).text}
    steps = lockstep(http, "/wordle", "id", env_id, local, plain_step)
    shape(steps[-1], observation=str, reward=float, done=bool)
    assert len(steps) > 1 and steps[-1]["reward"] == 1.0 and steps[-1]["done"] is True
    assert [s["reward"] for s in steps[:-1]] == [0.0] * (len(steps) - 1)
    assert ok(http.get("/wordle/observation", params={"id": env_id})) == steps[-1]["observation"]
    closes(http, "/wordle", "id", env_id)
    not_found(http.get("/wordle/filtered_vocab", params={"id": env_id}))


# ------------------------------------------------------------------------- BabyAI (real)
BABYAI_TASK = 820  # a test task the expert solves in 8 macro actions


def test_babyai_original_routes(http):
    assert ok(http.get("/babyai/")) == "This is environment BabyAI."
    env_id = shape(ok(http.post("/babyai/create")), id=int)["id"]
    local = make("babyai")
    first = local.reset(BABYAI_TASK)
    reset = ok(http.post("/babyai/reset", json={"id": env_id, "data_idx": BABYAI_TASK}))
    shape(reset, observation=str, reward=float, score=float, deleted=bool, done=bool)
    assert reset == {"observation": first.text, "reward": 0.0, "score": 0.0, "deleted": False, "done": False}
    assert reset["observation"].startswith(f"Your goal: {local.mission}\n")
    assert "\nAvailable actions: " in reset["observation"]  # the client shows it as is
    assert ok(http.get("/babyai/observation", params={"id": env_id})) == reset  # HEAD: the reset dict

    # the client reads "score" as the reward: minigrid's reward on success, 0 before
    steps = lockstep(
        http,
        "/babyai",
        "id",
        env_id,
        local,
        lambda w: {
            "observation": w.observation,
            "reward": w.reward,
            "score": w.info["score"],
            "done": w.done,
        },
    )
    assert len(steps) == 8
    for s in steps:
        shape(s, observation=str, reward=float, score=float, done=bool)
    assert [s["score"] for s in steps[:-1]] == [0.0] * 7 and [s["done"] for s in steps[:-1]] == [False] * 7
    last = steps[-1]
    assert last["done"] is True and 0 < last["score"] == last["reward"] == local.score < 1
    assert last["observation"].startswith("You completed the task.\n")
    assert ok(http.get("/babyai/observation", params={"id": env_id})) == {**last, "deleted": False}
    closes(http, "/babyai", "id", env_id)


# ---------------------------------------------------------------------- TextCraft (real)
TEXTCRAFT_TASK = 2  # four steps: get, craft, get, craft


def test_textcraft_original_routes(http):
    assert ok(http.get("/textcraft/")) == "This is environment TextCraft."
    # the original client's body; the env comes back already reset to data_idx = its id
    body = {"minecraft_dir": "agentenv_textcraft/", "commands": None, "goal": None}
    created = shape(
        ok(http.post("/textcraft/create", json=body)), id=int, observation=str, done=bool, reward=float
    )
    env_id = created["id"]
    own = make("textcraft")
    task = env_id if own.is_valid_task(env_id) else min(own.spec.split("test"))
    first = own.reset(task)
    assert created == {"id": env_id, "observation": first.text, "done": False, "reward": 0.0}
    assert ok(http.get("/textcraft/commands", params={"id": env_id})) == first.info["commands"]
    assert ok(http.get("/textcraft/goal", params={"id": env_id})) == own.goal

    local = make("textcraft")
    first = local.reset(TEXTCRAFT_TASK)
    reset = ok(http.post("/textcraft/reset", json={"id": env_id, "data_idx": TEXTCRAFT_TASK}))
    shape(reset, id=int, observation=str, done=bool, reward=float)
    assert reset == {"id": env_id, "observation": first.text, "done": False, "reward": 0.0}
    assert first.text.startswith("Crafting commands:\n") and first.text.endswith(f"Goal: craft {local.goal}.")
    assert ok(http.get("/textcraft/goal", params={"id": env_id})) == local.goal
    steps = lockstep(http, "/textcraft", "id", env_id, local, plain_step)
    assert len(steps) == 4 and steps[-1] == {
        "observation": f"Crafted {local.inventory[local.goal]} {local.goal}.",
        "reward": 1.0,
        "done": True,
    }
    assert ok(http.get("/textcraft/observation", params={"id": env_id})) == steps[-1]["observation"]
    detail = ok(http.get("/textcraft/detail", params={"id": env_id}))
    assert detail["task_id"] == TEXTCRAFT_TASK and detail["done"] is True
    # data_idx defaults to 0, as the original's model
    again = ok(http.post("/textcraft/reset", json={"id": env_id}))
    assert again == {
        "id": env_id,
        "observation": make("textcraft").reset(0).text,
        "done": False,
        "reward": 0.0,
    }
    closes(http, "/textcraft", "id", env_id)


# ----------------------------------------------------------- tool envs (real, all five)
TOOL_TASK = 3


@pytest.mark.parametrize("env", TOOLS)
def test_tool_original_routes(http, env):
    base = f"/{env}"
    assert ok(http.get(f"{base}/")) == "ok"
    idx = ok(http.post(f"{base}/create", json={"id": 0}))  # what the original client sends
    assert type(idx) is int, "a bare env_idx, as the original"
    assert idx in ok(http.get(f"{base}/list_envs"))
    # create resets the env to that dataset row
    assert ok(http.get(f"{base}/observation", params={"env_idx": idx})) == make(env).reset(0).text

    local = make(env)
    first = local.reset(TOOL_TASK)
    obs = ok(http.post(f"{base}/reset", json={"env_idx": idx, "id": TOOL_TASK}))
    assert type(obs) is str and obs == first.text  # a bare string, as the original
    assert obs.startswith("A new trial starts now.\nYour goal: ")
    # the client sends the model's whole reply: the server cuts the action out of it
    steps = lockstep(http, base, "env_idx", idx, local, plain_step)
    for s in steps:
        shape(s, observation=str, reward=float, done=bool)
    assert steps[-1]["reward"] == 1.0 and steps[-1]["done"] is True
    assert [s["done"] for s in steps[:-1]] == [False] * (len(steps) - 1)
    assert ok(http.get(f"{base}/observation", params={"env_idx": idx})) == steps[-1]["observation"]
    assert ok(http.post(f"{base}/reset", json={"env_idx": idx, "id": None})) == first.text  # null: same task
    closes(http, base, "env_idx", idx)
    assert idx not in ok(http.get(f"{base}/list_envs"))


# ------------------------------------------------- generic machinery (counter stand-ins)
def test_fallbacks_when_the_env_sets_no_family_keys(http):
    """The renderer's documented fallbacks (compat module docstring), on an env that knows nothing
    of any family: instruction() for task_description / instruction_text, available_actions() for
    webshop's clickables, None for what cannot be derived."""
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
    assert reset["task_name"] is None and reset["var_num"] is None
    assert reset["task_description"] == "Reach 14 by typing inc or dec."  # falls back to instruction()
    assert reset["observation"].startswith("task 11 count 11")  # no "look" in info: the observation
    hint = ok(http.get("/c_sciworld/action_hint", params={"id": env_id}))
    assert hint == {"possible_actions": ["inc", "dec"], "possible_objects": None}
    assert ok(http.get("/c_sciworld/goals", params={"id": env_id})) == {"goals": None}

    idx = ok(http.post("/c_webshop/create"))
    ok(http.post("/c_webshop/reset", json={"env_idx": idx, "session_id": 13}))
    # no clickables in info: derived from available_actions() (no search[...] / click[...] there)
    assert ok(http.get("/c_webshop/available_actions", params={"env_idx": idx})) == {
        "has_search_bar": False,
        "clickables": [],
    }
    assert (
        ok(http.get("/c_webshop/instruction_text", params={"env_idx": idx}))
        == "Reach 16 by typing inc or dec."
    )
    assert ok(http.get("/c_webshop/state", params={"env_idx": idx})) == {
        "url": None,
        "html": None,
        "instruction_text": "Reach 16 by typing inc or dec.",
    }

    idx = ok(http.post("/c_bird/create"))
    question = ok(http.post("/c_bird/reset", json={"env_idx": idx, "item_id": 17}))
    assert question[1] is None and question[0].startswith("task 17")
    step = ok(http.post("/c_bird/step", json={"env_idx": idx, "action": "inc"}))
    assert step["info"] == {"ground_truth": None}  # the env gave no gold SQL

    env_id = ok(http.post("/c_alfworld/create"))["id"]
    reset = ok(http.post("/c_alfworld/reset", json={"id": env_id, "game": 10, "world_type": "Text"}))
    assert reset["task_type"] == "count"  # read from the env's info by the same key name


def test_score_and_409_after_the_end(http):
    env_id = ok(http.post("/c_babyai/create"))["id"]
    ok(http.post("/c_babyai/reset", json={"id": env_id, "data_idx": 12}))
    steps = [ok(http.post("/c_babyai/step", json={"id": env_id, "action": "inc"})) for _ in range(3)]
    assert steps[-1]["done"] is True and steps[-1]["score"] == 100.0  # "score" comes from the env's info
    conflict = http.post("/c_babyai/step", json={"id": env_id, "action": "inc"})
    assert conflict.status_code == 409 and "reset" in conflict.json()["detail"]
    assert ok(http.post("/c_babyai/close", json={"id": env_id})) is True
    not_found(http.post("/c_babyai/close", json={"id": env_id}))


def test_create_variants(http):
    bad = http.post("/c_textcraft/create", json={"goal": "diamond"})
    assert bad.status_code == 422 and "not supported" in bad.json()["detail"]
    fresh = ok(http.post("/c_weather/create", json={"id": 12345}))  # not a task id: created, not reset
    assert http.get("/c_weather/observation", params={"env_idx": fresh}).status_code == 409
    idx = ok(http.post("/c_webshop/create"))
    ok(http.post("/c_webshop/reset", json={"env_idx": idx, "session_id": 13}))
    ok(http.post("/c_webshop/step", json={"env_idx": idx, "action": "inc"}))
    replay = ok(http.post("/c_webshop/reset", json={"env_idx": idx, "session_id": None}))  # null: same task
    assert replay[0].startswith("task 13 count 13")


def test_id_style_errors(http):
    not_found(http.get("/c_babyai/observation", params={"id": 987654}))
    missing = http.post("/c_babyai/reset", json={"id": 0})  # no data_idx
    assert missing.status_code == 422 and "data_idx" in missing.json()["detail"]
    assert http.get("/c_babyai/observation").status_code == 422  # id required
    other = ok(http.post("/c_alfworld/create"))["id"]  # ids of one env are not valid on another
    not_found(http.post("/c_babyai/step", json={"id": other, "action": "inc"}))


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
