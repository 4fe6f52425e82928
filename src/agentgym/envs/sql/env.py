"""`BirdEnv`: answer a question about a SQLite database with one SQL query (BIRD / SQLGym).

* observation: the schema + the question (+ evidence), see `agentgym.envs.sql.prompt`;
* action: one SQL query (the runner cuts it from the reply's last ```sql block; a raw reply with
  such a block is accepted too); single turn, done after one step;
* reward 1 iff the query's result rows equal the gold query's as *sets* (the original's rule),
  else 0; an SQL error or a rejected statement is an ``Error: ...`` observation with reward 0;
* queries run through `agentgym.envs.sql.executor` (read-only, time/row/size limits);
* data: our generated databases and questions (default), or BIRD itself via ``$BIRD_PATH``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvSpec, StepResult
from agentgym.envs.sql import expert, prompt
from agentgym.envs.sql.executor import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_MS, SQLError, execute, format_rows
from agentgym.envs.sql.original import PATH_ENV_VAR
from agentgym.envs.sql.questions import Question, generated_splits
from agentgym.envs.sql.world import World, get_world

VERSION = "1"
_BLOCK = re.compile(r"```sql\s*(.*?)```", re.IGNORECASE | re.DOTALL)


def _spec(splits: dict[str, list[int]], description: str) -> EnvSpec:
    return EnvSpec(
        id="bird",
        version=VERSION,
        max_rounds=1,
        metric="success",
        action_format="sql_block",
        ack="Ok.",
        splits=splits,
        description=description,
        blocking=True,  # a query may run up to its time limit: keep it off the server's event loop
    )


def _class_spec() -> EnvSpec:
    import os

    path = os.environ.get(PATH_ENV_VAR)
    if path:
        return _spec(get_world(bird_path=path).splits, f"BIRD from {path}")
    return _spec(generated_splits(), "Text-to-SQL on Chinook, TPC-H, school and hospital SQLite databases")


def extract_sql(action: str) -> str:
    """The SQL of an action: the last ```sql block if there is one, else the text itself."""
    blocks = _BLOCK.findall(action)
    return (blocks[-1] if blocks else action).strip()


class BirdEnv(Env):
    spec = _class_spec()

    def __init__(
        self,
        max_rounds: int | None = None,
        bird_path: str | None = None,
        cache_dir: str | None = None,
        schema_style: str = "nl",
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        import os

        super().__init__(max_rounds)
        if schema_style not in ("nl", "sql"):
            raise ValueError(f"schema_style must be 'nl' or 'sql', not {schema_style!r}")
        self.bird_path = bird_path or os.environ.get(PATH_ENV_VAR) or None
        self.world: World = get_world(self.bird_path, cache_dir)
        if self.world.splits != type(self).spec.splits:
            self.spec = _spec(self.world.splits, f"BIRD from {self.world.source}")  # type: ignore[misc]
        self.schema_style = schema_style
        self.timeout_ms = timeout_ms
        self.max_rows = max_rows
        self.question: Question | None = None

    def is_valid_task(self, task_id: int) -> bool:
        """Membership in the world's shared id set (the base class would build one per session)."""
        return isinstance(task_id, int) and task_id in self.world.valid_ids

    def instruction(self) -> str:
        return prompt.INSTRUCTION

    def available_actions(self) -> list[str] | None:
        return None

    def random_action(self, rng: random.Random) -> str:
        assert self.question is not None, "reset first"
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
        gold = self.world.gold_rows(self.task_id)
        info = {**self._info(), "ground_truth": self.question.sql}
        try:
            res = execute(
                self.world.db_path(self.task_id),
                sql,
                timeout_ms=self.timeout_ms,
                max_rows=max(self.max_rows, len(gold)),
            )
        except SQLError as e:
            return StepResult(f"Error: {e}", 0.0, True, False, {**info, "sql_error": str(e)})
        reward = 1.0 if frozenset(res.rows) == gold else 0.0
        return StepResult(
            format_rows(res.rows), reward, True, False, {**info, "elapsed_ms": round(res.elapsed_ms, 3)}
        )
