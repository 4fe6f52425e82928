"""The random baseline: a uniformly random valid action each turn, reproducibly.

Each reply draws from a seed derived from (agent seed, env, task, sample, round), so the same run
gives the same episodes, samples of one item differ (pass@k), and nothing touches the global
``random`` module or the env's own RNG. The action is wrapped in the env's reply format so the
runner's parser accepts it like a model reply.
"""

from __future__ import annotations

from typing import Any

from agentgym.agents.base import Agent, AgentError, AgentReply, EpisodeContext
from agentgym.core.seeding import derive_seed
from agentgym.core.types import ActionFormat


def wrap_action(action: str, fmt: ActionFormat) -> str:
    """A reply carrying ``action`` that `agentgym.core.react.parse_reply` cuts out again for ``fmt``."""
    thought = "Thought: I pick an action at random."
    if fmt == "sql_block":
        return f"{thought}\nAction:\n```sql\n{action}\n```"
    return f"{thought}\nAction: {action}"


class RandomAgent(Agent):
    """Replies with ``ctx.session.random_action(seed)`` in the env's action format."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        if ctx.session is None:
            raise AgentError("the random agent needs the env session (EpisodeContext.session is None)")
        seed = derive_seed("random-agent", self.seed, ctx.env_id, ctx.task_id, ctx.sample, ctx.round)
        try:
            action = await ctx.session.random_action(seed)
        except NotImplementedError as e:
            raise AgentError(f"{ctx.env_id} cannot draw random actions: {e}") from e
        return AgentReply(wrap_action(action, ctx.spec.action_format))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed}
