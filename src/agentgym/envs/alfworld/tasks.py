"""ALFWorld task ids -> games: the official files when present, generated games otherwise.

Ids as the original: train 0-2419 (AgentTraj-L), test 2420-2619 (AgentEval).

* **Official data** (``$ALFWORLD_DATA/json_2.1.1``, from ``alfworld-download``): the original
  AgentGym maps train ids through ``mappings_train.json`` into ``json_2.1.1/train`` and test ids
  through ``mappings_test.json`` into ``json_2.1.1/valid_train``; each entry names
  ``{task_type, task_id}`` -> ``<root>/<task_type>/<task_id>/game.tw-pddl``. We read those mapping
  files from ``$ALFWORLD_DATA`` (or ``$ALFWORLD_DATA/configs``) when present; without them, ids
  follow the sorted game folders (train from 0, valid_train from 2420) - the same games, but the
  id order is then ours.
* **Generated** (`generate`): a game per id, deterministic, cached as ``<cache>/alfworld/games/
  v{GEN_VERSION}/{id}.tw-pddl`` so it is built once per machine.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path

TRAIN = range(0, 2420)
TEST = range(2420, 2620)
GEN_VERSION = 1
MAX_ATTEMPTS = 50


def splits() -> dict[str, list[int]]:
    return {"train": list(TRAIN), "test": list(TEST)}


def cache_root() -> Path:
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "alfworld"


# ---------------------------------------------------------------------- official game files
def official_root() -> Path | None:
    """``$ALFWORLD_DATA/json_2.1.1`` if it holds games."""
    data = os.environ.get("ALFWORLD_DATA")
    if not data:
        return None
    root = Path(data) / "json_2.1.1"
    return root if root.is_dir() else None


def _mapping_file(name: str) -> Path | None:
    data = Path(os.environ["ALFWORLD_DATA"])
    for p in (data / name, data / "configs" / name):
        if p.exists():
            return p
    return None


def _entries(raw: object) -> dict[int, tuple[str, str]]:
    """Mapping entries in either shape: a list ``[{item_id?, task_type, task_id}]`` or a dict
    ``{item_id: {task_type, task_id}}``."""
    out: dict[int, tuple[str, str]] = {}
    if isinstance(raw, dict):
        items = [(int(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        items = [(int(v.get("item_id", i)), v) for i, v in enumerate(raw)]
    else:
        raise ValueError("an ALFWorld mapping file must hold a list or a dict")
    for item, v in items:
        out[item] = (str(v["task_type"]), str(v["task_id"]))
    return out


@cache
def official_games(root: str) -> dict[int, Path]:
    """Task id -> game file of the official data under ``root``."""
    base = Path(root)
    games: dict[int, Path] = {}
    for split, sub, ids in (("train", "train", TRAIN), ("test", "valid_train", TEST)):
        mapping = _mapping_file(f"mappings_{split}.json")
        if mapping is not None:
            entries = _entries(json.loads(mapping.read_text()))
            if entries and min(entries) == 0 and split == "test":  # stored 0-based: shift
                entries = {k + TEST.start: v for k, v in entries.items()}
            for item, (ttype, tid) in entries.items():
                games[item] = base / sub / ttype / tid / "game.tw-pddl"
        else:
            found = sorted((base / sub).glob("*/*/game.tw-pddl"))
            for item, path in zip(ids, found, strict=False):
                games[item] = path
    return games


# ---------------------------------------------------------------------------- generated games
_gen_lock = threading.Lock()


def generated_game_path(task_id: int) -> Path:
    return cache_root() / "games" / f"v{GEN_VERSION}" / f"{task_id}.tw-pddl"


def generate_game(task_id: int) -> dict:
    """Build (or read from the cache) the generated game of ``task_id``."""
    path = generated_game_path(task_id)
    if path.exists():
        return json.loads(path.read_text())
    from agentgym.envs.alfworld.generate import draw_spec, game_dict, plan_length

    with _gen_lock:  # one generation at a time per process: fast-downward is not cheap
        if path.exists():
            return json.loads(path.read_text())
        for attempt in range(MAX_ATTEMPTS):
            spec = draw_spec(task_id, attempt)
            if spec is None:
                continue
            game = game_dict(spec)
            n = plan_length(game)
            if n is None:
                continue
            game["agentgym"]["attempt"] = attempt
            game["agentgym"]["plan_length"] = n
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(game))
            os.replace(tmp, path)
            return game
    raise RuntimeError(f"alfworld: no solvable game found for task {task_id} in {MAX_ATTEMPTS} attempts")


def load_game(task_id: int) -> tuple[dict, str]:
    """The game payload of ``task_id`` and where it came from (a path or ``generated``)."""
    root = official_root()
    if root is not None:
        games = official_games(str(root))
        if task_id in games and games[task_id].exists():
            return json.loads(games[task_id].read_text()), str(games[task_id])
    return generate_game(task_id), "generated"


def task_type_of(game: dict, source: str) -> str:
    """ALFWorld task type: from our metadata, else from the official folder name."""
    meta = game.get("agentgym")
    if meta:
        return meta["task_type"]
    return Path(source).parent.parent.name.split("-", 1)[0]
