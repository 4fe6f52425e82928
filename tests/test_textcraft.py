"""TextCraft: recipe graph from minecraft-data, tags, tasks, crafting rules, expert, HTTP."""

from __future__ import annotations

from collections import Counter

import pytest

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.react import parse_reply
from agentgym.core.registry import make
from agentgym.envs.textcraft import expert, tasks
from agentgym.envs.textcraft.env import TextCraftEnv
from agentgym.envs.textcraft.recipes import recipe_graph


@pytest.fixture()
def env() -> TextCraftEnv:
    return TextCraftEnv()


def _task_of(goal: str) -> int:
    return tasks.goals().index(goal)


def test_recipe_graph_tags_and_pruning() -> None:
    g = recipe_graph()
    assert g is recipe_graph()  # one shared read-only graph per process
    # flattened variants folded back into tags
    assert {"oak planks", "birch planks", "warped planks"} <= g.tags["planks"]
    assert g.tags["oak logs"] == {"oak log", "oak wood", "stripped oak log", "stripped oak wood"}
    assert g.tags["coals"] == {"coal", "charcoal"}
    assert [r.command for r in g.recipes["crafting table"]] == ["craft 1 crafting table using 4 planks"]
    assert "craft 4 oak planks using 1 oak logs" in [r.command for r in g.recipes["oak planks"]]
    # genuinely different recipes stay separate (no tag for poppy / beetroot)
    assert len(g.recipes["red dye"]) >= 3
    # reverse block recipes and cycles are gone; ingots stay base items
    assert all("block" not in n for r in g.recipes.get("iron ingot", ()) for n, _ in r.inputs)
    assert g.is_base("iron ingot") and g.is_base("oak log") and not g.is_base("planks")
    assert g.depth["oak planks"] == 1 and g.depth["crafting table"] == 2
    # names survive the react_line filter [A-Za-z0-9, ]
    assert all(ch.isalnum() or ch in " ," for r in g.recipes.values() for x in r for ch in x.command)


def test_goals_sorted_by_depth_and_splits() -> None:
    g = recipe_graph()
    goals = tasks.goals()
    depths = [g.depth[x] for x in goals]
    assert depths == sorted(depths) and depths[0] >= 1
    sp = TextCraftEnv.spec.splits
    assert len(sp["test"]) == 100 and not set(sp["test"]) & set(sp["train"])
    assert sorted(sp["test"] + sp["train"]) == list(range(len(goals)))


def test_reset_lists_tree_and_distractors(env: TextCraftEnv) -> None:
    obs = env.reset(_task_of("crafting table"))
    assert obs.text.startswith("Crafting commands:\n") and obs.text.endswith("Goal: craft crafting table.")
    assert obs.info["goal"] == "crafting table"
    cmds = obs.info["commands"].split("\n")
    assert "craft 1 crafting table using 4 planks" in cmds
    assert "craft 4 oak planks using 1 oak logs" in cmds
    tree = recipe_graph().tree("crafting table")
    assert len(tree) < len(cmds) <= len(tree) + 10


def test_crafting_rules_and_invalid_actions(env: TextCraftEnv) -> None:
    env.reset(_task_of("crafting table"))
    r = env.step("get 1 planks")
    assert r.info["invalid_action"] and "kind of item" in r.observation
    r = env.step("get 1 oak planks")
    assert r.info["invalid_action"] and "craft it" in r.observation
    r = env.step("craft 1 crafting table using 4 oak planks")
    assert r.info["invalid_action"] and "hold 0" in r.observation
    r = env.step("dance")
    assert r.info["invalid_action"] and r.reward == 0
    assert env.step("inventory").observation == "Inventory: you are not carrying anything."
    r = env.step("get 1 oak log")
    assert not r.info["invalid_action"] and r.observation == "Got 1 oak log."
    r = env.step("craft 8 oak planks using 2 oak log")  # more than held: nothing changes
    assert r.info["invalid_action"] and env.inventory == Counter({"oak log": 1})
    r = env.step("craft 5 oak planks using 1 oak log")
    assert r.info["invalid_action"] and "make 4" in r.observation
    r = env.step("craft 4 oak planks using 1 oak log")
    assert r.observation == "Crafted 4 oak planks." and r.reward == 0 and not r.done
    r = env.step("craft 1 crafting table using 4 planks")  # a tag name takes any held member
    assert r.reward == 1.0 and r.terminated and r.info["success"]
    assert env.inventory == Counter({"crafting table": 1})


def test_multiplied_recipe_and_inventory(env: TextCraftEnv) -> None:
    env.reset(_task_of("crafting table"))
    env.step("get 2 oak log")
    r = env.step("craft 8 oak planks using 2 oak log")
    assert r.observation == "Crafted 8 oak planks."
    env.step("craft 4 stick using 2 oak planks")
    assert env.step("inventory").observation == "Inventory: [oak planks] (6) [stick] (4)"


def test_expert_plans_are_short_and_complete() -> None:
    g = recipe_graph()
    plan = expert.plan(g, "crafting table", {})
    assert plan[-1].startswith("craft 1 crafting table using 4 ")
    assert expert.plan(g, "crafting table", {"crafting table": 1}) == []
    # reserved ingredients are not eaten by later sub-crafts
    assert max(len(expert.plan(g, x, {})) for x in tasks.goals()) <= 20


def test_checker_and_expert_on_test_split() -> None:
    ids = TextCraftEnv.spec.split("test")
    report = check_env("textcraft", expert_tasks=ids[::4])
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_success == 1.0


def test_determinism_and_rng_isolation() -> None:
    a, b = TextCraftEnv(), TextCraftEnv()
    task = TextCraftEnv.spec.split("test")[50]
    ta = a.reset(task).text
    b.reset(task + 1)
    assert b.reset(task).text == ta == TextCraftEnv().reset(task).text
    assert a.reset(task, seed=1).text != ta or len(recipe_graph().tree(a.goal)) < 2


def test_expert_episode_reaches_goal(env: TextCraftEnv) -> None:
    reward, ok, seen = run_expert_episode(env, _task_of("campfire"))
    assert ok and reward == 1.0 and "Crafted 1 campfire." in seen[-1]


def test_over_http() -> None:
    testing = pytest.importorskip("agentgym.server.testing")
    from agentgym.client.http import EnvClient

    task = TextCraftEnv.spec.split("test")[10]
    with testing.run_server(["textcraft"]) as url, EnvClient(url) as client:
        with client.session("textcraft") as s:
            obs = s.reset(task)
            assert obs.info["goal"] in obs.text and "commands" in obs.info
            res = None
            for _ in range(20):
                res = s.step(parse_reply(s.expert_reply(), "react_line").action)
                if res.done:
                    break
            assert res is not None and res.reward == 1.0 and res.info["success"]
    local = make("textcraft")
    assert local.reset(task).text == obs.text
