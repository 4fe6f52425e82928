"""AgentTraj / AgentEval files: read and write the original formats, convert for training.

The original published sets (reference §4.1) are JSON lists:

* AgentTraj-L: ``[{"item_id": "webshop_6", "conversations": [{"from", "loss", "value"}, ...]}, ...]``
  (inference outputs add ``reward`` and ``success``);
* AgentEval: ``[{"item_id": "webshop_0"}, ...]`` (older copies carry ``"conversations": []``).

Item ids are ``<prefix>_<task index>``, where the prefix is the original's name for the env family;
several differ from our env ids (``sqlgym_`` is BIRD, ``lmrlgym_maze_`` is Maze, the tool envs appear
both bare and ``tool_``-prefixed as in the file names). `env_of_item` maps either form to our
(env id, task id); `original_item_id` writes the form the original's own tools filter on
(``agentevol_filter.py`` matches ``sqlgym``, ``lmrlgym_maze``, ``lmrlgym_wordle``, ``weather``, ...).

For training, `to_chat` turns a conversation into chat ``messages`` (role/content) keeping each
turn's ``loss`` flag, and `to_dataset` builds a ``datasets.Dataset`` with one row per trajectory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agentgym.core.types import Trajectory, Turn, item_id, parse_item_id
from agentgym.rollout.runner import EpisodeItem

# Original item-id prefix -> our env id. Every env also answers to its own id (e.g. "bird_3").
ORIGINAL_PREFIXES: dict[str, str] = {
    "sqlgym": "bird",
    "lmrlgym_maze": "maze",
    "lmrlgym_wordle": "wordle",
    "tool_weather": "weather",
    "tool_movie": "movie",
    "tool_academia": "academia",
    "tool_sheet": "sheet",
    "tool_todo": "todo",
    "todolist": "todo",
    "tool_todolist": "todo",
}
# Our env id -> the prefix the original's scripts expect.
TO_ORIGINAL: dict[str, str] = {"bird": "sqlgym", "maze": "lmrlgym_maze", "wordle": "lmrlgym_wordle"}
ROLE = {"human": "user", "gpt": "assistant"}


def env_of_item(item: str, known_envs: Iterable[str] | None = None) -> tuple[str, int]:
    """``"lmrlgym_maze_3"`` / ``"maze_3"`` -> ``("maze", 3)``; ``"sqlgym_9500"`` -> ``("bird", 9500)``.

    With ``known_envs``, a prefix that maps to none of them is an error (say which file to check).
    """
    prefix, task_id = parse_item_id(item)
    env = ORIGINAL_PREFIXES.get(prefix, prefix)
    if known_envs is not None:
        known = set(known_envs)
        if env not in known:
            raise ValueError(
                f"item id {item!r}: prefix {prefix!r} is not an env here; known: {', '.join(sorted(known))} "
                f"(original prefixes: {', '.join(sorted(ORIGINAL_PREFIXES))})"
            )
    return env, task_id


def original_item_id(env: str, task_id: int) -> str:
    """Our (env, task id) as the original's item id (``bird`` -> ``sqlgym_<id>``)."""
    return f"{TO_ORIGINAL.get(env, env)}_{task_id}"


def _read_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list, or JSON lines (our ``trajectories.jsonl`` and the original inference outputs)."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
    else:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(data, list) or not all(isinstance(r, dict) and "item_id" in r for r in data):
        raise ValueError(
            f"{path}: expected a JSON list of objects with an 'item_id' (AgentTraj/AgentEval format)"
        )
    return data


def load_agenttraj(
    path: str | Path, known_envs: Iterable[str] | None = None, *, keep_ids: bool = False
) -> list[Trajectory]:
    """Read an AgentTraj(-L) file (or inference output / our JSONL) into `Trajectory` objects.

    Item ids are rewritten to ours (``lmrlgym_maze_3`` -> ``maze_3``) so they match our runs'
    keys, unless ``keep_ids``; ``env`` and ``task_id`` are filled in from the id.
    """
    path = Path(path)
    out = []
    for i, rec in enumerate(_read_records(path)):
        env, task_id = env_of_item(str(rec["item_id"]), known_envs)
        try:
            traj = Trajectory.model_validate({**rec, "item_id": str(rec["item_id"])})
        except ValueError as e:
            raise ValueError(f"{path}: record {i} ({rec['item_id']}) is not a valid trajectory: {e}") from e
        update: dict[str, Any] = {
            "env": traj.env or env,
            "task_id": task_id if traj.task_id < 0 else traj.task_id,
        }
        if not keep_ids:
            update["item_id"] = item_id(update["env"], update["task_id"])
        out.append(traj.model_copy(update=update))
    return out


def load_eval_items(
    path: str | Path, known_envs: Iterable[str] | None = None, split: str = "test", samples: int = 1
) -> list[EpisodeItem]:
    """An AgentEval file (item ids only) as runner items."""
    recs = _read_records(Path(path))
    items = []
    for rec in recs:
        env, task_id = env_of_item(str(rec["item_id"]), known_envs)
        items += [EpisodeItem(env, task_id, split, 0, s) for s in range(samples)]
    return items


def save_agenttraj(
    trajs: Iterable[Trajectory], path: str | Path, *, original_ids: bool = False, with_outcome: bool = False
) -> Path:
    """Write the AgentTraj format: ``[{"item_id", "conversations"}]`` (+ reward/success if asked).

    ``original_ids`` renames item ids to the original's prefixes so its scripts accept the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for t in trajs:
        rid = original_item_id(t.env, t.task_id) if original_ids and t.env and t.task_id >= 0 else t.item_id
        rec: dict[str, Any] = {
            "item_id": rid,
            "conversations": [{"from": c.from_, "loss": c.loss, "value": c.value} for c in t.conversations],
        }
        if with_outcome:
            rec["reward"], rec["success"] = t.reward, t.success
        records.append(rec)
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def save_eval_items(items: Iterable[EpisodeItem], path: str | Path, *, original_ids: bool = False) -> Path:
    """Write an AgentEval file (``[{"item_id"}]``), one record per distinct item."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = [original_item_id(i.env, i.task_id) if original_ids else i.item_id for i in items]
    path.write_text(
        json.dumps([{"item_id": i} for i in dict.fromkeys(ids)], indent=1) + "\n", encoding="utf-8"
    )
    return path


def to_chat(conversation: Sequence[Turn | dict[str, Any]]) -> list[dict[str, Any]]:
    """AgentGym turns -> chat messages ``{"role", "content", "loss"}`` (human -> user, gpt -> assistant).

    ``loss`` is kept as written (None on user turns, False on the ack, True on trained replies), so a
    trainer can choose between "every assistant turn" (the original) and "loss == True only".
    """
    msgs = []
    for turn in conversation:
        t = turn if isinstance(turn, Turn) else Turn.model_validate(turn)
        msgs.append({"role": ROLE[t.from_], "content": t.value, "loss": t.loss})
    return msgs


def to_dataset(trajs: Iterable[Trajectory]):
    """A ``datasets.Dataset``: item_id, env, task_id, reward, success and chat ``messages`` per row."""
    from datasets import Dataset

    rows = [
        {
            "item_id": t.item_id,
            "env": t.env,
            "task_id": t.task_id,
            "reward": float(t.reward),
            "success": bool(t.success),
            "messages": to_chat(t.conversations),
        }
        for t in trajs
    ]
    if not rows:
        raise ValueError("no trajectories to convert")
    return Dataset.from_list(rows)


def successful(trajs: Iterable[Trajectory], threshold: float = 1.0) -> list[Trajectory]:
    """Episodes worth keeping as expert data: success and final reward >= ``threshold``, one per item."""
    keep: dict[str, Trajectory] = {}
    for t in trajs:
        if t.success and t.reward >= threshold and t.item_id not in keep:
            keep[t.item_id] = t
    return list(keep.values())
