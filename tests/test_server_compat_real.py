"""The original AgentGym routes of the heavy env families, driven by the real envs over HTTP.

SciWorld (JVM), ALFWorld (TextWorld in worker processes), WebShop and BIRD: each family's original
routes (reference §2) play one whole expert episode in lockstep with a local env of the same task;
every answer must have the original's shape (keys, types) and our env's texts, and ``/close`` must
free the env. The light families are in test_server_compat.py (whose helpers these tests share).

Engines and data come from the machine's caches (``~/.cache/agentgym``): SciWorld expert plans,
ALFWorld games (~11 s each to generate), BIRD databases (~45 s to build once).
"""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from agentgym.core.react import parse_reply
from agentgym.core.registry import make
from agentgym.core.types import StepResult
from agentgym.server.testing import run_server
from test_server_compat import closes, expert_action, lockstep, not_found, ok, shape

pytestmark = pytest.mark.heavy
NoneType = type(None)


def needs(*modules: str) -> pytest.MarkDecorator:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


# ---------------------------------------------------------------------------------- SciWorld
SCIWORLD_TASK = 3163  # find-non-living-thing (4-2), variation of the test split: 8 expert steps


@needs("scienceworld")
def test_sciworld_original_routes():
    from agentgym.envs.sciworld import tasks

    local = make("sciworld")
    with run_server(["sciworld"]) as url, httpx.Client(base_url=url, timeout=300) as http:
        try:
            assert ok(http.get("/sciworld/")) == "This is environment ScienceWorld."
            env_id = shape(ok(http.post("/sciworld/create")), id=int)["id"]
            first = local.reset(SCIWORLD_TASK)
            reset = ok(http.post("/sciworld/reset", json={"id": env_id, "data_idx": SCIWORLD_TASK}))
            shape(
                reset,
                task_name=str,
                var_num=int,
                task_description=str,
                observation=str,
                reward=float,
                score=int,
                deleted=bool,
                done=bool,
            )
            t = tasks.task(SCIWORLD_TASK)
            desc, look = first.info["task_description"], first.info["look"]
            assert reset == {
                "task_name": t.name,
                "var_num": t.variation,
                "task_description": desc,
                "observation": look,  # the look-around alone
                "reward": 0.0,
                "score": 0,
                "deleted": False,
                "done": False,
            }
            # The original client shows description + "\n" + observation: our first observation,
            # with the description once (it was twice when /reset answered the whole text).
            shown = f"{reset['task_description']}\n{reset['observation']}"
            assert shown == first.text and shown.count(desc) == 1 and desc not in look
            assert look.startswith("This room is called the ") and "In it, you see:" in look
            assert ok(http.get("/sciworld/observation", params={"id": env_id})) == look
            assert ok(http.get("/sciworld/task_description", params={"id": env_id})) == desc
            hint = shape(
                ok(http.get("/sciworld/action_hint", params={"id": env_id})),
                possible_actions=list,
                possible_objects=NoneType,
            )
            assert sorted(hint["possible_actions"]) == sorted(local.available_actions())
            assert ok(http.get("/sciworld/goals", params={"id": env_id})) == {"goals": None}

            def want(res: StepResult) -> dict:  # the client reads "score" as the reward
                return {
                    "observation": res.observation,
                    "reward": res.reward,
                    "score": res.info["score"],
                    "done": res.done,
                }

            steps = lockstep(http, "/sciworld", "id", env_id, local, want)
            assert len(steps) == 8
            for s in steps:
                shape(s, observation=str, reward=float, score=int, done=bool)
            assert steps[-1]["score"] == 100 and steps[-1]["reward"] == 100.0 and steps[-1]["done"] is True
            assert [s["done"] for s in steps[:-1]] == [False] * 7
            assert ok(http.get("/sciworld/observation", params={"id": env_id})) == steps[-1]["observation"]
            detail = ok(http.get("/sciworld/detail", params={"id": env_id}))
            assert detail["task_id"] == SCIWORLD_TASK and detail["done"] is True
            step = http.post("/sciworld/step", json={"id": env_id, "action": "look around"})
            assert step.status_code == 409  # finished, as the original's _check_id (but not a 200)
            closes(http, "/sciworld", "id", env_id)
        finally:
            local.close()


# ---------------------------------------------------------------------------------- ALFWorld
ALFWORLD_TASK = 2420  # test split, pick_clean_then_place_in_recep: 7 expert steps


@needs("alfworld", "textworld")
def test_alfworld_original_routes():
    local = make("alfworld")
    with run_server(["alfworld"]) as url, httpx.Client(base_url=url, timeout=300) as http:
        try:
            assert ok(http.get("/alfworld/")) == "This is environment AlfWorld."
            env_id = shape(ok(http.post("/alfworld/create")), id=int)["id"]
            first = local.reset(ALFWORLD_TASK)
            body = {"id": env_id, "game": ALFWORLD_TASK, "world_type": "Text"}  # the client's body
            reset = ok(http.post("/alfworld/reset", json=body))
            shape(reset, id=int, observation=str, available_actions=list, task_type=str)
            assert reset == {
                "id": env_id,
                "observation": first.text,
                "available_actions": local.available_actions(),
                "task_type": "pick_clean_then_place_in_recep",
            }
            assert first.info["task_type"] == reset["task_type"]
            assert (
                first.text.startswith("You are in the middle of a room.")
                and "Your task is to: " in first.text
            )
            assert (
                all(type(a) is str for a in reset["available_actions"])
                and "look" in reset["available_actions"]
            )
            assert ok(http.get("/alfworld/observation", params={"id": env_id})) == first.text
            assert (
                ok(http.get("/alfworld/available_actions", params={"id": env_id}))
                == local.available_actions()
            )

            def want(res: StepResult) -> dict:
                return {
                    "observation": res.observation,
                    "reward": res.reward,
                    "available_actions": local.available_actions(),
                    "done": res.done,
                }

            steps = lockstep(http, "/alfworld", "id", env_id, local, want)
            assert len(steps) == 7
            for s in steps:
                shape(s, observation=str, reward=float, available_actions=list, done=bool)
            assert [s["reward"] for s in steps] == [0.0] * 6 + [1.0]  # float(won)
            assert steps[-1]["done"] is True
            assert ok(http.get("/alfworld/observation", params={"id": env_id})) == steps[-1]["observation"]
            assert (
                ok(http.get("/alfworld/available_actions", params={"id": env_id}))
                == local.available_actions()
            )
            detail = ok(http.get("/alfworld/detail", params={"id": env_id}))
            assert detail["task_id"] == ALFWORLD_TASK and detail["info"]["task_type"] == reset["task_type"]
            closes(http, "/alfworld", "id", env_id)
            not_found(http.get("/alfworld/available_actions", params={"id": env_id}))
        finally:
            local.close()


# ----------------------------------------------------------------------------------- WebShop
WEBSHOP_TASK = 3  # test split: search, click product, two options, buy


def test_webshop_original_routes():
    local = make("webshop")
    with run_server(["webshop"]) as url, httpx.Client(base_url=url, timeout=300) as http:
        assert ok(http.get("/webshop/")) == "ok"
        idx = ok(http.post("/webshop/create"))
        assert type(idx) is int, "a bare env id, as the original"
        assert idx in ok(http.get("/webshop/list_envs"))
        first = local.reset(WEBSHOP_TASK)
        reset = ok(http.post("/webshop/reset", json={"env_idx": idx, "session_id": WEBSHOP_TASK}))
        assert reset == [first.text, None]
        instruction = local.instruction_text()
        assert first.text == f"WebShop [SEP] Instruction: [SEP] {instruction} [SEP] Search"
        # the client replaces reset[0] with GET /observation
        assert ok(http.get("/webshop/observation", params={"env_idx": idx})) == first.text
        assert ok(http.get("/webshop/instruction_text", params={"env_idx": idx})) == instruction
        assert ok(http.get("/webshop/state", params={"env_idx": idx})) == {
            "url": None,
            "html": None,
            "instruction_text": instruction,
        }

        def actions() -> dict:
            got = ok(http.get("/webshop/available_actions", params={"env_idx": idx}))
            shape(got, has_search_bar=bool, clickables=list)
            assert got == {"has_search_bar": local.has_search_bar(), "clickables": local.clickables()}
            return got

        assert actions() == {"has_search_bar": True, "clickables": ["search"]}
        steps = []
        for _ in range(local.max_rounds):
            action = expert_action(local)
            got = ok(http.post("/webshop/step", json={"env_idx": idx, "action": action}))
            res = local.step(action)
            shape(got, state=str, reward=float, done=bool, info=NoneType)
            assert got == {"state": res.observation, "reward": res.reward, "done": res.done, "info": None}
            steps.append((action, got))
            if res.done:
                break
            actions()  # the page's clickables after every step, as the local env has them
            assert ok(http.get("/webshop/observation", params={"env_idx": idx})) == res.observation
        assert [a.split("[")[0] for a, _ in steps] == ["search", "click", "click", "click", "click"]
        assert steps[-1][0] == "click[Buy Now]"
        last = steps[-1][1]
        assert last["reward"] == 1.0 and last["done"] is True
        assert (
            last["state"] == "Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] 1.0"
        )
        # a null session_id replays the current task
        assert ok(http.post("/webshop/reset", json={"env_idx": idx, "session_id": None})) == [
            first.text,
            None,
        ]
        closes(http, "/webshop", "env_idx", idx)
        assert idx not in ok(http.get("/webshop/list_envs"))
        not_found(http.get("/webshop/available_actions", params={"env_idx": idx}))


# -------------------------------------------------------------------------------------- BIRD
BIRD_TASK = 3000  # the first test question


def test_bird_original_routes():
    local = make("bird")
    with run_server(["bird"]) as url, httpx.Client(base_url=url, timeout=300) as http:
        idx = ok(http.post("/bird/create"))
        assert type(idx) is int, "a bare env id, as the original"
        first = local.reset(BIRD_TASK)
        reset = ok(http.post("/bird/reset", json={"env_idx": idx, "item_id": BIRD_TASK}))
        assert reset == [first.text, None]
        assert ok(http.get("/bird/observation", params={"env_idx": idx})) == first.text  # the question
        reply = local.expert_reply()
        sql = parse_reply(reply, local.spec.action_format).action
        assert sql == reply.split("```sql")[-1].split("```")[0].strip()  # what the original client sends
        got = ok(http.post("/bird/step", json={"env_idx": idx, "action": sql}))
        res = local.step(sql)
        shape(got, state=str, reward=float, done=bool, info=dict)
        assert got == {
            "state": res.observation,
            "reward": 1.0,
            "done": True,
            "info": {"ground_truth": local.question.sql},
        }
        assert res.reward == 1.0 and res.done
        assert got["state"].startswith("[(") and len(got["state"]) <= 103  # ≤ 100 chars + "..."
        step = http.post("/bird/step", json={"env_idx": idx, "action": sql})
        assert step.status_code == 409  # one query per episode
        closes(http, "/bird", "env_idx", idx)
