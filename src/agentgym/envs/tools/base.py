"""Shared machinery of the tool envs: action parsing, tool dispatch, observation wording, finish, reward.

The original tool servers cut the action out of the raw reply with the regex
``\\s*(.*?)\\s*with\\s*Action Input:\\s*(.*?)$`` and then ``eval``'d the action input - any model could
run code on the server. Here the input is parsed with `json.loads`, falling back to
`ast.literal_eval` (literals only: no names, calls or attributes), and must be a JSON object whose
keys are the tool's parameter names. Everything that goes wrong - no ``Action:``, bad input, an
unknown tool, wrong arguments - becomes an observation counted as an invalid action; a well-formed
call that the backend refuses (an unknown city, no open sheet) answers ``Error: ...`` and is not
counted invalid. ``finish`` ends the episode: reward 1 when the answer matches (`answers_match`);
Todo and Sheet also compare the final store with the expected one.

A tool env is three things:

* a `Toolbox` subclass: the local backend's tools, methods marked with `tool` (the method name is
  the original tool name; its docstring-like ``description`` feeds the instruction's catalog);
  one fresh toolbox per episode, so sessions never see each other's writes;
* a list of `ToolTask` (goal, answer, the expert's calls, the initial config), generated from the
  backend's data;
* a `ToolEnv` subclass wiring them together; Todo and Sheet override `state_score` to compare the
  final store with the expected one.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agentgym.core.env import Env, invalid
from agentgym.core.react import after_last_action, cut_at_stop, format_reply
from agentgym.core.types import DEFAULT_STOP, StepResult

MAX_REPLY_CHARS = 16_384
"""The tool envs' ``EnvSpec.max_action_chars``: their action is the model's WHOLE reply (format
``raw``: thought and action), so the default cap of 4,096 would refuse a long but honest reply. A
longer one is refused by `Env.step` before `parse_action` runs; `parse_action` is linear anyway,
so a server that raises the cap is slower per character, never stuck."""
MAX_INPUT_CHARS = 8000
"""Longer action inputs are refused before parsing (a huge literal could exhaust the parser)."""
MAX_OUTPUT_CHARS = 6000
"""Tool outputs are cut to this many characters (a whole table can be long)."""

# Every pattern here is linear in the reply's length (a hostile client may send the longest reply
# the cap allows, and the cap can be raised): no two adjacent quantifiers can trade characters.
# ``\s*+`` is possessive - "A" is never whitespace, so giving whitespace back could not help.
# The last "Action:" is found by `agentgym.core.react.after_last_action` (one backward pass).
_WITH_INPUT = re.compile(r"with\s*+Action Input:", re.IGNORECASE)
"""Where the tool name ends and the input begins: the first ``with Action Input:`` after ``Action:``.

The original's ``\\s*(.*?)\\s*with\\s*Action Input:\\s*(.*?)$`` let the lazy name group and the
whitespace around it split every whitespace run in every possible way - cubic in the reply's
length (a 32,000-character reply held the server for seconds). Searching for the separator and
slicing around it gives the same name and input (both are stripped anyway) in one pass."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"\s*+-?\d++\s*+")
_EOS = ("</s>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>")
_JSON = json.JSONDecoder()

FORMAT_ERROR = (
    'Format error: answer with one action in the form "Action: <tool name> with Action Input: '
    '<JSON object of arguments>", for example: Action: finish with Action Input: {"answer": "..."}'
)


class ToolError(Exception):
    """An error a tool reports to the agent (unknown city, bad id, no open sheet, ...)."""


# ----------------------------------------------------------------------------------------- tools
def tool(description: str, returns: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a `Toolbox` method as a tool the agent may call; the method name is the tool name."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__tool__ = (description, returns)  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class ToolInfo:
    name: str
    params: tuple[str, ...]
    optional: frozenset[str]
    description: str
    returns: str

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


class Toolbox:
    """The tools of one episode, over that episode's private copy of the backend data."""

    _catalog: ClassVar[dict[str, ToolInfo]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        catalog: dict[str, ToolInfo] = {}
        names = [n for klass in reversed(cls.__mro__) for n in vars(klass)]
        for name in dict.fromkeys(names):  # definition order, base classes first
            fn = getattr(cls, name)
            meta = getattr(fn, "__tool__", None)
            if meta is None:
                continue
            params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
            catalog[name] = ToolInfo(
                name,
                tuple(p.name for p in params),
                frozenset(p.name for p in params if p.default is not inspect.Parameter.empty),
                meta[0],
                meta[1],
            )
        cls._catalog = catalog

    @classmethod
    def catalog(cls) -> dict[str, ToolInfo]:
        return cls._catalog

    def call(self, name: str, args: dict[str, Any]) -> Any:
        """Run tool ``name``; raises `KeyError` (unknown tool), `TypeError` (bad args), `ToolError`."""
        info = self._catalog.get(name)
        if info is None:
            raise KeyError(name)
        unknown = sorted(set(args) - set(info.params))
        missing = [p for p in info.params if p not in args and p not in info.optional]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unexpected {', '.join(unknown)}")
            raise TypeError(f"{'; '.join(parts)}. Usage: {info.signature()}")
        return getattr(self, name)(**args)

    def close(self) -> None:
        """Release the backend (a database connection, temp files)."""


class UserContext:
    """``get_user_current_date`` / ``get_user_current_location`` from the task's init_config."""

    config: dict[str, Any]

    @tool("Get the user's current date.", "the date as YYYY-MM-DD")
    def get_user_current_date(self) -> str:
        return str(self.config["current_date"])

    @tool("Get the user's current city.", "the city name")
    def get_user_current_location(self) -> str:
        return str(self.config["current_location"])


# -------------------------------------------------------------------------------------- coercion
def as_int(value: Any, name: str) -> int:
    """An integer argument (ints, integral floats and digit strings are accepted)."""
    if isinstance(value, bool):
        raise ToolError(f"{name} must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # over Python's 4,300-digit limit: an answer, not a server error
            pass
    raise ToolError(f"{name} must be an integer, not {value!r}")


def as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ToolError(f"{name} must be a number, not {value!r}")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            out = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(out):
                return out
    raise ToolError(f"{name} must be a number, not {value!r}")


def as_str(value: Any, name: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ToolError(f"{name} must be a non-empty string, not {value!r}")


# --------------------------------------------------------------------------------------- parsing
def _format_error(problem: str) -> str:
    """`FORMAT_ERROR` saying first what is wrong with this reply."""
    how = FORMAT_ERROR.removeprefix("Format error: ")
    return f"Format error: {problem}. {how[:1].upper()}{how[1:]}"


def parse_action(reply: str, stop: Sequence[str] = DEFAULT_STOP) -> tuple[str, dict[str, Any]] | str:
    """``(tool name, arguments)`` from a raw reply, or an error message (never evaluates code).

    The reply is judged by its first complete action: it is cut at the first of ``stop`` (a model
    that writes on invents the tool's "Observation: ..."), and the input is the first JSON value
    after ``with Action Input:`` - the lines after it are ignored. The message of a reply without
    a call says what is missing or which JSON error was found where."""
    text = cut_at_stop(reply or "", stop).strip()
    for tok in _EOS:
        if text.endswith(tok):
            text = text[: -len(tok)].rstrip()
    rest = after_last_action(text)  # after the last "Action:" (the original: re.split(...)[-1])
    if rest is None:
        return _format_error('the reply has no "Action:"')
    call = rest.strip()
    m = _WITH_INPUT.search(call)
    if not m:
        return _format_error('"with Action Input:" does not follow the tool name')
    name = call[: m.start()].strip().strip("`").strip()
    raw = call[m.end() :].strip().strip("`").strip()
    if not name:
        return FORMAT_ERROR
    if not _IDENTIFIER.fullmatch(name):
        shown = name if len(name) <= 60 else name[:60] + "..."
        return _format_error(f"the tool name {shown!r} is not a name (letters, digits and _ only)")
    if len(raw) > MAX_INPUT_CHARS:
        return f"The action input is too long ({len(raw)} characters; at most {MAX_INPUT_CHARS})."
    args = parse_input(raw, first=True)
    if isinstance(args, str):
        return args
    return name, args


def parse_input(raw: str, *, first: bool = False) -> dict[str, Any] | str:
    """A JSON object (or a Python dict literal); anything else is an error message.

    ``first``: the object may be followed by more lines (the rest of a model's reply), which are
    ignored; otherwise ``raw`` must be the object and nothing else. Text after the object on its
    own line is an error either way (``{"a": 1}; __import__("os")`` is not a call)."""
    if raw in ("", "{}", "None", "null"):
        return {}
    try:
        if first:
            value, end = _JSON.raw_decode(raw)
            rest = raw[end:].lstrip(" \t")
            if rest and rest[0] not in "\r\n":  # the model's next lines are not the input; this is
                shown = rest if len(rest) <= 40 else rest[:40] + "..."
                return (
                    f"The action input has text after its JSON object on the same line ({shown!r}): "
                    'write only the JSON object after "Action Input:".'
                )
        else:
            value = json.loads(raw)
    except (ValueError, RecursionError) as json_error:
        try:
            value = ast.literal_eval(raw)  # literals only: calls and names are rejected
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            where = (
                f" ({json_error.msg} at character {json_error.pos + 1})"
                if isinstance(json_error, json.JSONDecodeError)
                else ""
            )
            return (
                f"The action input is not a valid JSON object{where}: write the arguments as "
                '{"name": value, ...}, with strings in double quotes.'
            )
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return 'The action input must be a JSON object of named arguments, such as {"name": value}.'
    return value


def render(value: Any) -> str:
    """A tool's output as observation text (JSON for structures, cut to `MAX_OUTPUT_CHARS`)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f" ... [cut: {len(text) - MAX_OUTPUT_CHARS} more characters]"
    return text


def action_text(name: str, args: dict[str, Any]) -> str:
    return f"{name} with Action Input: {json.dumps(args, ensure_ascii=False)}"


# -------------------------------------------------------------------------------------- answers
def _norm_text(value: Any) -> str:
    text = " ".join(str(value).strip().casefold().split())
    return text.rstrip(".").strip().strip("\"'").strip()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):
        parsed = parse_input('{"v": ' + value + "}")
        if isinstance(parsed, dict) and isinstance(parsed.get("v"), list):
            return parsed["v"]
    return None


def answers_match(expected: Any, given: Any) -> bool:
    """Whether ``given`` is the expected answer.

    Numbers match within 0.01 (absolute) or 0.1 % (relative); text case- and space-insensitively
    (a trailing full stop ignored); lists as multisets of matching items, in any order (a list may
    also be given as a comma-separated string).
    """
    if isinstance(expected, (list, tuple)):
        items = _as_list(given)
        if items is None and isinstance(given, str):
            items = [p for p in given.split(",") if p.strip()]
        if items is None or len(items) != len(expected):
            return False
        left = list(items)
        for e in expected:
            hit = next((i for i, g in enumerate(left) if answers_match(e, g)), None)
            if hit is None:
                return False
            left.pop(hit)
        return True
    n_exp, n_giv = _number(expected), _number(given)
    if n_exp is not None:
        if n_giv is None:
            return False
        return abs(n_exp - n_giv) <= max(0.01, 1e-3 * abs(n_exp))
    return _norm_text(expected) == _norm_text(given)


# ---------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Call:
    """One tool call of an expert plan, with the thought the expert states before it."""

    name: str
    args: dict[str, Any]
    thought: str = ""

    def key(self) -> str:
        return self.name + json.dumps(self.args, sort_keys=True)


@dataclass(frozen=True)
class ToolTask:
    """One task: the goal shown to the agent, its answer (None: any answer) and the expert's calls.

    ``config`` is the task's init_config (``current_date``, ``current_location``) plus whatever the
    backend needs to rebuild the task's data (a world seed). The state-checking envs (Todo,
    Sheet) get the expected final state by running ``calls`` on a fresh copy of that data.
    ``kind`` names the template the task came from.
    """

    goal: str
    answer: Any
    calls: tuple[Call, ...]
    config: dict[str, Any] = field(default_factory=dict)
    kind: str = ""


def first_observation(goal: str) -> str:
    return f"A new trial starts now.\nYour goal: {goal}\nGive me one action."


def observation(text: str) -> str:
    return f"Observation: {text}\nGive me one action."


# ------------------------------------------------------------------------------------------ env
class ToolEnv(Env):
    """Base class of the five tool envs (action format ``raw``: the env parses the reply itself)."""

    toolbox_cls: ClassVar[type[Toolbox]]

    def __init__(self, max_rounds: int | None = None) -> None:
        super().__init__(max_rounds)
        self.task: ToolTask | None = None
        self.box: Toolbox | None = None
        self._done_calls: set[str] = set()

    # the two hooks a subclass provides
    def task_list(self) -> Sequence[ToolTask]:
        raise NotImplementedError

    def make_toolbox(self, task: ToolTask) -> Toolbox:
        raise NotImplementedError

    def state_score(self) -> float:
        """How well the final backend state matches ``task.expected`` (1.0 for query-only envs)."""
        return 1.0

    def final_reward(self, answer_ok: bool) -> float:
        """The reward of ``finish`` (the original: answer match; Todo/Sheet also check the state)."""
        return 1.0 if answer_ok and self.state_score() >= 1.0 else 0.0

    # ------------------------------------------------------------------ episode
    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        if self.box is not None:
            self.box.close()
        self.task = self.task_list()[task_id]
        self.box = self.make_toolbox(self.task)
        self._done_calls = set()
        return first_observation(self.task.goal), {"goal": self.task.goal, "kind": self.task.kind}

    def _step(self, action: str) -> StepResult:
        assert self.task is not None and self.box is not None
        parsed = parse_action(action)
        if isinstance(parsed, str):
            return invalid(observation(parsed))
        name, args = parsed
        if name == "finish":
            return self._finish(args)
        try:
            out = self.box.call(name, args)
        except KeyError:
            names = ", ".join([*self.box.catalog(), "finish"])
            shown = name if len(name) <= 80 else name[:80] + "..."  # the reply may be 16 KB of name
            return invalid(observation(f'There is no tool called "{shown}". The tools are: {names}.'))
        except TypeError as e:
            return invalid(observation(f"Wrong arguments for {name}: {e}"))
        except ToolError as e:
            return StepResult(observation(f"Error: {e}"), 0.0, False, False, {"tool_error": True})
        self._done_calls.add(Call(name, args).key())
        return StepResult(observation(render(out)), 0.0, False, False, {})

    def _finish(self, args: dict[str, Any]) -> StepResult:
        assert self.task is not None
        given = args.get("answer")
        answer_ok = self.task.answer is None or answers_match(self.task.answer, given)
        reward = self.final_reward(answer_ok)
        text = f"Observation: Finished with the answer: {render(given)}. The episode is over."
        return StepResult(text, reward, True, False, {"success": reward >= 1.0, "answer": given})

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None

    def random_action(self, rng: random.Random) -> str:
        """A random tool (or finish) with arguments drawn from the values this task's tools take.

        The arguments come from the task's planned calls by parameter name (so calls are often
        well-formed, as a weak model's would be); finish never receives the true answer.
        """
        assert self.task is not None, "reset first"
        pool: dict[str, list[Any]] = {}
        for call in self.task.calls:
            for k, v in call.args.items():
                pool.setdefault(k, []).append(v)
        catalog = self.toolbox_cls.catalog()
        name = rng.choice([*catalog, "finish"])
        if name == "finish":
            return action_text(name, {"answer": "I do not know"})
        info = catalog[name]
        args = {p: rng.choice(pool.get(p) or [""]) for p in info.params if p not in info.optional}
        return action_text(name, args)

    # ------------------------------------------------------------------ expert
    def expert_reply(self) -> str:
        """The first planned call not yet made successfully, else ``finish`` with the answer."""
        assert self.task is not None, "reset first"
        for call in self.task.calls:
            if call.key() not in self._done_calls:
                return format_reply(call.thought or f"I call {call.name}.", action_text(call.name, call.args))
        args: dict[str, Any] = {} if self.task.answer is None else {"answer": self.task.answer}
        thought = (
            "I have everything I need, so I finish."
            if self.task.answer is None
            else (f"The answer is {render(self.task.answer)}.")
        )
        return format_reply(thought, action_text("finish", args))


def catalog_text(box: type[Toolbox]) -> str:
    """The tool catalog of an instruction ("Name/Description/Returns" per tool, then finish)."""
    lines = []
    for info in box.catalog().values():
        lines.append(
            f"- {info.signature()}: {info.description}"
            + (f" Returns {info.returns}." if info.returns else "")
        )
    return "\n".join(lines)


def split_ids(n_test: int, n_train: int) -> dict[str, list[int]]:
    """Test ids first (0..n_test-1), then train: disjoint by construction."""
    return {"test": list(range(n_test)), "train": list(range(n_test, n_test + n_train))}


def unique_tasks(
    make: Callable[[int], ToolTask | None],
    n: int,
    n_test: int = 0,
    key: Callable[[ToolTask], str] = lambda t: t.goal,
    max_tries: int = 50,
) -> list[ToolTask]:
    """``n`` distinct tasks (by ``key``, default the goal) from ``make(attempt)`` (None = skip).

    The first ``n_test`` (the test split) also have distinct goals, and no later (train) task
    reuses a test goal, even where ``key`` lets a goal recur with other data.
    """
    out: list[ToolTask] = []
    seen: set[str] = set()
    test_goals: set[str] = set()
    attempt = 0
    while len(out) < n:
        if attempt > n * max_tries:
            raise RuntimeError(f"could only generate {len(out)} of {n} distinct tasks")
        task = make(attempt)
        attempt += 1
        if task is None or key(task) in seen or task.goal in test_goals:
            continue
        seen.add(key(task))
        if len(out) < n_test:
            test_goals.add(task.goal)
        out.append(task)
    return out


def instruction_text(intro: str, box: type[Toolbox], rules: str, example: str) -> str:
    """The first human turn of a tool env: what the agent is, the tool catalog, the rules, an example."""
    return (
        f"{intro}\n\nThe tools you can use:\n{catalog_text(box)}\n"
        "- finish(answer): End the task and give your final answer (for a task that asks you to change "
        "something, finish once it is done).\n\n"
        "How to answer: every reply has a thought and exactly one action, in this form:\n"
        "Thought: <your reasoning>\n"
        "Action: <tool name> with Action Input: <JSON object with the arguments>\n"
        'Arguments are named, for example {"name": "Paris"}; a tool without arguments takes {}.\n'
        f"{rules}\n\nAn example:\n{example}"
    )
