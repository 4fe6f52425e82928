"""Questions + gold SQL: generated from `templates` over our databases, or BIRD's own when on disk.

Generated set (cached as ``questions.json`` next to the databases): templates are visited round-robin
and filled with real values drawn by a seeded RNG; duplicates are dropped and every gold query is
*validated* (it runs within the executor's limits and returns at least one non-empty row). The
result is shuffled once: ids ``0..N_TRAIN-1`` are the train split and the next ``TEST_SIZE`` ids
the test split (the same layout as BIRD's train-then-dev ids).
"""

from __future__ import annotations

import json
import os
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from agentgym.core.seeding import make_rng
from agentgym.envs.sql.databases import BUILD_VERSION, build_all, cache_dir, file_lock
from agentgym.envs.sql.executor import SQLError, connect_readonly, execute
from agentgym.envs.sql.templates import TEMPLATES, Template, lit

N_TRAIN = 3000
TEST_SIZE = 200
GOLD_MAX_ROWS = 1000
GOLD_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class Question:
    db_id: str
    question: str
    evidence: str
    sql: str
    difficulty: str = ""


def generated_splits() -> dict[str, list[int]]:
    return {"train": list(range(N_TRAIN)), "test": list(range(N_TRAIN, N_TRAIN + TEST_SIZE))}


def _slots(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _value_rows(db: Path, t: Template) -> list[dict[str, object]]:
    conn = connect_readonly(db)
    try:
        cur = conn.execute(t.values)
        cols = [d[0] for d in cur.description]
        rows = sorted(cur.fetchall(), key=repr)  # a stable order whatever the query plan
        return [dict(zip(cols, r, strict=True)) for r in rows]
    finally:
        conn.close()


def _useful(rows: list[tuple]) -> bool:
    return bool(rows) and any(v not in (None, 0, "") for r in rows for v in r)


def generate(dbs: dict[str, Path], total: int = N_TRAIN + TEST_SIZE, seed: int = 0) -> list[Question]:
    """``total`` validated, distinct questions, in their final (shuffled) id order."""
    rng = make_rng("bird-questions", BUILD_VERSION, seed)
    values = {i: _value_rows(dbs[t.db_id], t) for i, t in enumerate(TEMPLATES)}
    out: list[Question] = []
    seen: set[str] = set()
    dead: set[int] = set()
    fails = dict.fromkeys(values, 0)
    while len(out) < total:
        progressed = False
        for i, t in enumerate(TEMPLATES):
            if i in dead or len(out) >= total:
                continue
            row = rng.choice(values[i]) if values[i] else None
            if row is None:
                dead.add(i)
                continue
            q = t.question.format(**{k: row[k] for k in _slots(t.question)})
            sql = t.sql.format(**{k: lit(row[k]) for k in _slots(t.sql)})
            if sql in seen:
                fails[i] += 1
            else:
                seen.add(sql)
                try:
                    res = execute(  # our own templates: trusted, run in-process
                        dbs[t.db_id], sql, timeout_ms=GOLD_TIMEOUT_MS, max_rows=GOLD_MAX_ROWS, isolate=False
                    )
                    ok = _useful(res.rows)
                except SQLError:
                    ok = False
                if ok:
                    out.append(Question(t.db_id, q, t.evidence, sql, t.difficulty))
                    progressed = True
                else:
                    fails[i] += 1
            if fails[i] > 200:  # this template has run out of fresh, valid questions
                dead.add(i)
        if not progressed and len(dead) == len(TEMPLATES):
            raise RuntimeError(f"templates exhausted after {len(out)} of {total} questions")
    rng.shuffle(out)
    return out


def questions_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "questions.json"


def load_generated(root: Path | None = None) -> tuple[dict[str, Path], list[Question]]:
    """Build (once) and load the databases and the generated questions."""
    root = root or cache_dir()
    dbs = build_all(root)
    path = questions_path(root)
    if not path.exists():
        with file_lock(root / ".build.lock"):
            if not path.exists():
                qs = generate(dbs)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps([asdict(q) for q in qs], indent=0), encoding="utf-8")
                os.replace(tmp, path)
    with open(path, encoding="utf-8") as f:
        qs = [Question(**d) for d in json.load(f)]
    return dbs, qs
