"""`BirdEnv`: answer a question about a SQLite database with one SQL query (BIRD / SQLGym).

* observation: the schema + the question (+ evidence), see `agentgym.envs.sql.prompt`;
* action: one SQL query (the runner cuts it from the reply's last ```sql block; a raw reply with
  such a block is accepted too); single turn, done after one step;
* reward 1 iff the query's result rows equal the gold query's as *sets* (the original's rule),
  else 0; an SQL error or a rejected statement is an ``Error: ...`` observation with reward 0;
* queries run through `agentgym.envs.sql.executor`: read-only, in a sandbox worker process that is
  killed at the time limit, with row, size and memory limits;
* a remote client may set only `BirdOptions` (the schema style); paths, caches and the time limit
  are server settings read from the environment;
* data: our generated databases and questions (default), or BIRD itself via ``$BIRD_PATH``.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any, Literal

from pydantic import Field

from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvOptions, EnvSpec, StepResult
from agentgym.envs.sql import expert, prompt
from agentgym.envs.sql.executor import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_MS,
    MAX_RESULT_BYTES,
    MAX_ROWS,
    MAX_TIMEOUT_MS,
    SQLError,
    execute,
    format_rows,
)
from agentgym.envs.sql.original import PATH_ENV_VAR
from agentgym.envs.sql.questions import Question, generated_splits
from agentgym.envs.sql.world import World, get_world

VERSION = "1"
MAX_ACTION_CHARS = 8192
"""Longest action (SQL) bird parses: BIRD's longest gold query is ~1.5k characters."""
TIMEOUT_ENV_VAR = "AGENTGYM_SQL_TIMEOUT_MS"
"""Server setting: the time limit of a model's query (default 2000 ms, at most `MAX_TIMEOUT_MS`)."""
SCHEMA_STYLES = ("nl", "sql")

log = logging.getLogger("agentgym.envs.sql")


class BirdOptions(EnvOptions):
    """What a remote client may set for a bird session: only how the schema is written.

    The database folder (``$BIRD_PATH``), the cache folder (``$AGENTGYM_BIRD_CACHE`` /
    ``$AGENTGYM_CACHE``) and the query time limit (``$AGENTGYM_SQL_TIMEOUT_MS``) are server settings:
    a client choosing them could read or write where it likes, probe which files exist, or lift
    the time limit that keeps one session from starving the others."""

    schema_style: Literal["nl", "sql"] = Field(
        "nl", description="The schema in the observation: 'nl' (sentences) or 'sql' (CREATE TABLE)."
    )


def sql_timeout_ms() -> int:
    """The server's query time limit: ``$AGENTGYM_SQL_TIMEOUT_MS`` clamped to 1..`MAX_TIMEOUT_MS`
    (a bad value is logged and replaced, so a typo cannot take every bird session down)."""
    raw = os.environ.get(TIMEOUT_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_MS
    try:
        value = int(raw)
    except ValueError:
        log.warning("$%s=%r is not an int; using %d ms", TIMEOUT_ENV_VAR, raw, DEFAULT_TIMEOUT_MS)
        return DEFAULT_TIMEOUT_MS
    clamped = min(max(value, 1), MAX_TIMEOUT_MS)
    if clamped != value:
        log.warning("$%s=%d is outside 1..%d; using %d ms", TIMEOUT_ENV_VAR, value, MAX_TIMEOUT_MS, clamped)
    return clamped


def _spec(splits: dict[str, list[int]], description: str) -> EnvSpec:
    return EnvSpec(
        id="bird",
        version=VERSION,
        max_rounds=1,
        metric="success",
        action_format="sql_block",
        stop=["\nObservation:", "\nQuestion:"],  # a model that writes on invents the next question
        ack="Ok.",
        splits=splits,
        description=description,
        # A query may run up to its time limit, and the first session builds the databases (~15-45 s):
        # the server creates, steps and closes bird sessions in worker threads, never on its event loop.
        blocking=True,
        max_action_chars=MAX_ACTION_CHARS,
    )


def _class_spec() -> EnvSpec:
    path = os.environ.get(PATH_ENV_VAR)
    if path:
        return _spec(get_world(bird_path=path).splits, f"BIRD from {path}")
    return _spec(generated_splits(), "Text-to-SQL on Chinook, TPC-H, school and hospital SQLite databases")


def extract_sql(action: str) -> str:
    r"""The SQL of an action: the body of the last ```sql block if there is one, else the text itself.

    The same blocks as ``re.findall(r"```sql\s*(.*?)```", action, re.I | re.S)`` (scanned left to
    right, each block closed by the next ```; "sql" matched ASCII case-insensitively), found with
    ``str.find`` in linear time: that regex
    is quadratic on an opener followed by a long run of whitespace (32,000 spaces took 9 s)."""
    last: str | None = None
    pos = 0
    while (i := action.find("```", pos)) >= 0:
        if action[i + 3 : i + 6].lower() != "sql":
            pos = i + 1  # "````sql": the opener may start one backtick later
            continue
        close = action.find("```", i + 6)
        if close < 0:
            break  # an unclosed opener; any later opener would have closed it, so none follows
        last = action[i + 6 : close]
        pos = close + 3
    return (action if last is None else last).strip()


class BirdEnv(Env):
    """Text-to-SQL: one query per episode, reward 1 iff its rows equal the gold query's as sets.

    ``bird_path``, ``cache_dir``, ``timeout_ms`` and ``max_rows`` are for in-process Python users
    (tests, scripts); a server never passes them - its clients may set only `BirdOptions`, and the
    server's own settings come from the environment (``$BIRD_PATH``, ``$AGENTGYM_BIRD_CACHE`` or
    ``$AGENTGYM_CACHE``, ``$AGENTGYM_SQL_TIMEOUT_MS``)."""

    spec = _class_spec()
    options = BirdOptions

    def __init__(
        self,
        max_rounds: int | None = None,
        bird_path: str | None = None,
        cache_dir: str | None = None,
        schema_style: str = "nl",
        timeout_ms: int | None = None,
        max_rows: int | None = None,
    ) -> None:
        super().__init__(max_rounds)
        if schema_style not in SCHEMA_STYLES:
            raise ValueError(f"schema_style must be 'nl' or 'sql', not {schema_style!r}")
        self.timeout_ms = (
            sql_timeout_ms() if timeout_ms is None else _int_in("timeout_ms", timeout_ms, MAX_TIMEOUT_MS)
        )
        self.max_rows = DEFAULT_MAX_ROWS if max_rows is None else _int_in("max_rows", max_rows, MAX_ROWS)
        self.bird_path = bird_path or os.environ.get(PATH_ENV_VAR) or None
        self.world: World = get_world(self.bird_path, cache_dir)
        if self.world.splits != type(self).spec.splits:
            self.spec = _spec(self.world.splits, f"BIRD from {self.world.source}")  # type: ignore[misc]
        self.schema_style = schema_style
        self.question: Question | None = None

    def is_valid_task(self, task_id: int) -> bool:
        """Membership in the world's shared id set (the base class would build one per session)."""
        return isinstance(task_id, int) and task_id in self.world.valid_ids

    def instruction(self) -> str:
        return prompt.INSTRUCTION

    def available_actions(self) -> list[str] | None:
        return None

    def random_action(self, rng: random.Random) -> str:
        assert self.question is not None and self.task_id is not None, "reset first"
        table = rng.choice(prompt.table_names(self.world.db_path(self.task_id)))
        return f'SELECT * FROM "{table}" LIMIT {rng.randint(1, 5)}'

    def expert_reply(self) -> str:
        assert self.question is not None, "reset first"
        return expert.expert_reply(self.question)

    def _info(self) -> dict[str, Any]:
        assert self.question is not None
        return {"db_id": self.question.db_id, "difficulty": self.question.difficulty}

    def _reset(self, task_id: int) -> tuple[str, dict[str, Any]]:
        q = self.question = self.world.questions[task_id]
        schema = prompt.schema_text(self.world.db_path(task_id), q.db_id, self.schema_style)
        return prompt.observation(schema, q.question, q.evidence), self._info()

    def _step(self, action: str) -> StepResult:
        assert self.question is not None and self.task_id is not None
        sql = extract_sql(action)
        if not sql:
            return invalid("Error: the action holds no SQL query.", **self._info())
        gold, gold_bytes = self.world.gold(self.task_id)
        info = {**self._info(), "ground_truth": self.question.sql}
        try:
            res = execute(  # in a sandbox worker, killed at the deadline (see executor)
                self.world.db_path(self.task_id),
                sql,
                timeout_ms=self.timeout_ms,
                max_rows=min(MAX_ROWS, max(self.max_rows, len(gold))),  # a right answer is never too long
                max_bytes=min(MAX_RESULT_BYTES, max(DEFAULT_MAX_RESULT_BYTES, 2 * gold_bytes)),
            )
        except SQLError as e:
            return StepResult(f"Error: {e}", 0.0, True, False, {**info, "sql_error": str(e)})
        reward = 1.0 if frozenset(res.rows) == gold else 0.0
        return StepResult(
            format_rows(res.rows), reward, True, False, {**info, "elapsed_ms": round(res.elapsed_ms, 3)}
        )


def _int_in(name: str, value: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise ValueError(f"{name} must be an int in 1..{hi:,}, got {value!r}")
    return value
