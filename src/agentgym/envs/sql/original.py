"""Load BIRD itself when it is on disk, with the original AgentGym item ids.

``$BIRD_PATH`` (or ``BirdEnv(bird_path=...)``) points at a folder with BIRD's ``train/`` and ``dev/``
folders as unzipped from the BIRD site: ``train/train.json`` + ``train/train_databases/<db>/<db>.sqlite``
and ``dev/dev.json`` + ``dev/dev_databases/<db>/<db>.sqlite``. Ids are the original's: train items
``0..len(train)-1`` (0-9427 for the full set), then dev items (9428-10961). The test split is 200 dev
ids spread evenly over dev (or the ids in the JSON file ``$BIRD_TEST_IDS``, e.g. AgentEval's
``sqlgym_test.json``); ``dev`` lists every dev id; train is every train id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentgym.envs.sql.questions import TEST_SIZE, Question

PATH_ENV_VAR = "BIRD_PATH"


def _items(folder: Path, split: str) -> list[dict]:
    path = folder / split / f"{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"BIRD {split} questions not found at {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _db(folder: Path, split: str, db_id: str) -> Path:
    path = folder / split / f"{split}_databases" / db_id / f"{db_id}.sqlite"
    if path.is_file():
        return path
    hits = sorted((folder / split).rglob(f"{db_id}.sqlite"))
    if not hits:
        raise FileNotFoundError(f"BIRD database {db_id!r} not found under {folder / split}")
    return hits[0]


def load_bird(folder: str | os.PathLike[str]) -> tuple[dict[tuple[str, str], Path], list[Question], int]:
    """(db paths by (split, db id), questions in id order, number of train items)."""
    root = Path(folder)
    questions: list[Question] = []
    dbs: dict[tuple[str, str], Path] = {}
    n_train = 0
    for split in ("train", "dev"):
        items = _items(root, split)
        for it in items:
            db_id = str(it["db_id"])
            if (split, db_id) not in dbs:
                dbs[(split, db_id)] = _db(root, split, db_id)
            sql = it.get("SQL") or it.get("query") or ""
            q = Question(
                db_id,
                str(it["question"]),
                str(it.get("evidence") or ""),
                str(sql),
                str(it.get("difficulty") or ""),
            )
            questions.append(q)
        if split == "train":
            n_train = len(items)
    return dbs, questions, n_train


def bird_splits(n_train: int, n_total: int) -> dict[str, list[int]]:
    dev = list(range(n_train, n_total))
    path = os.environ.get("BIRD_TEST_IDS")
    if path:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        ids = {int(str(r["item_id"] if isinstance(r, dict) else r).rpartition("_")[2]) for r in raw}
        test = sorted(i for i in ids if n_train <= i < n_total)
    elif len(dev) <= TEST_SIZE:
        test = dev
    else:
        test = [dev[(k * len(dev)) // TEST_SIZE] for k in range(TEST_SIZE)]
    return {"train": list(range(n_train)), "test": test, "dev": dev}
