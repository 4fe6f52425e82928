"""Hostile actions against every action parser (adversarial review: "regex backtracking freezes the
server"), plus WebShop's session kwargs and its bounded world cache.

The finding: the parsers of the tool envs, WebShop and the runner's reply parser had regexes
whose adjacent quantifiers could share a run of whitespace in every possible way, so a 32,000-
character action (``"Action: a" + " " * 32_000 + "b"``, ``"search[]" + " " * 32_000 + "x"``)
held the server 8-17 s, and a 1 MB one would have held it for hours. Two fixes, both tested:

* every parser is linear - tested **with the length cap lifted** (an operator may raise it), on
  1 MB of each shape, in-process;
* `EnvSpec.max_action_chars` refuses longer actions before any parser - tested over real HTTP
  (1 MB just under the body limit, 32 k, and the longest action the cap lets through).

Timing is only a *hang guard* (`HANG_GUARD_S`, far above the milliseconds the fixed parsers take:
the guard exists so a regression fails in seconds instead of freezing the test run for hours).
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from agentgym.core.env import Env
from agentgym.core.react import parse_reply
from agentgym.core.registry import make
from agentgym.core.types import EnvSpec
from agentgym.envs.tools.base import FORMAT_ERROR, MAX_REPLY_CHARS, parse_action
from agentgym.envs.webshop import world as ws_world
from agentgym.envs.webshop.env import WebShopEnv
from agentgym.envs.webshop.env import parse_action as webshop_parse_action
from agentgym.server.testing import run_server

HANG_GUARD_S = 10.0
"""Far above what a linear parser needs for 1 MB (milliseconds) on a busy 2-core machine; far
below what the quadratic ones took (seconds at 32 k, hours at 1 MB)."""
BODY_LIMIT = 1 << 20  # the server's default max_body_bytes
MB_ACTION = 1_000_000
TOOL_ENVS = ["weather", "todo", "movie", "academia", "sheet"]
OTHER_ENVS = ["webshop", "maze", "wordle", "babyai", "textcraft"]
ENVS = TOOL_ENVS + OTHER_ENVS

Shape = tuple[str, str, str]
"""(prefix, unit repeated to fill the length, suffix)."""

GENERIC: list[Shape] = [
    ("", " ", "x"),
    ("Action: ", " ", "x"),
    ("x", "\n", "x"),
    ("", "a ", ""),
]
TOOL_SHAPES: list[Shape] = [
    ("Action: a", " ", "b"),  # the original: lazy name + two \s* around "with" - cubic
    ("Action: a", "\t", "with"),
    ("Action: f with", " ", "Action Input"),
    ("Action", " ", "x"),
    ("", "Action ", ":"),
    ("", "with ", "x"),
    ("", "Action: x with Action Input: {", ""),
    ("Action: x with Action Input: ", "{", ""),
    ('Action: x with Action Input: {"a": ', "[", ""),
    ('Action: x with Action Input: {"a": "', "\\", '"}'),
    ("Thought: ", "Action:", " x"),
    ("Action: ", "a", " with Action Input: {}"),  # a 1 MB tool name: a clear "no such tool"
]
SHAPES: dict[str, list[Shape]] = {
    **{e: GENERIC + TOOL_SHAPES for e in TOOL_ENVS},
    "webshop": GENERIC
    + [
        ("search[]", " ", "x"),  # the original: \s*\.?\s* after "]" - quadratic
        ("search[", " ", ""),
        ("search[", "] ", "x"),
        ("click[", "a ", ""),
        ("click[", "]", "x"),
        ("click[x]", " ", ".x"),
        ("", " ", "search[x"),
        ("search", " ", "x"),
        ("search[", "and or ", "]"),  # a valid but absurd search: 1 MB of stop words
    ],
    "maze": GENERIC + [("move", " ", "x"), ("", "move ", "x"), ("move", " ", "up down")],
    "wordle": GENERIC + [("", "'", "x"), ("", "a", "")],
    "babyai": GENERIC + [("go to ", " ", ""), ("", "go to ", ""), ("pick up", " ", "x")],
    "textcraft": GENERIC
    + [
        ("craft ", "a ", ""),
        ("", "craft 1 a using ", "x"),
        ("get ", "1", " x"),
        ("craft ", "1 ", ""),
        ("craft 1 a using ", "1 a, ", "x"),
    ],
}
REPLY_SHAPES: list[Shape] = GENERIC + [
    ("Action:", " ", "x"),
    ("Action", " ", "x"),
    ("", "Action: ", ""),
    ("Action:", "\n", "x"),
    ("```sql", " ", "x"),  # the original: \s*(.*?)``` with no closing fence - quadratic
    ("```sql", "\n", ""),
    ("", "```sql ", ""),
    ("```sql ", "`", "x"),
]


def build(shape: Shape, n: int) -> str:
    """``shape`` filled to about ``n`` characters."""
    prefix, unit, suffix = shape
    return prefix + unit * max(1, (n - len(prefix) - len(suffix)) // len(unit)) + suffix


def build_under_body_limit(shape: Shape) -> str:
    """The ~1 MB action whose JSON body stays under the server's 1 MB limit (escapes included)."""
    n = MB_ACTION
    while True:
        action = build(shape, n)
        if len(json.dumps({"action": action})) < BODY_LIMIT - 1024:
            return action
        n = n * 9 // 10


class Hang(Exception):
    pass


@contextmanager
def hang_guard(what: str, seconds: float = HANG_GUARD_S) -> Iterator[None]:
    """Fail (instead of freezing the run) when the block takes more than ``seconds``.

    SIGALRM interrupts a running regex (``re`` checks for signals); pytest-timeout's own alarm is
    put back afterwards with what is left of it.
    """

    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"{what} took more than {seconds} s: a parser is not linear")

    old_handler = signal.signal(signal.SIGALRM, fire)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:
            left = max(old_delay - (time.monotonic() - t0), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)


def shape_id(shape: Shape) -> str:
    prefix, unit, suffix = shape
    return f"{prefix!r}+{unit!r}*n+{suffix!r}"


# ----------------------------------------------------------------- the parsers, in-process
@pytest.mark.parametrize("shape", GENERIC + TOOL_SHAPES, ids=shape_id)
def test_tool_parse_action_is_linear(shape: Shape) -> None:
    for n in (MAX_REPLY_CHARS, 32_000, MB_ACTION):
        reply = build(shape, n)
        with hang_guard(f"parse_action({n} chars of {shape_id(shape)})"):
            out = parse_action(reply)
        if shape[2].endswith("{}"):  # a well-formed call of an absurd tool: the env says "no such tool"
            assert out == (reply[len("Action: ") : -len(" with Action Input: {}")], {})
        else:
            assert isinstance(out, str) and out, "a hostile reply is an error message, not a call"


def test_tool_parse_action_still_reads_long_honest_replies() -> None:
    thought = "Thought: " + "I should look this up carefully. " * 400  # ~13 k, under the cap
    reply = f'{thought}\nAction: get_user_current_date with Action Input: {{"x": 1}}</s>'
    assert len(reply) <= MAX_REPLY_CHARS
    with hang_guard("parse_action(long honest reply)"):
        assert parse_action(reply) == ("get_user_current_date", {"x": 1})
    # the last "Action:" wins, and the name/input split is the first "with Action Input:"
    reply = (
        'Action: a with Action Input: {}\nAction:  `b`  WITH  action input: ` {"k": "with Action Input: x"} `'
    )
    assert parse_action(reply) == ("b", {"k": "with Action Input: x"})
    assert parse_action("Action: with Action Input: {}") == FORMAT_ERROR


@pytest.mark.parametrize("shape", SHAPES["webshop"], ids=shape_id)
def test_webshop_parse_action_is_linear(shape: Shape) -> None:
    for n in (4096, 32_000, MB_ACTION):
        action = build(shape, n)
        with hang_guard(f"webshop parse_action on {n} chars of {shape_id(shape)}"):
            parsed = webshop_parse_action(action)
        if shape[2] == "]":
            assert parsed is not None and parsed[0] == "search"
        else:
            assert parsed is None


def test_webshop_parse_action_keeps_its_forms() -> None:
    cases = {
        "search[red shoes]": ("search", "red shoes"),
        "  Click [ Buy Now ] . \n": ("Click", " Buy Now "),
        "click[a]b]": ("click", "a]b"),  # the last "]" closes, as before
        "search[x]\n": ("search", "x"),
        "search[]": ("search", ""),
        "click[[x]]": ("click", "[x]"),
    }
    for action, groups in cases.items():
        assert webshop_parse_action(action) == groups, action
    for action in ("search[x]..", "search[x] . .", "search x]", "buy[x]", "search[x]y", "search[", "search]"):
        assert webshop_parse_action(action) is None, action


@pytest.mark.parametrize("fmt", ["react_first", "react_last", "react_line", "sql_block", "raw"])
def test_reply_parser_is_linear(fmt: Any) -> None:
    for shape in REPLY_SHAPES:
        for n in (32_000, MB_ACTION):
            reply = build(shape, n)
            with hang_guard(f"parse_reply({fmt}, {n} chars of {shape_id(shape)})"):
                parse_reply(reply, fmt)
    # honest replies still parse as before
    assert parse_reply("Thought: x\nAction:   move up  \nmore", "react_first").action == "move up"
    assert parse_reply("Action: a\nThought: y\nAction: click[b]", "react_last").action == "click[b]"
    assert parse_reply("Thought: t\nAction: go to red ball.", "react_line").action == "go to red ball"
    sql = "```SQL\n  SELECT 1 ```\nthen ```sql\nSELECT 2\n```"
    assert parse_reply(sql, "sql_block").action == "SELECT 2"
    assert parse_reply("```sql" + " " * 5000, "sql_block").action is None


_LIFTED: dict[str, EnvSpec] = {}
"""The lifted specs, kept alive: `agentgym.core.env` caches task ids by ``id(spec)``, and a freed
spec's id may be reused by the next copy (of another env)."""


def lifted(env_id: str) -> Env:
    """``env_id`` with its length cap lifted above 1 MB: only the parser stands in the way."""
    env = make(env_id)
    spec = _LIFTED.setdefault(env_id, env.spec.model_copy(update={"max_action_chars": 2 * MB_ACTION}))
    env.spec = spec  # type: ignore[misc]
    return env


@pytest.mark.parametrize("env_id", ENVS)
def test_env_step_is_linear_with_the_cap_lifted(env_id: str) -> None:
    env = lifted(env_id)
    task = env.spec.split("test")[0]
    try:
        for shape in SHAPES[env_id]:
            for n in (32_000, MB_ACTION):
                env.reset(task)
                action = build(shape, n)
                with hang_guard(f"{env_id}.step({n} chars of {shape_id(shape)})"):
                    res = env.step(action)
                if env_id == "webshop" and shape[2] == "]":
                    assert not res.info["invalid_action"]  # an absurd but valid search
                else:
                    assert res.info["invalid_action"], (env_id, shape_id(shape), res.observation[:200])
                assert 0 < len(res.observation) < 50_000, "the observation must not echo the action"
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ENVS)
def test_the_cap_refuses_before_any_parser(env_id: str) -> None:
    env = make(env_id)
    cap = env.spec.max_action_chars
    assert cap == (MAX_REPLY_CHARS if env_id in TOOL_ENVS else 4096)
    env.reset(env.spec.split("test")[0])
    with hang_guard(f"{env_id}.step(1 MB) with the cap"):
        res = env.step(build(("Action: a", " ", "b"), MB_ACTION))
    assert res.info["invalid_action"] and f"at most {cap:,}" in res.observation
    env.close()


def test_textcraft_refuses_absurd_counts_without_crashing() -> None:
    env = lifted("textcraft")
    task = env.spec.split("test")[0]
    recipe = next(c for c in env.reset(task).info["commands"].split("\n") if c.startswith("craft "))
    item, _, ingredients = recipe[len("craft ") :].partition(" using ")  # "4 oak planks", "1 oak log"
    long_count = "1" + "0" * 18
    for action in (
        "get " + "9" * 5000 + " oak log",
        f"get {long_count} oak log",
        f"craft {long_count} {item.partition(' ')[2]} using {ingredients}",
        f"craft {item} using {long_count} {ingredients.partition(' ')[2]}",
    ):
        env.reset(task)
        res = env.step(action)
        assert res.info["invalid_action"] and "18 digits" in res.observation, (action[:80], res.observation)
    env.reset(task)
    assert "18 digits" not in env.step("get 1 item number 12345678901234567890").observation
    assert env.step("craft x using " + "1" * 5000 + " y").info["invalid_action"]  # no such item: no crash


# ------------------------------------------------------------------------------- over HTTP
@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # A separate process: a parser that hung would hang only the server, and the client's
    # timeout (the hang guard) would still fire.
    with run_server(ENVS, process=True, startup_timeout_s=120) as u:
        yield u


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=HANG_GUARD_S) as c:
        yield c


def expert_action(env_id: str, task: int) -> tuple[str, str]:
    """A valid first action of ``task`` and the observation it gives (from a local env)."""
    env = make(env_id)
    env.reset(task)
    action = parse_reply(env.expert_reply(), env.spec.action_format).action
    assert action is not None
    obs = env.step(action).observation
    env.close()
    return action, obs


@pytest.mark.parametrize("env_id", ENVS)
def test_hostile_actions_over_http(http: httpx.Client, env_id: str) -> None:
    r = http.post("/v1/sessions", json={"env": env_id})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    spec = http.get(f"/v1/envs/{env_id}").json()
    cap, task = spec["max_action_chars"], spec["splits"]["test"][0]
    slowest = (0.0, "")
    for shape in SHAPES[env_id]:
        for action in (build_under_body_limit(shape), build(shape, 32_000), build(shape, cap)[:cap]):
            assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).status_code == 200
            t0 = time.monotonic()
            r = http.post(f"/v1/sessions/{sid}/step", json={"action": action})  # times out on a hang
            slowest = max(slowest, (time.monotonic() - t0, f"{len(action)} chars of {shape_id(shape)}"))
            assert r.status_code == 200, f"{env_id}: {r.status_code} {r.text[:300]}"
            body = r.json()
            valid_search = env_id == "webshop" and shape[2] == "]" and len(action) <= cap
            assert body["info"]["invalid_action"] is not valid_search, (env_id, shape_id(shape), len(action))
            assert 0 < len(body["observation"]) < 50_000
            if len(action) > cap:
                assert f"at most {cap:,}" in body["observation"]
    # the session still works: the expert's first action gives what it gives locally
    action, obs = expert_action(env_id, task)
    assert http.post(f"/v1/sessions/{sid}/reset", json={"task_id": task}).status_code == 200
    r = http.post(f"/v1/sessions/{sid}/step", json={"action": action})
    assert r.status_code == 200 and not r.json()["info"]["invalid_action"], r.text[:300]
    assert r.json()["observation"] == obs
    assert http.delete(f"/v1/sessions/{sid}").status_code == 204
    logging.getLogger(__name__).info("%s: slowest hostile step %.3f s (%s)", env_id, *slowest)


# ------------------------------------------------------------------- WebShop session kwargs
def test_webshop_kwargs_are_an_allow_list_over_http(http: httpx.Client) -> None:
    def create(kwargs: dict[str, Any]) -> httpx.Response:
        return http.post("/v1/sessions", json={"env": "webshop", "kwargs": kwargs}, timeout=60)

    for bad, named in [
        ({"num_products": 60_000}, "num_products"),
        ({"num_products": 10}, "num_products"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"seed": "3"}, "seed"),
        ({"data_path": "/etc"}, "data_path"),
        ({"cache_mb": 1}, "cache_mb"),
    ]:
        r = create(bad)
        assert r.status_code == 422, (bad, r.text)
        detail = r.json()["detail"]
        assert named in detail and "Allowed kwargs: max_rounds" in detail, detail
        assert "num_products (int, >= 1000, <= 10000)" in detail and "seed (int, >= 0" in detail
        assert "data_path (" not in detail, "data_path is a server setting, never a client kwarg"

    r = create({"num_products": 1000, "seed": 7, "max_rounds": 5})
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    local = WebShopEnv(num_products=1000, seed=7, max_rounds=5)
    obs = http.post(f"/v1/sessions/{sid}/reset", json={"task_id": 3}).json()["observation"]
    assert obs == local.reset(3).text
    action = parse_reply(local.expert_reply(), "react_last").action
    r = http.post(f"/v1/sessions/{sid}/step", json={"action": action})
    assert r.status_code == 200 and r.json()["observation"] == local.step(action).observation


# ---------------------------------------------------------------------- the bounded cache
def one_world_mb() -> float:
    """The approximate size of a 1,000-product world, in MB (the cache's unit)."""
    return WebShopEnv(num_products=1000, seed=0).world.approx_bytes / ws_world.MB


def test_world_cache_is_bounded_and_evicted_worlds_stay_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    size = one_world_mb()
    assert 2 < size < 8, f"a 1,000-product world is estimated at {size:.1f} MB"
    limit_mb = 1.5 * size  # room for one world of this size, not two
    monkeypatch.setenv(ws_world.CACHE_ENV_VAR, str(limit_mb))
    limit = ws_world.cache_info()["limit_bytes"]
    assert limit == int(limit_mb * ws_world.MB)

    first = WebShopEnv(num_products=1000, seed=9101)
    first.reset(5)
    envs = [first]
    for seed in (9102, 9103, 9104):
        envs.append(WebShopEnv(num_products=1000, seed=seed))
        info = ws_world.cache_info()
        assert info["bytes"] <= limit and info["entries"] <= 1, info
    assert ("", 9101, 1000) not in ws_world._lru, "the first seed has been evicted"

    # the session that uses an evicted world keeps working ...
    action = parse_reply(first.expert_reply(), "react_last").action
    assert action is not None and action.startswith("search[")
    res = first.step(action)
    assert not res.info["invalid_action"] and "Total results" in res.observation
    # ... and a new session with its configuration shares it (no second copy is built)
    t0 = time.perf_counter()
    again = WebShopEnv(num_products=1000, seed=9101)
    assert again.world is first.world and time.perf_counter() - t0 < HANG_GUARD_S
    assert ws_world.cache_info()["bytes"] <= limit

    # the default world (what a session without kwargs uses) is pinned, never evicted
    default = WebShopEnv()
    monkeypatch.setenv(ws_world.CACHE_ENV_VAR, "0")
    WebShopEnv(num_products=1000, seed=9105)
    info = ws_world.cache_info()
    assert info["entries"] == 0 and info["bytes"] == 0, info
    assert WebShopEnv().world is default.world

    # a world nobody holds any more is gone from memory
    del envs, first, again
    gc.collect()
    assert ("", 9101, 1000) not in ws_world._alive


def test_bad_cache_setting_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    default = int(ws_world.DEFAULT_CACHE_MB * ws_world.MB)
    for bad in ("lots", "-5", "nan", "inf"):
        monkeypatch.setenv(ws_world.CACHE_ENV_VAR, bad)
        with caplog.at_level(logging.WARNING):
            assert ws_world.cache_limit_bytes() == default
    assert ws_world.CACHE_ENV_VAR in caplog.text
    monkeypatch.setenv(ws_world.CACHE_ENV_VAR, "12.5")
    assert ws_world.cache_limit_bytes() == int(12.5 * ws_world.MB)


def test_search_cache_keeps_only_short_queries() -> None:
    env = WebShopEnv()
    engine = env.world.engine
    before = len(engine._cache)
    long_query = " ".join(f"word{i}" for i in range(500))
    assert engine.search(long_query) == engine.search(long_query)  # same answer, not cached
    assert long_query not in engine._cache
    assert engine.search("red shoes") == engine.search("Red, SHOES!")  # cached under the cleaned words
    assert "red shoes" in engine._cache and len(engine._cache) <= before + 2
