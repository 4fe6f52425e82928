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
Reading and writing the files, the conversion and the success filter are `agentgym.data.trajfile`'s;
this module adds what the original's files *mean* (ids, outcomes).

What an original file means here:

* **Outcome.** An AgentTraj(-L) record carries no ``reward``/``success``: the set is made of
  successful demonstrations (expert and filtered GPT/Llama rollouts, reference §3). `load_agenttraj`
  marks such records ``success=True, reward=1.0`` as the original's trainers treat them, so a
  success filter keeps them; records that state an outcome (inference outputs, our runs) keep it.
* **Task ids.** An item id names a task by index. For Maze, BabyAI, SciWorld and TextCraft our
  task ids follow the original's indexing. WebShop, ALFWorld and BIRD follow it only when the
  original data is on disk (``$WEBSHOP_DATA``, ``$ALFWORLD_DATA``, ``$BIRD_PATH``); otherwise, and
  always for Wordle and the tool envs, the same id is one of *our* generated tasks - another task
  than the original's. Loading such ids warns once per env and process (`OriginalIdsWarning`).
* **Env families.** An id whose env is not registered here (``webarena_3`` while WebArena is not
  available) is an error naming the supported envs, not a record for an env nobody can run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.core.types import EpisodeItem, Trajectory, Turn, item_id, parse_item_id
from agentgym.data.trajfile import keep_successes, read_records, to_messages, write_records

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

ORIGINAL_DATA_VARS: dict[str, str] = {
    "webshop": "WEBSHOP_DATA",
    "alfworld": "ALFWORLD_DATA",
    "bird": "BIRD_PATH",
}
"""Envs whose task ids are the original's only when this variable points at the original data."""
OWN_TASKS: frozenset[str] = frozenset({"wordle", "weather", "movie", "academia", "sheet", "todo", "searchqa"})
"""Envs whose task ids are always our own tasks (generated data; no loader for the original's)."""
_warned: set[str] = set()


class OriginalIdsWarning(UserWarning):
    """Item ids of a file name other tasks here than in the original AgentGym (see the module doc)."""


def _original_data_on_disk(env: str) -> bool:
    """Whether the original data of ``env`` is configured (without importing the env)."""
    value = os.environ.get(ORIGINAL_DATA_VARS[env], "")
    if env == "alfworld":  # the games folder, as `agentgym.envs.alfworld.tasks.official_root` wants
        return bool(value) and (Path(value) / "json_2.1.1").is_dir()
    return bool(value)


def ids_differ_note(env: str) -> str | None:
    """Why ``<env>_<n>`` from an original file is not the original's task ``n`` here, or None
    when it is (the env follows the original indexing, or its original data is on disk)."""
    if env in ORIGINAL_DATA_VARS and not _original_data_on_disk(env):
        var = ORIGINAL_DATA_VARS[env]
        return f"${var} is not set, so they are tasks of our generated {env} data; set ${var} to the original data"
    if env in OWN_TASKS:
        return f"they are tasks of our own {env} data (agentgym has no loader for the original's)"
    return None


def _warn_ids(path: Path, envs: Iterable[str]) -> None:
    """Warn once per env and process that ``path``'s ids of ``envs`` may name other tasks here."""
    for env in sorted(set(envs) - _warned):
        note = ids_differ_note(env)
        if note is None:
            continue
        _warned.add(env)
        warnings.warn(
            f"{path}: {env} item ids name agentgym's tasks, not the original AgentGym's: {note}. "
            "If this file comes from the original (AgentTraj-L, AgentEval), its episodes and ids "
            "do not match the tasks they would be replayed or scored on here.",
            OriginalIdsWarning,
            stacklevel=3,
        )


def _known(known_envs: Iterable[str] | None) -> set[str]:
    """The envs an item id may name: ``known_envs``, or every env registered here."""
    if known_envs is not None:
        return set(known_envs)
    from agentgym.core.registry import list_envs

    return set(list_envs())


def env_of_item(item: str, known_envs: Iterable[str] | None = None) -> tuple[str, int]:
    """``"lmrlgym_maze_3"`` / ``"maze_3"`` -> ``("maze", 3)``; ``"sqlgym_9500"`` -> ``("bird", 9500)``.

    With ``known_envs``, a prefix that maps to none of them is an error that names the supported
    envs and original prefixes (the loaders pass every registered env).
    """
    prefix, task_id = parse_item_id(item)
    env = ORIGINAL_PREFIXES.get(prefix, prefix)
    if known_envs is not None:
        known = set(known_envs)
        if env not in known:
            raise ValueError(
                f"item id {item!r}: {prefix!r} is not an env here (not supported by this agentgym); "
                f"supported envs: {', '.join(sorted(known))}; original prefixes: "
                f"{', '.join(f'{k} ({v})' for k, v in sorted(ORIGINAL_PREFIXES.items()))}"
            )
    return env, task_id


def original_item_id(env: str, task_id: int) -> str:
    """Our (env, task id) as the original's item id (``bird`` -> ``sqlgym_<id>``)."""
    return f"{TO_ORIGINAL.get(env, env)}_{task_id}"


def _read_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list, or JSON lines (our ``trajectories.jsonl`` and the original inference outputs)."""
    data = read_records(path)
    if not all("item_id" in r for r in data):
        raise ValueError(
            f"{path}: expected a JSON list of objects with an 'item_id' (AgentTraj/AgentEval format)"
        )
    return data


def load_agenttraj(
    path: str | Path, known_envs: Iterable[str] | None = None, *, keep_ids: bool = False
) -> list[Trajectory]:
    """Read an AgentTraj(-L) file (or inference output / our JSONL) into `Trajectory` objects.

    Item ids are rewritten to ours (``lmrlgym_maze_3`` -> ``maze_3``) so they match our runs'
    keys, unless ``keep_ids``; ``env`` and ``task_id`` are filled in from the id. Ids must name an
    env of ``known_envs`` (default: every registered env).

    A record with conversations but no ``reward`` and no ``success`` is a demonstration of an
    AgentTraj set, successful by construction: it loads as ``success=True, reward=1.0`` (the
    original's trainers use every such record as a success). A record that states its outcome
    keeps it. Ids that name other tasks here than in the original warn once (module doc).
    """
    path = Path(path)
    known = _known(known_envs)
    records = _read_records(path)
    out = []
    for i, rec in enumerate(records):
        env, task_id = env_of_item(str(rec["item_id"]), known)
        if rec.get("conversations") and "reward" not in rec and "success" not in rec:
            rec = {**rec, "reward": 1.0, "success": True}
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
    if not all(rec.get("env_version") for rec in records):  # our own runs' records carry it
        _warn_ids(path, {t.env for t in out})
    return out


def load_eval_items(
    path: str | Path,
    known_envs: Iterable[str] | None = None,
    split: str = "test",
    samples: int = 1,
    *,
    only: Iterable[str] | None = None,
) -> list[EpisodeItem]:
    """An AgentEval file (item ids only) as runner items; ids must name an env of ``known_envs``
    (default: every registered env), and ids that name other tasks here warn once (module doc).

    ``only``: keep the items of these envs and skip the others unchecked - a file of every env's
    ids (``webarena_*`` included) still serves ``agentgym eval --envs maze --items FILE``."""
    recs = _read_records(Path(path))
    known = set(only) if only is not None else _known(known_envs)
    items = []
    for rec in recs:
        if only is not None:
            prefix, _ = parse_item_id(str(rec["item_id"]))
            if ORIGINAL_PREFIXES.get(prefix, prefix) not in known:
                continue
        env, task_id = env_of_item(str(rec["item_id"]), known)
        items += [EpisodeItem(env, task_id, split, 0, s) for s in range(samples)]
    _warn_ids(Path(path), {it.env for it in items})
    return items


def save_agenttraj(
    trajs: Iterable[Trajectory], path: str | Path, *, original_ids: bool = False, with_outcome: bool = False
) -> Path:
    """Write the AgentTraj format: ``[{"item_id", "conversations"}]`` (+ reward/success if asked).

    ``original_ids`` renames item ids to the original's prefixes so its scripts accept the file.
    """
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
    return write_records(path, records, fmt="list")


def save_eval_items(items: Iterable[EpisodeItem], path: str | Path, *, original_ids: bool = False) -> Path:
    """Write an AgentEval file (``[{"item_id"}]``), one record per distinct item."""
    ids = [original_item_id(i.env, i.task_id) if original_ids else i.item_id for i in items]
    return write_records(path, [{"item_id": i} for i in dict.fromkeys(ids)], fmt="list")


def to_chat(conversation: Sequence[Turn | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """AgentGym turns -> chat messages ``{"role", "content", "loss"}`` (human -> user, gpt -> assistant).

    ``loss`` is kept as written (None on user turns, False on the ack, True on trained replies), so a
    trainer can choose between "every assistant turn" (the original) and "loss == True only".
    """
    return to_messages(conversation, "as_written")


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
            "messages": to_messages(t.conversations, "as_written"),
        }
        for t in trajs
    ]
    if not rows:
        raise ValueError("no trajectories to convert")
    return Dataset.from_list(rows)


def successful(trajs: Iterable[Trajectory], threshold: float = 1.0) -> list[Trajectory]:
    """Episodes worth keeping as expert data: success and final reward >= ``threshold``, one per item."""
    return keep_successes(trajs, threshold, per_item=1, by="success")
