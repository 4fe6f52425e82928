"""Trajectory files in one place: every reader agrees on both formats, writes are atomic, one
conversion to chat messages, one success filter - and text with Unicode line separators survives."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentgym.core.types import Trajectory, Turn
from agentgym.data.agenttraj import load_agenttraj, save_agenttraj
from agentgym.data.trajfile import (
    CorruptFile,
    keep_successes,
    parse_lines,
    read_records,
    to_messages,
    write_atomic,
    write_records,
)
from agentgym.rollout.store import TRAJECTORIES, RunStore, read_trajectories
from agentgym.train.sft import load_records

# What str.splitlines() breaks a line at besides \n and \r. json.dumps(ensure_ascii=False) escapes
# the C0 controls but writes U+0085, U+2028 and U+2029 raw, so those sit unescaped in a run's file.
SEPARATORS = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"


def _traj(i: int, text: str = "go", **kw) -> Trajectory:
    conv = [
        Turn.model_validate({"from": "human", "value": f"task {i}: {text}"}),
        Turn.model_validate({"from": "gpt", "value": "OK.", "loss": False}),
        Turn.model_validate({"from": "gpt", "value": f"Action: {text}", "loss": True}),
    ]
    return Trajectory(item_id=f"maze_{i}", env="maze", task_id=i, conversations=conv, env_version="1", **kw)


def test_line_separators_in_text_survive_every_reader(tmp_path):
    """Regression: load_agenttraj split a run's own trajectories.jsonl with str.splitlines()."""
    text = f"a{SEPARATORS}b"
    trajs = [_traj(1, text, reward=1.0, success=True, error=f"x{text}"), _traj(2)]
    with RunStore(tmp_path) as store:  # the real writer
        store.add_many(trajs)
    path = tmp_path / TRAJECTORIES
    assert "\u2028".encode() in path.read_bytes()  # written raw: the case that broke
    assert len(path.read_bytes().split(b"\n")) == 3  # two lines and the final newline

    values = [t.conversations[2].value for t in trajs]
    assert [t.conversations[2].value for t in read_trajectories(tmp_path)] == values
    with RunStore(tmp_path) as store:  # reopening (resume) reads it too, and repairs nothing
        assert store.repaired_bytes == 0 and len(store) == 2
    assert [t.conversations[2].value for t in load_agenttraj(path)] == values
    assert [r["conversations"][2]["value"] for r in load_records([path])] == values  # BC data
    assert [r["conversations"][2]["value"] for r in read_records(path)] == values  # AgentEvol D_m
    assert read_records(path)[0]["error"] == f"x{text}"
    # ... and both written formats read back the same way
    d1 = write_records(tmp_path / "D1.jsonl", [t.dump() for t in trajs], fmt="lines")
    agenttraj = save_agenttraj(trajs, tmp_path / "agenttraj.json")
    for f in (d1, agenttraj):
        assert [t.conversations[2].value for t in load_agenttraj(f)] == values


def test_format_is_told_by_the_first_character(tmp_path):
    recs = [{"item_id": "maze_1", "conversations": []}, {"item_id": "maze_2", "conversations": []}]
    files = {
        "list.json": "\n  " + json.dumps(recs, indent=1),
        "lines.jsonl": "".join(json.dumps(r) + "\n" for r in recs),
        "no_final_newline.txt": "\n".join(json.dumps(r) for r in recs),
        "blank_lines.jsonl": "\n" + json.dumps(recs[0]) + "\n\n" + json.dumps(recs[1]) + "\n\n",
        "wrapper.json": json.dumps({"data": recs}, indent=2),
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        assert read_records(tmp_path / name) == recs, name
    (tmp_path / "one.json").write_text(json.dumps(recs[0], indent=2))  # one pretty-printed record
    assert read_records(tmp_path / "one.json") == recs[:1]
    (tmp_path / "empty.jsonl").write_text("")
    assert read_records(tmp_path / "empty.jsonl") == []


def test_bad_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item_id": "maze_1"}\n{not json\n{"item_id": "maze_2"}\n')
    with pytest.raises(CorruptFile, match="line 2"):
        read_records(bad)
    bad.write_text('[{"item_id": "maze_1"}, 3]')
    with pytest.raises(ValueError, match="record 1 is not a JSON object"):
        read_records(bad)
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "missing.json")


def test_torn_tail_is_cut_only_when_asked():
    good = b'{"a": 1}\n{"a": 2}\n'
    assert parse_lines(good + b'{"a": 3}', "f") == ([{"a": 1}, {"a": 2}, {"a": 3}], len(good) + 8)
    assert parse_lines(good + b'{"a": 3}', "f", torn_tail=True) == ([{"a": 1}, {"a": 2}], len(good))
    assert parse_lines(good + b'{"a"\n\n', "f", torn_tail=True) == ([{"a": 1}, {"a": 2}], len(good))
    with pytest.raises(CorruptFile, match="line 3"):
        parse_lines(good + b'{"a"\n\n', "f")


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "sub" / "D0.jsonl"
    write_atomic(path, b"old\n")
    write_records(path, [{"a": "\u2028"}], fmt="lines")
    assert path.read_bytes() == '{"a": "\u2028"}\n'.encode()
    assert [p.name for p in path.parent.iterdir()] == ["D0.jsonl"]


CONV = [
    {"from": "human", "value": "instruction"},
    {"from": "gpt", "value": "OK.", "loss": False},
    {"from": "human", "value": "obs", "loss": None},
    {"from": "gpt", "value": "Action: up", "loss": True},
    {"from": "gpt", "value": "Action: down"},  # no flag: trained unless loss is False
]


def test_one_conversion_with_the_loss_flags_a_caller_asks_for():
    roles = ["user", "assistant", "user", "assistant", "assistant"]
    plain = to_messages(CONV)  # what an agent is prompted with: no extra keys
    assert plain == [{"role": r, "content": c["value"]} for r, c in zip(roles, CONV, strict=True)]
    assert [m["loss"] for m in to_messages(CONV, "as_written")] == [None, False, None, True, None]
    assert [m.get("loss") for m in to_messages(CONV, "loss_true")] == [None, False, None, True, True]
    assert [m.get("loss") for m in to_messages(CONV, "all_gpt")] == [None, True, None, True, True]
    turns = [Turn.model_validate(c) for c in CONV]
    assert to_messages(turns, "as_written") == to_messages(CONV, "as_written")
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert to_messages(chat) == chat  # chat-form turns pass through
    with pytest.raises(ValueError, match="bad conversation turn"):
        to_messages([{"from": "robot", "value": "x"}])
    with pytest.raises(ValueError, match="loss_on"):
        to_messages(CONV, "everything")  # type: ignore[arg-type]


def test_one_success_filter_with_threshold_and_per_item_options():
    def t(item: int, sample: int, reward: float, success: bool, stop: str = "done") -> Trajectory:
        return Trajectory(
            item_id=f"maze_{item}", env="maze", task_id=item, sample=sample, reward=reward,
            success=success, stop=stop,
        )  # fmt: skip

    trajs = [
        t(1, 0, 1.0, True),
        t(1, 1, 1.0, True),
        t(2, 0, 0.5, False),  # partly rewarded
        t(3, 0, 1.0, True, "error"),
        t(4, 0, 1.0, False),  # rewarded, but the env did not say solved
    ]
    keys = lambda kept: [x.key for x in kept]  # noqa: E731
    done = [x for x in trajs if x.stop != "error"]
    assert keys(keep_successes(done)) == ["maze_1#0"]  # maze's threshold, and solved
    assert keys(keep_successes(done, per_item=None)) == ["maze_1#0", "maze_1#1"]
    assert keys(keep_successes(done, 0.5, per_item=None)) == ["maze_1#0", "maze_1#1"]
    assert keys(keep_successes(trajs, by="reward")) == ["maze_1#0", "maze_4#0"]
    assert keys(keep_successes(trajs, 0.5, by="reward")) == ["maze_1#0", "maze_2#0", "maze_4#0"]
    assert keys(keep_successes(trajs, {"maze": 0.5}, by="reward")) == keys(
        keep_successes(trajs, 0.5, by="reward")
    )


def test_data_does_not_import_the_runner():
    code = (
        "import sys, agentgym.data, agentgym.data.trajfile;"
        "from agentgym.rollout.runner import EpisodeItem as A;"  # the old name still works
        "from agentgym.core.types import EpisodeItem as B;"
        "assert A is B"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    probe = "import sys, agentgym.data; print(sorted(m for m in sys.modules if 'rollout' in m))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
