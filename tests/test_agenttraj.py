"""AgentTraj / AgentEval files: original id forms, round trips, chat messages, HF datasets."""

from __future__ import annotations

import json
import warnings

import pytest

from agentgym.core.types import Trajectory, Turn
from agentgym.data.agenttraj import (
    env_of_item,
    load_agenttraj,
    load_eval_items,
    original_item_id,
    save_agenttraj,
    save_eval_items,
    successful,
    to_chat,
    to_dataset,
)
from agentgym.rollout.runner import EpisodeItem

CONV = [
    {"from": "human", "loss": None, "value": "You are in a maze..."},
    {
        "from": "gpt",
        "loss": False,
        "value": "OK. I'll follow your instructions and try my best to solve the task.",
    },
    {"from": "human", "loss": None, "value": "The goal is at position 8, 6."},
    {"from": "gpt", "loss": True, "value": "Thought: go down.\n\nAction: move down"},
]


def test_item_id_prefixes_both_forms():
    assert env_of_item("lmrlgym_maze_3") == ("maze", 3) == env_of_item("maze_3")
    assert env_of_item("lmrlgym_wordle_12") == ("wordle", 12) == env_of_item("wordle_12")
    assert env_of_item("sqlgym_9500") == ("bird", 9500) == env_of_item("bird_9500")
    assert env_of_item("tool_weather_4") == ("weather", 4) == env_of_item("weather_4")
    assert env_of_item("tool_todo_1") == ("todo", 1) == env_of_item("todo_1")
    assert env_of_item("webshop_6") == ("webshop", 6)
    assert original_item_id("bird", 9500) == "sqlgym_9500"
    assert original_item_id("maze", 3) == "lmrlgym_maze_3"
    assert original_item_id("weather", 4) == "weather_4"
    with pytest.raises(ValueError, match="not an env here"):
        env_of_item("searchqa_1", known_envs=["maze", "wordle"])
    with pytest.raises(ValueError, match="item id"):
        env_of_item("maze")


def test_load_original_agenttraj_file(tmp_path):
    path = tmp_path / "lmrlgym_maze_train.json"
    path.write_text(
        json.dumps(
            [
                {"conversations": CONV, "item_id": "lmrlgym_maze_3"},
                {"conversations": CONV[:2], "item_id": "lmrlgym_maze_7", "reward": 1.0, "success": 1},
            ]
        )
    )
    trajs = load_agenttraj(path, known_envs=["maze"])
    assert [(t.item_id, t.env, t.task_id) for t in trajs] == [("maze_3", "maze", 3), ("maze_7", "maze", 7)]
    assert trajs[0].conversations[3] == Turn(**{"from": "gpt", "value": CONV[3]["value"], "loss": True})
    assert trajs[1].reward == 1.0 and trajs[1].success is True
    assert load_agenttraj(path, keep_ids=True)[0].item_id == "lmrlgym_maze_3"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": 1}]))
    with pytest.raises(ValueError, match="JSON list"):
        load_agenttraj(bad)


def test_round_trip_and_original_ids(tmp_path):
    t = Trajectory(
        item_id="bird_9500",
        env="bird",
        task_id=9500,
        conversations=[Turn.model_validate(c) for c in CONV],
        reward=1.0,
        success=True,
        rounds=1,
    )
    ours = save_agenttraj([t], tmp_path / "ours.json")
    raw = json.loads(ours.read_text())
    assert raw == [{"item_id": "bird_9500", "conversations": CONV}]
    assert list(raw[0]["conversations"][0]) == ["from", "loss", "value"]  # the original's key order
    back = load_agenttraj(ours)
    assert back[0].conversations == t.conversations and back[0].item_id == "bird_9500"
    orig = json.loads(
        save_agenttraj([t], tmp_path / "orig.json", original_ids=True, with_outcome=True).read_text()
    )
    assert orig[0]["item_id"] == "sqlgym_9500" and orig[0]["reward"] == 1.0 and orig[0]["success"] is True
    assert load_agenttraj(tmp_path / "orig.json")[0].item_id == "bird_9500"


def test_agenteval_id_files(tmp_path):
    path = tmp_path / "maze_test.json"
    path.write_text(
        json.dumps([{"item_id": "lmrlgym_maze_0", "conversations": []}, {"item_id": "lmrlgym_maze_1"}])
    )
    items = load_eval_items(path, known_envs=["maze"], samples=2)
    assert items == [
        EpisodeItem("maze", 0, "test", 0, 0),
        EpisodeItem("maze", 0, "test", 0, 1),
        EpisodeItem("maze", 1, "test", 0, 0),
        EpisodeItem("maze", 1, "test", 0, 1),
    ]
    out = save_eval_items(items, tmp_path / "ids.json", original_ids=True)
    assert json.loads(out.read_text()) == [{"item_id": "lmrlgym_maze_0"}, {"item_id": "lmrlgym_maze_1"}]


def test_jsonl_run_files_load_too(tmp_path):
    t = Trajectory(
        item_id="maze_2", env="maze", task_id=2, conversations=[Turn.model_validate(c) for c in CONV]
    )
    path = tmp_path / "trajectories.jsonl"
    path.write_text(json.dumps(t.dump()) + "\n")
    assert load_agenttraj(path)[0].conversations == t.conversations


def test_chat_messages_and_dataset():
    msgs = to_chat(CONV)
    assert [(m["role"], m["loss"]) for m in msgs] == [
        ("user", None),
        ("assistant", False),
        ("user", None),
        ("assistant", True),
    ]
    assert msgs[3]["content"] == CONV[3]["value"]
    trajs = [
        Trajectory(
            item_id=f"maze_{i}",
            env="maze",
            task_id=i,
            conversations=[Turn.model_validate(c) for c in CONV],
            reward=float(i % 2),
            success=bool(i % 2),
        )
        for i in range(4)
    ]
    ds = to_dataset(trajs)
    assert len(ds) == 4 and set(ds.column_names) >= {"item_id", "env", "messages", "reward", "success"}
    assert ds[1]["messages"][3] == {"role": "assistant", "content": CONV[3]["value"], "loss": True}
    assert ds[0]["messages"][0]["loss"] is None
    assert [t.item_id for t in successful(trajs + trajs)] == ["maze_1", "maze_3"]
    with pytest.raises(ValueError):
        to_dataset([])


# ------------------------------------------------------------------ original-data semantics
@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget which envs were already warned about (the warning is once per env and process)."""
    import agentgym.data.agenttraj as agenttraj

    monkeypatch.setattr(agenttraj, "_warned", set())
    for var in ("WEBSHOP_DATA", "ALFWORLD_DATA", "BIRD_PATH"):
        monkeypatch.delenv(var, raising=False)


def test_original_records_load_as_successful_demonstrations(tmp_path):
    path = tmp_path / "lmrlgym_maze_train.json"
    path.write_text(
        json.dumps(
            [
                {"item_id": "lmrlgym_maze_3", "conversations": CONV},  # AgentTraj-L: no outcome
                {"item_id": "lmrlgym_maze_4", "conversations": CONV, "reward": 0.0, "success": False},
                {"item_id": "lmrlgym_maze_5", "conversations": []},  # an AgentEval-style id record
            ]
        )
    )
    a, b, c = load_agenttraj(path)
    assert (a.success, a.reward) == (True, 1.0)  # an expert demo, as the original trains on it
    assert (b.success, b.reward) == (False, 0.0)  # a stated outcome is kept
    assert (c.success, c.reward) == (False, 0.0)  # no conversation: not a demonstration
    assert [t.item_id for t in successful([a, b, c])] == ["maze_3"]


def test_unknown_env_family_is_an_error_naming_the_supported_envs(tmp_path):
    path = tmp_path / "webarena_test.json"
    path.write_text(json.dumps([{"item_id": "webarena_3", "conversations": CONV}]))
    for load in (load_agenttraj, load_eval_items):
        with pytest.raises(ValueError, match="'webarena' is not an env here") as exc:
            load(path)
        assert "supported envs: " in str(exc.value) and "maze" in str(exc.value)
        assert "sqlgym (bird)" in str(exc.value)  # the original prefixes too
    # a file of every env's ids still serves one env: the others are skipped unchecked
    mixed = tmp_path / "all_test.json"
    mixed.write_text(json.dumps([{"item_id": "webarena_3"}, {"item_id": "lmrlgym_maze_1"}]))
    assert load_eval_items(mixed, only=["maze"]) == [EpisodeItem("maze", 1)]


def test_ids_of_generated_tasks_warn_once(tmp_path, monkeypatch, fresh_warnings):
    from agentgym.data.agenttraj import OriginalIdsWarning

    shop = tmp_path / "webshop_test.json"
    shop.write_text(json.dumps([{"item_id": "webshop_0"}, {"item_id": "webshop_5238"}]))
    with pytest.warns(OriginalIdsWarning, match=r"webshop item ids .*\$WEBSHOP_DATA is not set"):
        load_eval_items(shop)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_eval_items(shop)  # once per env and process
        maze = tmp_path / "maze.json"  # Maze follows the original indexing: no warning
        maze.write_text(json.dumps([{"item_id": "lmrlgym_maze_0", "conversations": CONV}]))
        load_agenttraj(maze)
    with pytest.warns(OriginalIdsWarning, match="wordle item ids .* no loader for the original"):
        wordle = tmp_path / "wordle.json"
        wordle.write_text(json.dumps([{"item_id": "lmrlgym_wordle_2", "conversations": CONV}]))
        load_agenttraj(wordle)


def test_no_warning_with_original_data_or_for_our_own_runs(tmp_path, monkeypatch, fresh_warnings):
    monkeypatch.setenv("BIRD_PATH", str(tmp_path))  # the original data is on disk: same tasks
    bird = tmp_path / "sqlgym.json"
    bird.write_text(json.dumps([{"item_id": "sqlgym_9500", "conversations": CONV}]))
    ours = Trajectory(item_id="webshop_1", env="webshop", task_id=1, env_version="1", success=True)
    run = tmp_path / "trajectories.jsonl"  # our run's records name our tasks by construction
    run.write_text(json.dumps(ours.dump()) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_agenttraj(bird)
        assert load_agenttraj(run)[0].success is True
