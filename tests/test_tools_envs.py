"""The five tool envs (weather, movie, academia, sheet, todo): contract, expert, safety, isolation, HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import agentgym
from agentgym.core.checker import check_env, run_expert_episode
from agentgym.envs.tools.base import answers_match, parse_action
from agentgym.envs.tools.sheet.formula import evaluate, parse_a1

TOOL_ENVS = ["weather", "movie", "academia", "sheet", "todo"]
MAX_ROUNDS = {"weather": 10, "movie": 12, "academia": 12, "sheet": 15, "todo": 15}


def act(name: str, args: dict | str) -> str:
    text = args if isinstance(args, str) else json.dumps(args)
    return f"Thought: next step.\nAction: {name} with Action Input: {text}"


def play_expert(env, task_id: int) -> tuple[float, bool]:
    reward, success, _ = run_expert_episode(env, task_id)
    return reward, success


# ------------------------------------------------------------------------------ contract + expert
@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_check_env_and_expert_solves_test_split(env_id: str) -> None:
    report = check_env(env_id)
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success == 1.0
    spec = agentgym.make(env_id).spec
    assert spec.max_rounds == MAX_ROUNDS[env_id]
    assert spec.action_format == "raw" and spec.ack == "Ok."
    assert len(spec.split("test")) == 20 and len(spec.split("train")) >= 200


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_expert_solves_a_sample_of_train(env_id: str) -> None:
    env = agentgym.make(env_id)
    train = env.spec.split("train")
    for task in train[::15]:
        reward, success = play_expert(env, task)
        assert success and reward == 1.0, (env_id, task)


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_instruction_lists_the_original_tools(env_id: str) -> None:
    env = agentgym.make(env_id)
    text = env.instruction()
    names = {
        "weather": ["get_user_current_date", "get_historical_temp", "get_air_quality_level", "get_distance"],
        "movie": ["get_search_movie", "get_movie_crew", "get_person_cast", "get_movie_keywords"],
        "academia": ["loadPaperNet", "loadAuthorNet", "neighbourCheck", "authorEdgeCheck", "paperEdgeCheck"],
        "sheet": [
            "open_sheet",
            "update_cell_by_formula",
            "sort_sheet_by_col",
            "filter_cells",
            "get_A1_annotation",
        ],
        "todo": ["get_projects", "update_project", "complete_task", "check_valid_actions"],
    }[env_id]
    for name in [*names, "finish"]:
        assert f"{name}(" in text
    assert "Action Input" in text


def test_first_observation_and_observation_shape() -> None:
    env = agentgym.make("weather")
    obs = env.reset(0)
    assert obs.text.startswith("A new trial starts now.") and obs.text.endswith("Give me one action.")
    res = env.step(act("get_user_current_date", {}))
    assert res.observation.startswith("Observation: ") and res.observation.endswith("\nGive me one action.")
    assert res.observation.split("\n")[0] == f"Observation: {env.task.config['current_date']}"


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_random_actions_are_well_formed_and_rarely_win(env_id: str) -> None:
    import random

    from agentgym.agents.random import wrap_action
    from agentgym.core.react import parse_reply

    env = agentgym.make(env_id)
    rng, wins = random.Random(0), 0
    for task in env.spec.split("test")[:10]:
        env.reset(task)
        while not env.done:
            reply = wrap_action(env.random_action(rng), env.spec.action_format)
            res = env.step(parse_reply(reply, env.spec.action_format).action)
            assert "Format error" not in res.observation
        wins += res.info["success"]
    assert wins <= 2


# ------------------------------------------------------------------------------ parsing + safety
def test_parse_action_forms() -> None:
    assert parse_action("Thought: x\nAction: get_projects with Action Input: {}") == ("get_projects", {})
    # the last Action: wins, a Python dict literal is accepted, an end-of-sequence token is dropped
    reply = "Action: a with Action Input: {}\nThought: no\nAction: open_sheet with Action Input: {'name': 'Sales'}</s>"
    assert parse_action(reply) == ("open_sheet", {"name": "Sales"})
    # anything else is the message the agent sees, saying what is wrong
    assert parse_action("no action here").startswith('Format error: the reply has no "Action:"')
    assert parse_action("Action: get_projects").startswith(
        'Format error: "with Action Input:" does not follow the tool name'
    )
    not_object = parse_action("Action: get_projects with Action Input: [1, 2]")
    assert not_object.startswith("The action input must be a JSON object of named arguments")
    unclosed = parse_action("Action: get_projects with Action Input: {'a': 1")
    assert unclosed.startswith("The action input is not a valid JSON object (") and "at character" in unclosed
    deep = parse_action("Action: f with Action Input: " + "[" * 3000 + "]" * 3000)  # no RecursionError
    assert deep.startswith("The action input is not a valid JSON object")
    too_long = parse_action("Action: f with Action Input: " + "x" * 9000)
    assert too_long.startswith("The action input is too long (9000 characters; at most")


INJECTIONS = [
    "__import__('os').system('touch {p}')",
    "{{'name': __import__('os').system('touch {p}')}}",
    '{{"name": "x"}}; __import__("os").system("touch {p}")',
    "(lambda: __import__('os').system('touch {p}'))()",
    "open('{p}', 'w').write('x')",
]


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_code_in_the_action_input_never_runs(env_id: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    env = agentgym.make(env_id)
    env.reset(0)
    for template in INJECTIONS:
        for tool in ("finish", "get_user_current_date", "open_sheet", "get_search_movie", "loadPaperNet"):
            if env.done:
                env.reset(0)
            res = env.step(act(tool, template.format(p=sentinel)))
            assert res.info["invalid_action"], res.observation
            assert not res.terminated
    assert not sentinel.exists()


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_malformed_unknown_and_bad_arguments_are_invalid_actions(env_id: str) -> None:
    env = agentgym.make(env_id)
    env.reset(1)
    bad_json = env.step('Action: finish with Action Input: {"answer": ')
    assert bad_json.info["invalid_action"] and "JSON" in bad_json.observation
    no_format = env.step("I think the answer is 42.")
    assert no_format.info["invalid_action"] and "Format error" in no_format.observation
    unknown = env.step(act("rm_rf", {}))
    assert unknown.info["invalid_action"] and 'no tool called "rm_rf"' in unknown.observation
    first_tool = next(iter(env.toolbox_cls.catalog()))
    wrong = env.step(act(first_tool, {"no_such_argument": 1}))
    assert wrong.info["invalid_action"] and "unexpected no_such_argument" in wrong.observation
    assert not env.done and env.rounds == 4


def test_tool_errors_are_observations_not_invalid_actions() -> None:
    env = agentgym.make("weather")
    env.reset(0)
    res = env.step(act("get_elevation", {"latitude": 0.0, "longitude": -160.0}))
    assert res.observation.startswith("Observation: Error: no weather data")
    assert not res.info["invalid_action"] and res.info["tool_error"]
    today = env.task.config["current_date"]
    future = env.step(act("get_historical_temp", {"latitude": 31.2222, "longitude": 121.4581,
                                                  "start_date": today, "end_date": today}))  # fmt: skip
    assert "historical data ends" in future.observation


# ------------------------------------------------------------------------------ rewards
def test_answer_matching() -> None:
    assert answers_match(12.35, "12.35") and answers_match(12.35, 12.351) and not answers_match(12.35, 12.4)
    assert answers_match("Lyon, France", "lyon, france.") and not answers_match("yes", "no")
    assert answers_match(["A b", "C"], ["c", "a b"]) and answers_match(["A", "B"], "B, A")
    assert answers_match(["A", "B"], '["B", "A"]') and not answers_match(["A", "B"], ["A"])
    assert not answers_match(5, None) and not answers_match("x", None)


def test_wrong_answer_gets_zero_and_ends_the_episode() -> None:
    env = agentgym.make("movie")
    env.reset(0)
    res = env.step(act("finish", {"answer": "certainly not this"}))
    assert res.terminated and res.reward == 0.0 and not res.info["success"]
    env.reset(0)
    res = env.step(act("finish", {"answer": env.task.answer}))
    assert res.reward == 1.0 and res.info["success"]


def _todo_task(kind: str):
    env = agentgym.make("todo")
    tid = next(i for i in env.spec.split("test") if env.task_list()[i].kind == kind)
    return env, tid


def test_todo_checks_the_final_store() -> None:
    env, tid = _todo_task("complete")
    env.reset(tid)
    target = env.task.calls[-1].args["task_id"]
    # the right answer (none needed) but the wrong change: another task deleted instead
    for call in env.task.calls[:-1]:
        env.step(act(call.name, call.args))
    pid = env.task.calls[1].args["project_id"]
    others = [t["id"] for t in env.box.get_tasks(pid) if t["id"] != target]
    env.step(act("delete_task", {"task_id": others[0]}))
    assert env.step(act("finish", {"answer": "done"})).reward == 0.0
    # a query task answered right but with a change on the side fails too
    env, tid = _todo_task("due_date")
    env.reset(tid)
    pid = env.task.calls[1].args["project_id"]
    victim = env.box.get_tasks(pid)[0]["id"]
    env.step(act("complete_task", {"task_id": victim}))
    assert env.step(act("finish", {"answer": env.task.answer})).reward == 0.0


def test_sheet_partial_score_and_wrong_query_answer() -> None:
    env = agentgym.make("sheet")
    tid = next(i for i in env.spec.split("test") if env.task_list()[i].kind == "set_value")
    env.reset(tid)
    env.step(act("open_sheet", env.task.calls[0].args))
    env.step(act("update_cell", {"position": env.task.calls[-1].args["position"], "value": -1}))
    res = env.step(act("finish", {"answer": "done"}))
    assert 0.9 < res.reward < 1.0 and not res.info["success"]
    tid = next(i for i in env.spec.split("test") if env.task_list()[i].kind == "lookup")
    env.reset(tid)
    assert env.step(act("finish", {"answer": "not it"})).reward == 0.0


# ------------------------------------------------------------------------------ isolation + determinism
def test_sessions_do_not_share_stores() -> None:
    a, b = agentgym.make("todo"), agentgym.make("todo")
    env, tid = _todo_task("delete")
    a.reset(tid)
    b.reset(tid)
    target = a.task.calls[-1].args["task_id"]
    pid = a.task.calls[1].args["project_id"]
    a.step(act("delete_task", {"task_id": target}))
    assert target not in [t["id"] for t in a.box.get_tasks(pid)]
    assert target in [t["id"] for t in b.box.get_tasks(pid)]
    a.reset(tid)  # a reset restores the task's store
    assert target in [t["id"] for t in a.box.get_tasks(pid)]

    s1, s2 = agentgym.make("sheet"), agentgym.make("sheet")
    s1.reset(0)
    s2.reset(0)
    name = next(iter(s1.box.book.sheets))
    s1.step(act("del_sheet", {"name": name}))
    assert name not in s1.box.book.sheets and name in s2.box.book.sheets


def test_tasks_are_the_same_in_a_fresh_process() -> None:
    code = (
        "import json, agentgym\n"
        f"out = {{e: [t.goal + repr(t.answer) for t in agentgym.make(e).task_list()] for e in {TOOL_ENVS!r}}}\n"
        "print(json.dumps(out))"
    )
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout)  # fmt: skip
    for env_id in TOOL_ENVS:
        mine = [t.goal + repr(t.answer) for t in agentgym.make(env_id).task_list()]
        assert mine == other[env_id], env_id
        test = {t.goal for t in agentgym.make(env_id).task_list()[:20]}
        train = {t.goal for t in agentgym.make(env_id).task_list()[20:]}
        assert len(test) == 20 and not test & train, env_id


# ------------------------------------------------------------------------------ formulas
def test_formula_engine() -> None:
    grid = {(0, 0): 1, (1, 0): 2, (2, 0): 3.5, (3, 0): "text", (0, 1): 0}

    def cell(r: int, c: int):
        return grid.get((r, c), "")

    assert evaluate("=SUM(A1:A4)", cell) == 6.5
    assert evaluate("=AVERAGE(A1:A3)", cell) == pytest.approx(6.5 / 3)
    assert evaluate("=MIN(A1:A3)", cell) == 1 and evaluate("=max(A1:A4)", cell) == 3.5
    assert evaluate("=COUNT(A1:A5)", cell) == 3
    assert evaluate("=(A1+A2)*2-A3/7", cell) == pytest.approx(5.5)
    assert evaluate("=SUM(A1,A2,10)", cell) == 13
    assert evaluate("=A1/B1", cell) == "#DIV/0!"
    assert evaluate("=EVAL(A1)", cell) == "#NAME?"
    assert evaluate("=__import__('os').system('x')", cell) in ("#NAME?", "#VALUE!")
    assert evaluate("=A4+1", cell) == "#VALUE!"
    assert evaluate("=SUM(A1:ZZZ999999)", cell) == "#REF!"
    assert parse_a1("AA10") == (9, 26)


def test_formula_cells_and_cycles_in_a_sheet() -> None:
    env = agentgym.make("sheet")
    env.reset(0)
    name = next(iter(env.box.book.sheets))
    env.step(act("open_sheet", {"name": name}))
    env.step(act("update_cell", {"position": "H1", "value": 4}))
    env.step(act("update_cell", {"position": "H2", "value": "=H1*10"}))
    assert env.box.get_cell_value("H2") == 40
    env.step(act("update_cell", {"position": "H1", "value": "=H2"}))
    assert env.box.get_cell_value("H2") == "#CYCLE!"
    env.step(act("update_cell", {"position": "H1", "value": "=1/0"}))
    assert env.box.get_cell_value("H2") == "#DIV/0!"  # errors propagate
    # a doubling chain is evaluated once per cell (memoised), not 2**60 times
    chain = [[1]] + [[f"=I{i}+I{i}"] for i in range(1, 60)]
    env.step(act("update_range", {"start_position": "I1", "end_position": "I60", "values_list": chain}))
    assert env.box.get_cell_value("I60") == 2**59
    assert len(env.box.get_all_values()) >= 60


# ------------------------------------------------------------------------------ HTTP (original routes)
def test_original_env_idx_routes_over_http() -> None:
    from agentgym.server.testing import run_server

    with run_server(["weather", "todo"]) as url:
        with httpx.Client(base_url=f"{url}/todo", timeout=30) as http:
            assert http.get("/").json() == "ok"
            idx = http.post("/create", json={"id": 3}).json()
            assert isinstance(idx, int) and idx in http.get("/list_envs").json()
            obs = http.post("/reset", json={"env_idx": idx, "id": 3}).json()
            assert isinstance(obs, str) and obs.startswith("A new trial starts now.")
            assert http.get("/observation", params={"env_idx": idx}).json() == obs
            env = agentgym.make("todo")
            env.reset(3)
            done, reward = False, 0.0
            for _ in range(env.max_rounds):
                reply = env.expert_reply()
                out = http.post("/step", json={"env_idx": idx, "action": reply}).json()
                assert set(out) == {"observation", "reward", "done"}
                env.step(reply)
                done, reward = out["done"], out["reward"]
                if done:
                    break
            assert done and reward == 1.0
            bad = http.post("/step", json={"env_idx": idx, "action": "x"})
            assert bad.status_code == 409  # the episode is over
            again = http.post("/reset", json={"env_idx": idx, "id": None}).json()
            assert again == obs
            hacked = http.post(
                "/step", json={"env_idx": idx, "action": act("finish", "__import__('os')")}
            ).json()
            assert hacked["done"] is False and "JSON" in hacked["observation"]
            assert http.post("/step", json={"env_idx": 999999, "action": "x"}).status_code == 404
            assert http.post("/close", json={"env_idx": idx}).status_code == 200
        with httpx.Client(base_url=f"{url}/weather", timeout=30) as http:
            idx = http.post("/create", json={"id": 0}).json()
            assert http.get("/observation", params={"env_idx": idx}).json().startswith("A new trial")
