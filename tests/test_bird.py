"""BIRD: database builds, generated questions, safe execution, reward, BIRD-on-disk loader, HTTP.
(Hostile SQL, hostile replies and hostile session kwargs: tests/test_hardening_sql.py.)

The databases are built once into the cache dir ($AGENTGYM_BIRD_CACHE, $AGENTGYM_CACHE/bird or
~/.cache/agentgym/bird):
the first run on a machine pays the build (~15-30 s), later runs reuse it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.react import parse_reply
from agentgym.envs.sql import databases
from agentgym.envs.sql.env import BirdEnv, extract_sql
from agentgym.envs.sql.executor import SQLError, execute
from agentgym.envs.sql.questions import N_TRAIN, TEST_SIZE, generate


@pytest.fixture(scope="module")
def env() -> BirdEnv:
    return BirdEnv()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_databases_are_built_from_real_sources(env: BirdEnv) -> None:
    paths = env.world.db_paths
    assert set(paths) == set(databases.DB_IDS)
    fixture = json.loads(databases.chinook_fixture().read_text())
    n_tracks = sum(r["model"] == "chinook.track" for r in fixture)
    conn = sqlite3.connect(f"file:{paths['chinook']}?mode=ro", uri=True)
    assert conn.execute("SELECT COUNT(*) FROM track").fetchone()[0] == n_tracks == 3503
    fks = conn.execute("PRAGMA foreign_key_list(album)").fetchall()
    assert [(f[2], f[3], f[4]) for f in fks] == [("artist", "artist_id", "artist_id")]
    conn = sqlite3.connect(f"file:{paths['tpch']}?mode=ro", uri=True)
    # TPC-H at scale 0.01: 1,500 customers and 15,000 orders by the spec
    assert conn.execute("SELECT COUNT(*) FROM customer").fetchone()[0] == 1500
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 15000
    assert conn.execute("SELECT COUNT(*) FROM region").fetchone()[0] == 5


def test_generated_databases_and_questions_are_deterministic(tmp_path: Path, env: BirdEnv) -> None:
    for db_id, builder in (("school", databases.build_school), ("hospital", databases.build_hospital)):
        a, b = tmp_path / f"a_{db_id}.sqlite", tmp_path / f"b_{db_id}.sqlite"
        databases._build_one(a, builder)
        databases._build_one(b, builder)
        assert _sha(a) == _sha(b) == _sha(env.world.db_paths[db_id])
    dbs = {k: v for k, v in env.world.db_paths.items() if isinstance(k, str)}
    assert generate(dbs, total=60) == generate(dbs, total=60)


def test_questions_splits_and_levels(env: BirdEnv) -> None:
    qs = env.world.questions
    train, test = env.spec.split("train"), env.spec.split("test")
    assert len(train) == N_TRAIN and len(test) == TEST_SIZE and not set(train) & set(test)
    assert len({q.sql for q in qs}) == len(qs)  # no gold query twice, so no leak across splits
    assert {q.difficulty for q in qs} == {"simple", "moderate", "challenging"}
    assert {qs[i].db_id for i in test} == set(databases.DB_IDS)
    assert any(qs[i].evidence for i in test)


def test_checker_and_expert_on_the_full_test_split() -> None:
    report = check_env("bird")
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success == 1.0 and report.expert_episodes == TEST_SIZE


def test_observation_and_reward(env: BirdEnv) -> None:
    tid = env.spec.split("test")[0]
    obs = env.reset(tid)
    q = env.question
    assert q is not None and f"Question: {q.question}" in obs.text and f"The database {q.db_id}" in obs.text
    res = env.step(q.sql)
    assert res.done and res.reward == 1.0 and res.info["success"] and res.info["ground_truth"] == q.sql
    env.reset(tid)
    res = env.step("SELECT 1")
    assert res.done and res.reward == 0.0 and not res.info["success"]
    # set semantics: duplicated rows and another order still match (the original's rule)
    env.reset(tid)
    res = env.step(f"SELECT * FROM ({q.sql}) UNION ALL SELECT * FROM ({q.sql}) ORDER BY 1 DESC")
    assert res.reward == 1.0
    sql_env = BirdEnv(schema_style="sql")
    assert "CREATE TABLE" in sql_env.reset(tid).text
    assert extract_sql("Thought: x\nAction:\n```sql\nSELECT 2;\n```") == "SELECT 2;"
    with pytest.raises(ValueError):
        BirdEnv(schema_style="yaml")


ATTACKS = {
    "drop": "DROP TABLE customer",
    "delete": "DELETE FROM customer",
    "insert": "INSERT INTO customer (customer_id) VALUES (99999)",
    "attach": "ATTACH DATABASE '{tmp}/evil.db' AS evil",
    "pragma_write": "PRAGMA query_only = OFF",
    "pragma_journal": "PRAGMA journal_mode = DELETE",
    "two_statements": "SELECT 1; DROP TABLE customer",
    "vacuum_into": "VACUUM INTO '{tmp}/copy.db'",
    "huge_blob": "SELECT zeroblob(2000000000)",
    "runaway_cte": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
    "too_many_rows": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "load_extension": "SELECT load_extension('/tmp/nothing.so')",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_errors_and_leave_the_database_unchanged(name: str, tmp_path: Path) -> None:
    env = BirdEnv(timeout_ms=300)
    tid = next(i for i in env.spec.split("test") if env.world.questions[i].db_id == "chinook")
    path = env.world.db_path(tid)
    before = _sha(path)
    files_before = sorted(p.name for p in path.parent.iterdir())
    env.reset(tid)
    res = env.step(ATTACKS[name].format(tmp=tmp_path))
    assert res.done and res.reward == 0.0
    assert res.observation.startswith("Error:") and res.info["sql_error"]
    if name == "runaway_cte":
        assert "time limit of 300 ms" in res.observation
    if name == "too_many_rows":
        assert "more than" in res.observation
    assert _sha(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == files_before
    assert not list(tmp_path.iterdir())  # nothing was attached or copied out


def test_executor_direct_errors(env: BirdEnv) -> None:
    path = env.world.db_paths["school"]
    assert execute(path, "SELECT COUNT(*) FROM student").rows == [(2000,)]
    with pytest.raises(SQLError, match="syntax error"):
        execute(path, "SELEC * FROM student")
    with pytest.raises(SQLError, match="not found"):
        execute(path.parent / "nope.sqlite", "SELECT 1")
    with pytest.raises(SQLError, match="more than 5 rows"):
        execute(path, "SELECT * FROM student", max_rows=5)


def test_random_action_runs(env: BirdEnv) -> None:
    rng = random.Random(0)
    for tid in env.spec.split("test")[:10]:
        env.reset(tid)
        res = env.step(env.random_action(rng))
        assert res.done and "sql_error" not in res.info


def test_empty_action_is_invalid(env: BirdEnv) -> None:
    env.reset(env.spec.split("test")[1])
    res = env.step("```sql\n```")
    assert res.info["invalid_action"] and res.done and res.reward == 0


def _fake_bird(root: Path) -> None:
    """A tiny BIRD folder in the original layout (train/ and dev/, json + databases)."""
    for split, db_id, rows in (
        ("train", "shop", [(1, "pen", 2.5), (2, "ink", 9.0)]),
        ("dev", "zoo", [(1, "owl", 3.0)]),
    ):
        db_dir = root / split / f"{split}_databases" / db_id
        db_dir.mkdir(parents=True)
        conn = sqlite3.connect(db_dir / f"{db_id}.sqlite")
        conn.execute('CREATE TABLE "the items" (id INTEGER PRIMARY KEY, name TEXT, price REAL)')
        conn.execute(
            'CREATE TABLE sale (sale_id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES "the items"(id))'
        )
        conn.executemany('INSERT INTO "the items" VALUES (?, ?, ?)', rows)
        conn.commit()
        conn.close()
        n = 3 if split == "train" else 2
        items = [
            {"db_id": db_id, "question": f"{split} question {i}?", "evidence": "price is in dollars" if i else "",
             "SQL": f'SELECT name FROM "the items" WHERE id = {1 + i % len(rows)}'}
            for i in range(n)
        ]  # fmt: skip
        (root / split / f"{split}.json").write_text(json.dumps(items))


def test_bird_on_disk_loader(tmp_path: Path) -> None:
    _fake_bird(tmp_path)
    env = BirdEnv(bird_path=str(tmp_path))
    assert env.spec.splits == {"train": [0, 1, 2], "test": [3, 4], "dev": [3, 4]}
    obs = env.reset(4)
    assert "The database zoo" in obs.text and "the items" in obs.text and "dev question 1?" in obs.text
    assert "Evidence: price is in dollars" in obs.text
    assert "The item_id of sale is a foreign key to id of the items." in obs.text
    assert run_expert_episode(env, 4)[1] and run_expert_episode(env, 0)[1]
    env.reset(1)
    assert env.step('SELECT name FROM "the items" WHERE id = 1').reward == 0.0  # gold is id 2
    with pytest.raises(FileNotFoundError):
        BirdEnv(bird_path=str(tmp_path / "nowhere"))


def test_over_http() -> None:
    httpx = pytest.importorskip("httpx")
    testing = pytest.importorskip("agentgym.server.testing")
    with testing.run_server(["bird"]) as url, httpx.Client(base_url=url, timeout=30) as c:
        sid = c.post("/v1/sessions", json={"env": "bird"}).json()["session_id"]
        task = BirdEnv.spec.split("test")[3]
        obs = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).json()["observation"]
        assert "Question:" in obs
        reply = c.get(f"/v1/sessions/{sid}/expert").json()["reply"]
        out = c.post(
            f"/v1/sessions/{sid}/step", json={"action": parse_reply(reply, "sql_block").action}
        ).json()
        assert out["done"] and out["reward"] == 1.0
        c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task})
        out = c.post(f"/v1/sessions/{sid}/step", json={"action": "DROP TABLE customer"}).json()
        assert out["done"] and out["reward"] == 0.0 and out["observation"].startswith("Error:")
        c.delete(f"/v1/sessions/{sid}")
