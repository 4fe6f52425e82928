"""SciWorld on the real ScienceWorld simulator (JVM): indexing, splits, pooling, expert, HTTP.

Takes ~60-90 s on a loaded 2-core machine (JVM start, class loading, a few expert plans).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

pytest.importorskip("scienceworld")

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.registry import make
from agentgym.envs.sciworld import expert, tasks
from agentgym.envs.sciworld.pool import SimulatorPool

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module", autouse=True)
def plan_cache(tmp_path_factory: pytest.TempPathFactory):
    """Expert plans go to a fresh cache, so the tests compute and verify them for real."""
    old = os.environ.get("AGENTGYM_CACHE")
    os.environ["AGENTGYM_CACHE"] = str(tmp_path_factory.mktemp("agentgym-cache"))
    yield Path(os.environ["AGENTGYM_CACHE"])
    if old is None:
        os.environ.pop("AGENTGYM_CACHE", None)
    else:
        os.environ["AGENTGYM_CACHE"] = old


@pytest.fixture(scope="module")
def pool():
    p = SimulatorPool(sims_per_jvm=4)
    yield p
    p.close()


def _test_id(code: str) -> int:
    return next(i for i in tasks.test_ids() if tasks.task(i).code == code)


# ------------------------------------------------------------------------------ ids and splits
def test_indexing_matches_the_original_list() -> None:
    all_tasks = tasks.all_tasks()
    assert len(all_tasks) == 4339  # 30 tasks minus {5-1,5-2,9-*,10-*} and 2-3
    assert {t.code for t in all_tasks}.isdisjoint(tasks.EXCLUDED)
    assert "2-3" in tasks.EXCLUDED
    # flattened in task order, variations ascending
    assert all_tasks[0].name == "boil" and all_tasks[0].variation == 0
    assert all_tasks[30].name == "melt" and all_tasks[30].variation == 0
    assert all(t.task_id == i for i, t in enumerate(all_tasks))


def test_splits_are_disjoint_by_task_and_variation() -> None:
    splits = make("sciworld", pool=SimulatorPool()).spec.splits
    assert len(splits["test"]) == 200 == len(set(splits["test"]))
    pairs = {
        name: {(tasks.task(i).code, tasks.task(i).variation) for i in ids} for name, ids in splits.items()
    }
    assert not pairs["train"] & pairs["test"]
    assert not pairs["train"] & pairs["dev"]
    assert not pairs["dev"] & pairs["test"]
    assert not pairs["heldout"] & (pairs["train"] | pairs["dev"] | pairs["test"])
    # every original id is resettable through some split
    assert sum(len(ids) for ids in splits.values()) == len(tasks.all_tasks())
    assert all(tasks.task(i).split == "test" for i in splits["test"])
    assert all(tasks.task(i).split == "train" for i in splits["train"])
    # spread over task types: every kept task type is represented
    assert len({tasks.task(i).code for i in splits["test"]}) >= 20


@pytest.mark.slow  # loads all 30 tasks: ~10 s idle, ~40 s on a loaded machine
def test_variation_table_matches_the_simulator(pool: SimulatorPool) -> None:
    sim = pool.acquire()
    try:
        for code, name, n, dev0, test0 in tasks.variation_table():
            sim.server.load(name, 0, "", False)
            assert sim.server.getTaskMaxVariations(name) == n, code
            assert list(sim.server.getVariationsDev())[0] == dev0, code
            assert list(sim.server.getVariationsTest())[0] == test0, code
    finally:
        pool.release(sim)


# ---------------------------------------------------------------------------------- the env
def test_reset_step_and_invalid_action(pool: SimulatorPool) -> None:
    env = make("sciworld", pool=pool)
    tid = _test_id("4-2")
    obs = env.reset(tid)
    t = tasks.task(tid)
    assert obs.info["task_name"] == t.name == "find-non-living-thing"
    assert obs.info["var_num"] == t.variation
    assert obs.text.startswith(obs.info["task_description"])
    assert "This room is called" in obs.text or "location is called" in obs.text
    res = env.step("fly to the moon")
    assert res.info["invalid_action"] and res.reward == 0 and not res.done
    res = env.step("look around")
    assert not res.info["invalid_action"] and "called" in res.observation
    assert env.available_actions() and "look around" in env.available_actions()
    env.close()


def test_check_env_passes_and_expert_reaches_100() -> None:
    ids = [_test_id("4-2"), _test_id("7-1"), _test_id("2-1")]
    report = check_env("sciworld", expert_tasks=ids)
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success == 1.0


def test_expert_plans_are_short_and_verified(pool: SimulatorPool) -> None:
    t = tasks.task(_test_id("2-1"))
    sim = pool.acquire()
    try:
        gold = expert.gold_path(sim.server, t)
        plan = expert.shorten(sim.server, t, gold)
        assert plan and len(plan) <= min(len(gold), 30)
        assert expert.replay(sim.server, t, plan) == len(plan)  # reaches 100 exactly at the end
    finally:
        pool.release(sim)


def test_plan_rewrites() -> None:
    plan = ["open door to bathroom", "go to bathroom", "look around", "open door to kitchen", "go to kitchen"]
    # leaving the kitchen and coming back is dropped once the start room is known
    assert expert._drop_round_trips(["go to kitchen", *plan, "pick up cup"]) == [
        "go to kitchen",
        "pick up cup",
    ]
    idle = ["activate stove", *["examine pot", "wait1"] * 12, "focus on water"]
    assert expert._compress_waits(idle, expert._LOOK) == [
        "activate stove",
        "wait",
        "wait",
        "wait",
        "focus on water",
    ]
    exact = expert._compress_waits(idle, expert._LOOK, exact=True)
    assert exact == ["activate stove", "wait", "wait", *["wait1"] * 4, "focus on water"]


# ------------------------------------------------------------------------ pooling and determinism
def test_simulators_share_one_jvm_and_step_in_parallel(pool: SimulatorPool) -> None:
    tid = _test_id("7-1")
    envs = [make("sciworld", pool=pool) for _ in range(3)]
    results: dict[int, list[str]] = {}

    def play(k: int) -> None:
        env = envs[k]
        seen = [env.reset(tid).text]
        for action in ["look around", "inventory", "look around"]:
            seen.append(env.step(action).observation)
        results[k] = seen

    threads = [threading.Thread(target=play, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stats = pool.stats()
    assert stats["jvms"] == 1 and stats["simulators"] >= 3
    assert results[0] == results[1] == results[2]  # same task, three simulators, one JVM
    for env in envs:
        env.close()
    assert pool.stats()["free"] >= 3  # simulators went back to the pool


def test_same_episode_in_two_jvms() -> None:
    """The JVM runs with a constant identity hash, so object order (and thus behaviour) does not
    depend on the JVM or on what ran before."""
    tid = _test_id("3-1")
    p1, p2 = SimulatorPool(), SimulatorPool()
    try:
        a, b = make("sciworld", pool=p1), make("sciworld", pool=p2)
        b.reset(_test_id("2-1"))
        b.step("look around")
        run_a = run_expert_episode(a, tid)
        run_b = run_expert_episode(b, tid)
        assert run_a == run_b and run_a[1]
    finally:
        p1.close()
        p2.close()


def test_http_server_drives_sciworld() -> None:
    testing = pytest.importorskip("agentgym.server.testing")
    from agentgym.client.http import EnvClient

    tid = _test_id("7-1")
    with testing.run_server(["sciworld"]) as url:
        client = EnvClient(url)
        session = client.session("sciworld")
        obs = session.reset(tid)
        assert obs.info["task_name"] == tasks.task(tid).name
        res = session.step("not an action")
        assert res.info["invalid_action"]
        session.reset(tid)
        res = None
        for _ in range(30):
            reply = session.expert_reply()
            res = session.step(reply.rsplit("Action:", 1)[1].strip())
            if res.done:
                break
        assert res is not None and res.reward == 100 and res.info["success"]
        session.close()
        client.close()
