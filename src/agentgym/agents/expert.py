"""The expert agent: replays the env's own solver, one reply per turn.

The expert reads privileged env state, so it asks the *session* (``ctx.session.expert_reply()``)
rather than the messages. That works unchanged in-process and over HTTP, which is why AgentTraj
collection and the rollout benchmarks can use it against any env server.
"""

from __future__ import annotations

from typing import Any

from agentgym.agents.base import Agent, AgentError, AgentReply, EpisodeContext
from agentgym.core.errors import NoExpert


class ExpertAgent(Agent):
    """Answers each turn with the env's expert reply (``Thought: ...\\nAction: ...``)."""

    name = "expert"

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        if ctx.session is None:
            raise AgentError("the expert agent needs the env session (EpisodeContext.session is None)")
        try:
            text = await ctx.session.expert_reply()
        except NoExpert as e:
            raise AgentError(f"{ctx.env_id} has no expert solver: {e}") from e
        return AgentReply(text)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}
