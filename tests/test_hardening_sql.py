"""BIRD against hostile SQL and hostile session kwargs: every attack ends with a clear error within
the time limit (plus a kill grace), the server keeps serving, and clients may set only the schema style.

Timing: the query limit here is `LIMIT_MS` (2 s, the default); each attack runs under a generous
hang guard (`HANG_GUARD_S`) so a loaded machine cannot make the tests flaky - what they catch is an
attack that runs unbounded (the original: ``printf('%.*c', 1e9, 'x')`` 9-16 s, an exponential CTE
until the OOM killer). Measured times of every attack are in the commit that added this file.
"""

from __future__ import annotations

import concurrent.futures as cf
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentgym.envs.sql import databases
from agentgym.envs.sql.env import MAX_ACTION_CHARS, BirdEnv, BirdOptions, extract_sql, sql_timeout_ms
from agentgym.envs.sql.executor import (
    MAX_TIMEOUT_MS,
    SandboxPool,
    SQLError,
    execute,
    format_rows,
    sandbox,
)
from agentgym.server.testing import run_server

LIMIT_MS = 2000
HANG_GUARD_S = 20.0
A500 = "replace(hex(zeroblob(250000)), '0', 'a')"  # 500,000 x 'a', built inside SQLite
TIME = "time limit of 2000 ms"
TOO_BIG = "string or blob too big"

# name -> (SQL, a regex the error must match). All run on the TPC-H database (60k lineitem rows).
ATTACKS: dict[str, tuple[str, str]] = {
    # printf: one function call that SQLite 3.40 never interrupts (~9 s in-process before)
    "printf_precision": ("SELECT printf('%.*c', 1000000000, 'x')", "printf refused"),
    "printf_negative_precision": ("SELECT printf('%.*c', -1000000000, 'x')", "printf refused"),
    "printf_literal_precision": ("SELECT printf('%.999999999c', 'x')", "printf refused"),
    "printf_text_star": ("SELECT printf('%.*c', '1000000000', 'x')", "printf refused"),
    "printf_width": ("SELECT printf('%*d', 2000000000, 1)", "printf refused"),
    "format_alias": ("SELECT format('%.*c', 2147483647, 'x')", "printf refused"),
    "printf_per_row": ("SELECT printf('%.*c', l_orderkey * 100000, 'x') FROM lineitem", "printf refused"),
    # allocation amplifiers: SQLITE_LIMIT_LENGTH
    "zeroblob": ("SELECT zeroblob(1e9)", TOO_BIG),
    "randomblob": ("SELECT randomblob(1000000000)", TOO_BIG),
    "replace_doubling": ("SELECT " + "replace(" * 25 + "'xx'" + ", 'x', 'xx')" * 25, TOO_BIG),
    "substr_concat": (f"SELECT substr({A500} || {A500} || {A500}, 1, 2000000)", TOO_BIG),
    "randomblob_rows": ("SELECT randomblob(900000) FROM lineitem", "larger than"),
    # O(n*m) inside one C call: only the worker kill stops these
    "instr_quadratic": (f"SELECT instr({A500} || {A500}, {A500} || 'b')", TIME),  # ~2.5e11 byte compares
    "ltrim_quadratic": (
        f"SELECT length(ltrim({A500} || {A500}, replace(hex(zeroblob(40000)), '0', 'b') || 'a'))",
        TIME,
    ),
    # exponential code generation before the first row (in-process: gigabytes, then the OOM killer)
    "cte_exponential": (
        "WITH t0(x) AS (SELECT 1), "
        + ", ".join(
            f"t{i}(x) AS (SELECT x FROM t{i - 1} UNION ALL SELECT x FROM t{i - 1})" for i in range(1, 40)
        )
        + " SELECT count(*) FROM t39",
        f"{TIME}|out of memory|MemoryError",
    ),
    # long-running row work: the progress handler / interrupt watchdog / kill
    "cte_infinite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        TIME,
    ),
    "cte_huge": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000000) SELECT x FROM c",
        "more than 10,000 rows",
    ),
    "cartesian": ("SELECT count(*) FROM lineitem a, lineitem b, lineitem c", TIME),
    "cartesian_sort": (
        "SELECT a.l_comment FROM lineitem a, lineitem b ORDER BY a.l_comment || b.l_comment",
        f"{TIME}|out of memory|MemoryError",
    ),
    "group_concat_join": (
        "SELECT group_concat(a.l_comment || b.l_comment) FROM lineitem a, lineitem b",
        f"{TIME}|{TOO_BIG}",
    ),
    # the parser: nesting and length
    "nested_parens": ("SELECT " + "(" * 4000 + "1" + ")" * 4000, "parser stack overflow"),
    "nested_subqueries": ("SELECT " + "(SELECT " * 1000 + "1" + ")" * 1000, "parser stack overflow"),
    "nested_case": ("SELECT " + "CASE WHEN 1 THEN " * 500 + "1" + " END" * 500, "parser stack overflow"),
    "expression_chain": ("SELECT " + "+".join(["1"] * 4000), "Expression tree is too large"),
    "long_sql": ("SELECT 1" + " " * 30_000, "longer than 20,000 characters"),
    # result size
    "too_many_rows": ("SELECT * FROM lineitem", "more than 10,000 rows"),
    "too_many_bytes": (f"SELECT l_comment || {A500} FROM lineitem LIMIT 5000", "larger than"),
    # text the sqlite3 module cannot pass to SQLite
    "lone_surrogate": ("SELECT '\ud800'", "surrogates not allowed"),
    "nul_byte": ("SELECT 1\x00; DROP TABLE region", "null character"),
    # containment that was already there stays
    "attach": ("ATTACH DATABASE '/tmp/agentgym-evil.db' AS evil", "not authorized"),
    "pragma": ("PRAGMA query_only = OFF", "not authorized"),
    "load_extension": ("SELECT load_extension('/tmp/nothing.so')", "not authorized"),
}

IN_PROCESS_CONTAINED = (
    "printf_precision",
    "printf_negative_precision",
    "format_alias",
    "zeroblob",
    "randomblob",
    "replace_doubling",
    "cte_infinite",
    "cartesian",
    "nested_parens",
    "expression_chain",
    "long_sql",
)
"""Attacks the in-process layers stop on their own (trusted SQL runs in-process; these show the
layers under the sandbox work). The O(n*m) and exponential ones need the worker kill."""


def guarded(fn: Callable[[], Any], guard_s: float = HANG_GUARD_S) -> tuple[Any, float]:
    """``fn()`` in a thread: (its result or exception, seconds). A hang fails the test instead of
    hanging the suite."""
    pool = cf.ThreadPoolExecutor(1)
    start = time.monotonic()
    fut = pool.submit(fn)
    try:
        try:
            out: Any = fut.result(timeout=guard_s)
        except cf.TimeoutError:
            pytest.fail(f"still running after the {guard_s} s hang guard")
        except Exception as e:
            out = e
        return out, time.monotonic() - start
    finally:
        pool.shutdown(wait=False)


@pytest.fixture(scope="module")
def world_env() -> BirdEnv:
    return BirdEnv()


@pytest.fixture(scope="module")
def tpch(world_env: BirdEnv) -> Path:
    return world_env.world.db_paths["tpch"]


# ------------------------------------------------------------------------------- the query runner
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_ends_with_a_clear_error_in_the_sandbox(name: str, tpch: Path) -> None:
    sql, expected = ATTACKS[name]
    out, _ = guarded(lambda: execute(tpch, sql, timeout_ms=LIMIT_MS))
    assert isinstance(out, SQLError), f"{name}: expected an SQLError, got {out!r}"
    assert re.search(expected, str(out)), f"{name}: {out}"
    # the sandbox still answers, with the right rows
    assert execute(tpch, "SELECT COUNT(*) FROM region", timeout_ms=LIMIT_MS).rows == [(5,)]


@pytest.mark.parametrize("name", IN_PROCESS_CONTAINED)
def test_in_process_layers_contain_their_attacks(name: str, tpch: Path) -> None:
    sql, expected = ATTACKS[name]
    out, _ = guarded(lambda: execute(tpch, sql, timeout_ms=LIMIT_MS, isolate=False))
    assert isinstance(out, SQLError) and re.search(expected, str(out)), f"{name}: {out!r}"


def test_printf_still_formats(tpch: Path) -> None:
    sql = (
        "SELECT printf('%.2f|%5d|%-4s|%%|%.*c|%0*d|%s', 3.14159, 42, 'ab', 3, 'z', 6, 7, NULL), "
        "format('%x', 255), printf(NULL), printf('%d')"
    )
    want = [("3.14|   42|ab  |%|zzz|000007|", "ff", None, "0")]
    assert execute(tpch, sql).rows == want
    assert execute(tpch, sql, isolate=False).rows == want


def test_printf_check_is_linear_in_the_format(tpch: Path) -> None:
    """The checked printf scans the format with a regex: hostile formats cost linear time."""
    for fmt in (
        "replace(hex(zeroblob(200000)), '00', '%-')",  # 200k directives
        "'%' || replace(hex(zeroblob(400000)), '0', '0') || 'd'",  # flags then nothing
        "replace(hex(zeroblob(200000)), '00', '%%')",
        "'%' || replace(hex(zeroblob(400000)), '0', 'l') || 'd'",
    ):
        out, _ = guarded(lambda f=fmt: execute(tpch, f"SELECT length(printf({f}))", isolate=False))
        assert not isinstance(out, Exception) or isinstance(out, SQLError), out


def test_a_killed_idle_worker_is_replaced(tpch: Path) -> None:
    pool = SandboxPool(max_idle=1, max_live=2)
    try:
        assert pool.run(str(tpch), "SELECT 1", LIMIT_MS, 10, 1 << 20).rows == [(1,)]
        pool._idle[0].proc.kill()  # killed from outside while idle
        pool._idle[0].proc.wait()
        assert pool.run(str(tpch), "SELECT 2", LIMIT_MS, 10, 1 << 20).rows == [(2,)]
    finally:
        pool.close()


def test_a_worker_killed_at_the_deadline_is_replaced(tpch: Path) -> None:
    pool = SandboxPool(max_idle=1, max_live=1)
    try:
        sql, _ = ATTACKS["instr_quadratic"]
        out, _ = guarded(lambda: pool.run(str(tpch), sql, 300, 10, 1 << 20))
        assert isinstance(out, SQLError) and "time limit of 300 ms" in str(out)
        assert pool.kills == 1 and pool.live() == 0
        assert pool.run(str(tpch), "SELECT 3", LIMIT_MS, 10, 1 << 20).rows == [(3,)]
    finally:
        pool.close()


def test_closing_the_pool_kills_busy_workers(tpch: Path) -> None:
    """No worker outlives its pool, not even one stuck in C code (it would run on as an orphan)."""
    pool = SandboxPool(max_idle=1, max_live=2)
    sql, _ = ATTACKS["instr_quadratic"]
    runner = cf.ThreadPoolExecutor(1)
    fut = runner.submit(pool.run, str(tpch), sql, 25_000, 10, 1 << 20)  # would run ~25 s
    deadline = time.monotonic() + HANG_GUARD_S
    while not pool._all and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the query is under way (if not, the run fails as "shut down": also fine)
    procs = [w.proc for w in pool._all]
    assert len(procs) == 1
    pool.close()
    out, _ = guarded(fut.result)  # the hang guard (20 s) is below the query's 25 s limit
    assert isinstance(out, SQLError) and re.search("crashed its SQL worker|shut down", str(out)), out
    assert all(p.poll() is not None for p in procs)
    runner.shutdown()
    with pytest.raises(SQLError, match="shut down"):
        pool.run(str(tpch), "SELECT 1", LIMIT_MS, 10, 1 << 20)


def test_result_limits_and_formatting(tpch: Path) -> None:
    with pytest.raises(SQLError, match="larger than 1,000 bytes"):
        execute(tpch, "SELECT n_comment FROM nation", max_bytes=1000)
    with pytest.raises(ValueError, match="timeout_ms"):
        execute(tpch, "SELECT 1", timeout_ms=MAX_TIMEOUT_MS + 1)
    rows = [(i, "x" * 50) for i in range(10_000)]
    assert format_rows(rows) == str(rows)[:100] + "..."
    assert format_rows([(1, "a")]) == str([(1, "a")])
    assert format_rows([]) == "[]"


# ------------------------------------------------------------------------------------ the parser
_REGEX = re.compile(r"```sql\s*(.*?)```", re.IGNORECASE | re.DOTALL)


def _regex_extract(action: str) -> str:
    blocks = _REGEX.findall(action)
    return (blocks[-1] if blocks else action).strip()


def test_extract_sql_matches_the_regex_and_is_linear() -> None:
    import random

    rng = random.Random(0)
    pieces = ["```", "```sql", "```SQL", "``", "`", "sql", " ", "\n", "SELECT 1", "x", "Action:"]
    for _ in range(3000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert extract_sql(s) == _regex_extract(s), repr(s)
    assert extract_sql("Thought: x\nAction:\n```sql\nSELECT 2;\n```") == "SELECT 2;"
    for hostile in (
        "```sql" + " " * 1_000_000,  # the regex: quadratic (32k took 9 s)
        "```sql" + "\n" * 1_000_000 + "```",
        "```sql```" * 200_000,
        "````" * 250_000,
    ):
        out, seconds = guarded(lambda h=hostile: extract_sql(h), 10)
        assert isinstance(out, str) and seconds < 2.0, seconds


# ------------------------------------------------------------------------------ options / settings
def test_options_allow_only_the_schema_style() -> None:
    assert BirdEnv.options is BirdOptions
    assert set(BirdOptions.model_fields) == {"max_rounds", "schema_style"}
    assert BirdOptions.model_validate({"schema_style": "sql"}).schema_style == "sql"
    for bad in (
        {"schema_style": "yaml"},
        {"timeout_ms": 60000},
        {"cache_dir": "/tmp"},
        {"bird_path": "/etc"},
    ):
        with pytest.raises(ValueError):
            BirdOptions.model_validate(bad)
    assert BirdEnv.spec.max_action_chars == MAX_ACTION_CHARS == 8192
    assert BirdEnv.spec.blocking  # built and stepped in worker threads, never on the event loop


def test_timeout_is_a_bounded_server_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTGYM_SQL_TIMEOUT_MS", raising=False)
    assert sql_timeout_ms() == 2000
    monkeypatch.setenv("AGENTGYM_SQL_TIMEOUT_MS", "500")
    assert sql_timeout_ms() == 500 and BirdEnv().timeout_ms == 500
    monkeypatch.setenv("AGENTGYM_SQL_TIMEOUT_MS", "999999999")
    assert sql_timeout_ms() == MAX_TIMEOUT_MS
    monkeypatch.setenv("AGENTGYM_SQL_TIMEOUT_MS", "soon")
    assert sql_timeout_ms() == 2000
    with pytest.raises(ValueError, match="timeout_ms"):
        BirdEnv(timeout_ms=MAX_TIMEOUT_MS + 1)


def test_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AGENTGYM_BIRD_CACHE", raising=False)
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    assert databases.cache_dir() == tmp_path / "bird" / f"v{databases.BUILD_VERSION}"
    monkeypatch.setenv("AGENTGYM_BIRD_CACHE", str(tmp_path / "b"))
    assert databases.cache_dir() == tmp_path / "b" / f"v{databases.BUILD_VERSION}"


def test_overlong_action_is_refused_before_parsing(world_env: BirdEnv) -> None:
    world_env.reset(world_env.spec.split("test")[0])
    res = world_env.step("```sql" + " " * 40_000)
    assert res.info["invalid_action"] and "8,192" in res.observation


# ------------------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def server(world_env: BirdEnv) -> Any:
    with run_server(["bird"]) as url:
        yield url


def _session(c: httpx.Client, task: int, **kwargs: Any) -> str:
    r = c.post("/v1/sessions", json={"env": "bird", "kwargs": kwargs})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    assert c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).status_code == 200
    return sid


def test_http_server_settings_are_not_kwargs(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as c:
        for kwargs in (
            {"timeout_ms": 60000},
            {"cache_dir": "/tmp/x"},
            {"bird_path": "/etc"},
            {"max_rows": 10**9},
        ):
            r = c.post("/v1/sessions", json={"env": "bird", "kwargs": kwargs})
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert "schema_style" in detail and "max_rounds" in detail, detail
            assert "/etc" not in detail.replace("'/etc'", "")  # no file-system answers
        r = c.post("/v1/sessions", json={"env": "bird", "kwargs": {"schema_style": "yaml"}})
        assert r.status_code == 422 and "schema_style" in r.json()["detail"]
        r = c.post("/v1/sessions", json={"env": "bird", "kwargs": {"schema_style": "sql"}})
        assert r.status_code == 201, r.text
        sid = r.json()["session_id"]
        obs = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": BirdEnv.spec.split("test")[0]}).json()
        assert "CREATE TABLE" in obs["observation"]
        assert c.get("/v1/envs/bird").json()["max_action_chars"] == 8192
        c.delete(f"/v1/sessions/{sid}")


def test_http_attacks_in_flight_do_not_starve_a_normal_episode(server: str, world_env: BirdEnv) -> None:
    test_ids = world_env.spec.split("test")
    tpch_task = next(i for i in test_ids if world_env.world.questions[i].db_id == "tpch")
    normal_task = test_ids[5]
    expert = BirdEnv()
    expert.reset(normal_task)
    gold_sql = extract_sql(expert.expert_reply())
    slow = [ATTACKS["instr_quadratic"][0], ATTACKS["cartesian"][0]]
    results: dict[int, Any] = {}

    def attack(k: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as c:
            sid = _session(c, tpch_task)
            start = time.monotonic()
            r = c.post(f"/v1/sessions/{sid}/step", json={"action": f"```sql\n{slow[k]}\n```"})
            results[k] = (r, time.monotonic() - start, sid)

    threads = [threading.Thread(target=attack, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + HANG_GUARD_S
    while sandbox().busy() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox().busy() >= 2, "both attacks should be running in sandbox workers now"
    with httpx.Client(base_url=server, timeout=60) as c:

        def normal_episode() -> dict[str, Any]:
            sid = _session(c, normal_task)
            out = c.post(f"/v1/sessions/{sid}/step", json={"action": f"```sql\n{gold_sql}\n```"}).json()
            c.delete(f"/v1/sessions/{sid}")
            return out

        out, seconds = guarded(normal_episode)
        assert isinstance(out, dict) and out["reward"] == 1.0 and out["done"], out
        assert c.get("/v1/health").json()["status"] == "ok"
        print(f"normal episode beside two attacks: {seconds:.3f} s")
    for t in threads:
        t.join(HANG_GUARD_S)
        assert not t.is_alive()
    with httpx.Client(base_url=server, timeout=60) as c:
        for k in range(2):
            r, attack_s, sid = results[k]
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["done"] and body["reward"] == 0.0 and body["observation"].startswith("Error:")
            assert "time limit of 2000 ms" in body["observation"], body["observation"]
            assert attack_s < HANG_GUARD_S
            # the attacker's session keeps serving: reset and answer correctly
            c.post(f"/v1/sessions/{sid}/reset", json={"task_id": normal_task})
            good = c.post(f"/v1/sessions/{sid}/step", json={"action": gold_sql}).json()
            assert good["reward"] == 1.0, good
            c.delete(f"/v1/sessions/{sid}")


def test_http_fast_attacks_and_hostile_replies(server: str, world_env: BirdEnv) -> None:
    task = world_env.spec.split("test")[0]
    with httpx.Client(base_url=server, timeout=60) as c:
        sid = _session(c, task)
        for action, expected in (
            (ATTACKS["printf_precision"][0], "printf refused"),
            (ATTACKS["zeroblob"][0], TOO_BIG),
            (ATTACKS["nested_parens"][0], "parser stack overflow"),
            ("```sql" + " " * 8000, "Error:"),  # the quadratic-regex reply, under the length cap
        ):
            (r, seconds) = guarded(lambda a=action: c.post(f"/v1/sessions/{sid}/step", json={"action": a}))
            assert r.status_code == 200, r.text
            assert expected in r.json()["observation"], r.json()
            c.post(f"/v1/sessions/{sid}/reset", json={"task_id": task})
        r = c.post(f"/v1/sessions/{sid}/step", json={"action": "```sql" + " " * 32_000})
        assert r.status_code == 200 and r.json()["info"]["invalid_action"]
        assert "8,192" in r.json()["observation"]
        c.delete(f"/v1/sessions/{sid}")
