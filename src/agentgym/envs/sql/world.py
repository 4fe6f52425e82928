"""The shared, read-only part of the BIRD env: databases + questions, loaded once per process.

Generated mode builds the databases and questions into the cache dir on first use (a file lock
makes concurrent processes build once); BIRD mode reads ``$BIRD_PATH``. Gold results are computed
on first use and cached (bounded), since many sessions replay the same questions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from agentgym.envs.sql.databases import cache_dir
from agentgym.envs.sql.executor import execute
from agentgym.envs.sql.questions import Question, generated_splits, load_generated
from agentgym.envs.sql.sqlworker import row_bytes

GOLD_TIMEOUT_MS = 30_000
GOLD_MAX_ROWS = 1_000_000
GOLD_MAX_BYTES = 128 << 20
_GOLD_CACHE = 4096


@dataclass
class World:
    questions: list[Question]
    splits: dict[str, list[int]]
    db_paths: dict[int | str, Path]  # "db_id" (generated) or question id -> path (BIRD)
    n_train: int = 0
    source: str = "generated"
    _gold: OrderedDict[int, tuple[frozenset, int]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.valid_ids = frozenset(i for ids in self.splits.values() for i in ids)

    def db_path(self, qid: int) -> Path:
        if self.source == "generated":
            return self.db_paths[self.questions[qid].db_id]
        split = "train" if qid < self.n_train else "dev"
        return self.db_paths[f"{split}/{self.questions[qid].db_id}"]

    def gold_rows(self, qid: int) -> frozenset:
        return self.gold(qid)[0]

    def gold(self, qid: int) -> tuple[frozenset, int]:
        """The gold query's rows as a set, and their size in bytes (the bound a model's correct
        answer must be allowed). Gold SQL is trusted: it runs in-process, with a longer limit."""
        with self._lock:
            hit = self._gold.get(qid)
        if hit is not None:
            return hit
        res = execute(
            self.db_path(qid),
            self.questions[qid].sql,
            timeout_ms=GOLD_TIMEOUT_MS,
            max_rows=GOLD_MAX_ROWS,
            max_bytes=GOLD_MAX_BYTES,
            isolate=False,
        )
        entry = (frozenset(res.rows), sum(row_bytes(r) for r in res.rows))
        with self._lock:
            self._gold[qid] = entry
            while len(self._gold) > _GOLD_CACHE:
                self._gold.popitem(last=False)
        return entry


_worlds: dict[str, World] = {}
_build_lock = threading.Lock()


def get_world(bird_path: str | None = None, cache: str | None = None) -> World:
    """The world of BIRD at ``bird_path`` or of the generated set in ``cache`` (default: the cache
    dir of `agentgym.envs.sql.databases`), loaded once per process. Building the generated set
    takes ~15-45 s the first time: callers on a server are in a worker thread (``spec.blocking``)."""
    if bird_path:
        key = f"bird:{Path(bird_path).resolve()}"
    else:
        key = f"gen:{Path(cache).resolve() if cache else cache_dir()}"
    world = _worlds.get(key)
    if world is None:
        with _build_lock:
            world = _worlds.get(key)
            if world is None:
                world = _worlds[key] = _load(bird_path, cache)
    return world


def _load(bird_path: str | None, cache: str | None) -> World:
    if bird_path:
        from agentgym.envs.sql.original import bird_splits, load_bird

        dbs, qs, n_train = load_bird(bird_path)
        paths: dict[int | str, Path] = {f"{s}/{d}": p for (s, d), p in dbs.items()}
        return World(qs, bird_splits(n_train, len(qs)), paths, n_train, source=f"bird({bird_path})")
    generated, qs = load_generated(Path(cache) if cache else None)
    db_paths: dict[int | str, Path] = {db_id: path for db_id, path in generated.items()}
    return World(qs, generated_splits(), db_paths, source="generated")
