"""AgentTraj / AgentEval files: original id forms, round trips, chat messages, HF datasets."""

from __future__ import annotations

import json

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
