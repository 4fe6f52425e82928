"""Stop strings: every env declares them (`EnvSpec.stop`), parsers judge a reply by its first
complete action, and say what is wrong when there is none.

A chat model that writes past its action invents the next turn - ``Action: finish with Action
Input: {"answer": 2024}`` followed by ``Observation: ...`` - and the tool envs used to reject that
valid call as "not a valid JSON object". The agents send the stop strings (tests/test_agents_*.py,
tests/test_model_server_openai.py); these are the parsers' side, for replies that still run on.
"""

from __future__ import annotations

import pytest

from agentgym.core.react import cut_at_stop, parse_reply
from agentgym.core.registry import list_envs, spec
from agentgym.core.types import DEFAULT_STOP, EnvSpec
from agentgym.envs.tools.base import FORMAT_ERROR, parse_action
from agentgym.envs.tools.weather.env import WeatherEnv

RUN_ON = (
    '\nObservation: The answer is correct.\nThought: done.\nAction: finish with Action Input: {"answer": 1}'
)


def test_every_env_declares_stop_strings() -> None:
    for env in list_envs():
        try:
            s = spec(env)
        except Exception:  # an env whose optional data or package is missing here
            continue
        assert s.stop and all(s.stop), env
        assert "\nObservation:" in s.stop, env
    bare = EnvSpec(id="x", version="1", max_rounds=1, metric="success", action_format="raw", splits={})
    assert bare.stop == list(DEFAULT_STOP) == ["\nObservation:"]
    assert EnvSpec.model_validate(bare.model_dump()).stop == bare.stop  # on the wire (GET /v1/envs/x)


def test_cut_at_stop_takes_the_earliest_of_several() -> None:
    text = "a\nQuestion: b\nObservation: c"
    assert cut_at_stop(text, ["\nObservation:", "\nQuestion:"]) == "a"
    assert cut_at_stop(text, ["\nObservation:"]) == "a\nQuestion: b"
    assert cut_at_stop(text, ["", "zzz"]) == text
    assert cut_at_stop("xxab", ["ab", "xa"]) == "x"  # overlapping candidates: the first start wins


def test_tool_call_followed_by_an_invented_observation_is_the_call() -> None:
    reply = 'Thought: 2024 it is.\nAction: finish with Action Input: {"answer": 2024}' + RUN_ON
    assert parse_action(reply) == ("finish", {"answer": 2024})
    # the next lines are not part of the input either (a run-on without an "Observation:")
    assert parse_action('Action: finish with Action Input: {"answer": 2024}\nThought: that was easy') == (
        "finish",
        {"answer": 2024},
    )
    # but text on the same line is: what was meant is unclear, and the message says so
    out = parse_action('Action: finish with Action Input: {"answer": 2024} (final)')
    assert isinstance(out, str) and "text after its JSON object on the same line ('(final)')" in out
    # and the env steps it as the call it is (no invalid action)
    env = WeatherEnv()
    env.reset(0, 0)
    res = env.step("Thought: x\nAction: get_user_current_location with Action Input: {}" + RUN_ON)
    assert not res.info["invalid_action"] and "Format error" not in res.observation
    env.close()


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ("Thought: nothing to do", 'the reply has no "Action:"'),
        ("Action: finish", '"with Action Input:" does not follow the tool name'),
        ("Action: look it up with Action Input: {}", "the tool name 'look it up' is not a name"),
        ('Action: f with Action Input: {"a": [1, }', "not a valid JSON object (Expecting value at character"),
        ("Action: f with Action Input: [1, 2]", "must be a JSON object of named arguments"),
    ],
)
def test_tool_parser_says_what_is_wrong(reply: str, says: str) -> None:
    out = parse_action(reply)
    assert isinstance(out, str) and says in out, out
    if out.startswith("Format error"):
        assert "Action: <tool name> with Action Input: <JSON object of arguments>" in out
    assert parse_action("Action: with Action Input: {}") == FORMAT_ERROR


@pytest.mark.parametrize(
    ("fmt", "reply", "action"),
    [
        ("react_last", "Thought: t\nAction: search[tent]" + RUN_ON, "search[tent]"),
        ("react_line", "Thought: t\nAction: get 1 oak log" + RUN_ON, "get 1 oak log"),
        (
            "sql_block",
            "Thought: t\nAction:\n```sql\nSELECT 1;\n```" + RUN_ON + "\n```sql\nSELECT 2;\n```",
            "SELECT 1;",
        ),
    ],
)
def test_reply_parser_takes_the_first_complete_action(fmt: str, reply: str, action: str) -> None:
    assert parse_reply(reply, fmt).action == action  # type: ignore[arg-type]
    # without the stop, the run-on decides (the original rules: last Action, one Action line...)
    assert parse_reply(reply, fmt, stop=()).action != action  # type: ignore[arg-type]
    # react_first (Maze, Wordle) took the first Action anyway
    assert parse_reply("Thought: t\nAction: move up" + RUN_ON, "react_first", stop=()).action == "move up"


@pytest.mark.parametrize(
    ("fmt", "reply", "says"),
    [
        ("react_first", "Thought: I am lost", 'No action found: the reply has no "Action:"'),
        ("react_last", "Thought: x\nAction:   ", 'The action is empty: nothing follows "Action:"'),
        ("react_line", "Action: a\nAction: b", "more than one Action line"),
        ("react_line", "Thought: x\nAction: ???", "has none of the characters A-Z, a-z, 0-9"),
        ("sql_block", "SELECT 1", "No ```sql ... ``` block found"),
        ("sql_block", "Action:\n```sql\nSELECT 1", "no closing ```"),
        ("react_first", "Thought: x\nObservation: made up\nAction: move up", "No action found"),
    ],
)
def test_reply_parser_says_what_is_wrong(fmt: str, reply: str, says: str) -> None:
    parsed = parse_reply(reply, fmt)  # type: ignore[arg-type]
    assert not parsed.ok and parsed.error is not None and says in parsed.error, parsed.error
