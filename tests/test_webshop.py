"""WebShop: generated catalog, tantivy search, text pages, reward, expert, original-data loader, HTTP."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from agentgym.core.checker import check_env, run_expert_episode
from agentgym.core.react import parse_reply
from agentgym.envs.webshop.catalog import generate_catalog
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.goals import TEST_SIZE
from agentgym.envs.webshop.original import parse_price
from agentgym.envs.webshop.reward import content_words, normalize_color, purchase_reward, type_reward
from agentgym.envs.webshop.words import CATEGORIES


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv()


def test_catalog_is_deterministic_and_prefix_stable() -> None:
    a, b = generate_catalog(1000, seed=0), generate_catalog(1000, seed=0)
    assert a.products == b.products
    assert generate_catalog(1000, seed=1).products != a.products
    assert WebShopEnv().world.catalog.products[:1000] == a.products  # growing the catalog keeps the prefix
    cats = {p.category for p in a.products}
    assert len(cats) == len(CATEGORIES) >= 8
    p = a.products[0]
    assert p.title and p.description and p.features and p.attributes and p.options and p.price > 0
    with pytest.raises(ValueError, match="num_products"):
        generate_catalog(10)


def test_word_lists_have_no_fuzzy_collisions() -> None:
    """The reward's fuzzy match must not confuse two attributes or two options of a category."""
    for cat in CATEGORIES:
        for pool in (cat.attributes, *cat.options.values()):
            for i, x in enumerate(pool):
                for y in pool[i + 1 :]:
                    assert fuzz.token_set_ratio(x, y) <= 85, (cat.name, x, y)
        for values in cat.options.values():  # options are compared after colour normalisation
            norm = [normalize_color(v) for v in values]
            for i, x in enumerate(norm):
                for y in norm[i + 1 :]:
                    assert fuzz.token_set_ratio(x, y) <= 85, (cat.name, x, y)


def test_checker_and_expert_on_the_full_test_split() -> None:
    report = check_env("webshop")
    assert report.ok, [r for r in report.results if not r.ok]
    assert report.expert_episodes == TEST_SIZE
    assert report.expert_success is not None and report.expert_success >= 0.95


def test_splits_are_disjoint_down_to_products(env: WebShopEnv) -> None:
    goals = env.world.goals
    test = set(env.spec.split("test"))
    train = env.spec.split("train")
    assert len(test) == 200 and len(train) >= 3000 and not test & set(train)
    test_asins = {goals[i].asin for i in test}
    assert not test_asins & {goals[i].asin for i in train[:2000]}


def test_pages_navigation_and_clickables(env: WebShopEnv) -> None:
    obs = env.reset(3)
    assert obs.text.startswith("WebShop [SEP] Instruction: [SEP] ") and obs.text.endswith("[SEP] Search")
    assert env.has_search_bar() and env.clickables() == ["search"]
    assert env.available_actions() == ["search[<keywords>]"]
    goal = env.goal
    assert goal is not None and goal.instruction in obs.text and "price lower than" in goal.instruction
    res = env.step(f"search[{goal.search_keywords}]")
    total = len(env.browser.results)
    assert 20 < total <= 50 and f"Page 1 (Total results: {total})" in res.observation
    assert "Next >" in res.observation and "< Prev" not in res.observation
    assert not env.has_search_bar()
    asins = [c for c in env.clickables() if c.startswith("b0")]
    assert len(asins) == 10
    assert res.info["clickables"] == env.clickables() and res.info["has_search_bar"] is False
    res = env.step("click[Next >]")
    assert f"Page 2 (Total results: {total})" in res.observation and "< Prev" in res.observation
    page2 = [c for c in env.clickables() if c.startswith("b0")]
    assert not set(page2) & set(asins)
    res = env.step(f"click[{page2[0].upper()}]")
    assert res.info["page"] == "item"
    for label in ("Description", "Features", "Reviews", "Buy Now", "< Prev", "Back to Search"):
        assert label in res.observation
    product = env.browser.product
    assert product is not None and product.title in res.observation
    res = env.step("click[Features]")
    assert product.features[0] in res.observation and env.clickables() == ["back to search", "< prev"]
    assert env.step("click[< prev]").info["page"] == "item"
    assert env.step("click[< Prev]").info["page"] == "results" and env.browser.state.page == 2
    res = env.step("click[Back to Search]")
    assert res.info["page"] == "search" and env.has_search_bar()


def test_invalid_actions_keep_the_page(env: WebShopEnv) -> None:
    env.reset(5)
    for bad in ("buy the shoes", "click[nothing here]", "search[]", "click[Buy Now]"):
        res = env.step(bad)
        assert res.info["invalid_action"] and res.reward == 0 and not res.done, bad
        assert res.observation.startswith("Invalid action") and res.info["page"] == "search"
    env.step("search[shoes]")
    res = env.step("search[again]")
    assert res.info["invalid_action"] and "no search bar" in res.observation
    # query syntax in keywords is data, not a tantivy query
    env.reset(5)
    res = env.step('search[title:"x" AND (y] OR -z *]')
    assert not res.info["invalid_action"] and "Total results" in res.observation


def test_reward_partial_and_full(env: WebShopEnv) -> None:
    goal = next(env.world.goals[i] for i in env.spec.split("test") if len(env.world.goals[i].options) == 2)
    target = env.world.catalog.by_asin[goal.asin]
    full = purchase_reward(goal, target, dict(goal.options))
    assert full.reward == 1.0
    none = purchase_reward(goal, target, {})
    n = len(goal.attributes) + 2 + 1
    assert none.reward == pytest.approx((len(goal.attributes) + 1) / n)
    other = next(
        p
        for p in env.world.catalog.products
        if p.category != goal.category and not content_words(p.title) & content_words(goal.title)
    )
    assert purchase_reward(goal, other, dict(goal.options)).reward == 0.0  # r_type 0: nothing in common
    same_type = next(p for p in env.world.catalog.products if p.query == goal.query and p.asin != goal.asin)
    assert type_reward(goal, same_type) == 1.0
    # through the env: buying without options is not a success
    tid = next(i for i in env.spec.split("test") if env.world.goals[i] is goal)
    env.reset(tid)
    env.step(f"search[{goal.title}]")
    env.step(f"click[{goal.asin}]")
    res = env.step("click[buy now]")
    assert res.done and res.reward == pytest.approx(none.reward) and not res.info["success"]
    assert res.info["purchased"] == goal.asin


def test_determinism_and_random_agent(env: WebShopEnv) -> None:
    rng = random.Random(0)
    for task in env.spec.split("test")[:5]:
        a = run_expert_episode(env, task, seed=1)[2]
        assert a == run_expert_episode(env, task, seed=1)[2]
        env.reset(task)
        for _ in range(env.max_rounds):
            res = env.step(env.random_action(rng))
            if res.done:
                break
        assert env.done


def test_two_sessions_share_the_index_but_not_state() -> None:
    a, b = WebShopEnv(), WebShopEnv()
    assert a.world is b.world
    a.reset(1)
    b.reset(2)
    a.step("search[yoga mat]")
    assert b.has_search_bar() and not a.has_search_bar()


def test_larger_catalog_parameter() -> None:
    env = WebShopEnv(num_products=3000)
    assert len(env.world.catalog) == 3000
    assert len(env.spec.split("train")) == 2 * (3000 - TEST_SIZE)
    wins = sum(run_expert_episode(env, t)[1] for t in env.spec.split("test")[:20])
    assert wins >= 19


def _write_original(folder: Path) -> None:
    """A tiny data folder in the original WebShop file format."""
    products, ins = [], {}
    colors = ["black", "white", "red", "blue", "green", "grey", "pink", "navy"]
    sizes = ["small", "medium", "large", "x-large", "xx-large", "3x-large", "4x-large"]
    for i in range(6):
        asin = f"B0ORIG{i:04d}"
        products.append({
            "asin": asin,
            "category": "fashion",
            "query": "men's shorts" if i % 2 else "women's sweater",
            "name": f"Brand{i} {'Men Shorts Elastic Waist' if i % 2 else 'Women Sweater Knit'} Style {i}",
            "product_category": "Clothing, Shoes & Jewelry › Men › Clothing",
            "full_description": f"Product {i} description with drawstring closure.",
            "small_description": ["machine wash", "polyester fabric"],
            "pricing": f"${10 + i}.99" if i != 5 else "$20.00 to $35.50",
            "customization_options": {
                "Color": [{"value": c, "image": None} for c in colors],
                "Size": [{"value": s, "image": None} for s in sizes],
            },
        })  # fmt: skip
        ins[asin] = {
            "attributes": ["machine wash", "elastic waist"],
            "instruction": f"i need {'men shorts' if i % 2 else 'a women sweater'} that are machine wash.",
            "instruction_attributes": ["machine wash"],
        }
    (folder / "items_shuffle_6.json").write_text(json.dumps(products))
    (folder / "items_ins_v2_6.json").write_text(json.dumps(ins))


def test_original_data_loader(tmp_path: Path) -> None:
    _write_original(tmp_path)
    env = WebShopEnv(data_path=str(tmp_path))
    assert env.world.catalog.source.startswith("original") and len(env.world.catalog) == 6
    assert env.spec.split("test") == list(range(200)) and len(env.spec.split("train")) == 6 * 50 - 200
    goal = env.world.goals[0]
    assert "machine wash" in goal.instruction and set(goal.options) == {"color", "size"}
    assert env.world.catalog.by_asin["B0ORIG0005"].price == 20.0
    wins = sum(run_expert_episode(env, t)[1] for t in range(10))
    assert wins == 10
    assert parse_price("$1,299.50") == 1299.5 and parse_price([3.5, 9]) == 3.5 and parse_price(None) is None
    with pytest.raises(FileNotFoundError):
        WebShopEnv(data_path=str(tmp_path / "missing"))


def test_over_http() -> None:
    httpx = pytest.importorskip("httpx")
    testing = pytest.importorskip("agentgym.server.testing")
    with testing.run_server(["webshop"]) as url, httpx.Client(base_url=url, timeout=30) as c:
        sid = c.post("/v1/sessions", json={"env": "webshop"}).json()["session_id"]
        obs = c.post(f"/v1/sessions/{sid}/reset", json={"task_id": 7}).json()["observation"]
        assert obs.startswith("WebShop [SEP]")
        for _ in range(10):
            reply = c.get(f"/v1/sessions/{sid}/expert").json()["reply"]
            action = parse_reply(reply, "react_last").action
            out = c.post(f"/v1/sessions/{sid}/step", json={"action": action}).json()
            if out["done"]:
                break
        assert out["reward"] == 1.0 and out["info"]["success"]
        assert c.post(f"/v1/sessions/{sid}/step", json={"action": "click[x]"}).status_code == 409
        c.delete(f"/v1/sessions/{sid}")
