"""The agent interface: turn an episode's chat history into the next reply.

Every backend (OpenAI-compatible endpoint, local transformers model, vLLM, expert, random) implements
`Agent.reply`. The runner calls it concurrently from many episodes; backends that can batch (HF,
vLLM) coalesce the pending calls into one forward pass, endpoints get concurrent requests.

``messages`` are chat messages (``{"role": "user"|"assistant", "content": str}``) built from the
conversation in the trajectory format (instruction, ack, observation/reply turns).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentgym.client.base import AsyncSession
    from agentgym.core.types import EnvSpec


class ContextOverflow(Exception):
    """The prompt no longer fits the model's context: the runner stops with ``stop: "context"``."""


class AgentError(Exception):
    """The backend failed for good (after its retries): the episode stops with ``stop: "error"``."""


@dataclass
class EpisodeContext:
    """What an agent may know about the episode besides the messages.

    ``session`` is the env session (the expert agent asks it for the privileged expert reply; LLM
    agents never touch it). ``sample`` distinguishes the k samples of one item (pass@k) so that
    seeded sampling differs between them.
    """

    env_id: str
    task_id: int
    spec: EnvSpec
    session: AsyncSession | None = None
    sample: int = 0
    round: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentReply:
    """A model's reply and its token counts (0 where the backend does not report them)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Agent(ABC):
    """Base class of all agents. Subclasses implement `reply`; `describe` goes into trajectories."""

    name: str = "agent"

    @abstractmethod
    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        """The next reply; raise `ContextOverflow` or `AgentError` to end the episode."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able description recorded in every trajectory (``agent`` field)."""
        return {"name": self.name}

    async def aclose(self) -> None:
        """Release connections / models."""
