"""BIRD expert: the gold SQL itself, with a short thought (as the original's rationalized gold
trajectories). It solves every question by construction, which the tests verify by execution."""

from __future__ import annotations

from agentgym.envs.sql.questions import Question

_THOUGHT = {
    "simple": "The answer comes from one table with a filter.",
    "moderate": "I need to join the related tables and filter or aggregate.",
    "challenging": "This needs a subquery or a comparison against an aggregate.",
}


def expert_reply(q: Question) -> str:
    thought = _THOUGHT.get(q.difficulty, "I will query the tables that hold the answer.")
    sql = q.sql.strip().rstrip(";")
    return f"Thought: {thought}\nAction:\n```sql\n{sql};\n```"
