"""The client interface: how runners and tools talk to envs, in-process or over HTTP.

A *client* knows where envs live and opens *sessions*; a session is one env instance that plays
one episode at a time. `LocalClient` / `AsyncLocalClient` run envs in this process;
`EnvClient` / `AsyncEnvClient` (`agentgym.client.http`) talk to ``agentgym serve``. Code written
against these interfaces runs unchanged with or without servers::

    with client.session("maze") as s:
        obs = s.reset(3)
        res = s.step("move up")
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from agentgym.core.types import EnvSpec, Observation, StepResult


class Session(ABC):
    """One env instance (synchronous)."""

    env_id: str
    session_id: str

    @abstractmethod
    def reset(self, task_id: int, seed: int | None = None) -> Observation: ...
    @abstractmethod
    def step(self, action: str) -> StepResult: ...
    @abstractmethod
    def observation(self) -> str: ...
    @abstractmethod
    def available_actions(self) -> list[str] | None: ...
    @abstractmethod
    def instruction(self) -> str: ...
    @abstractmethod
    def expert_reply(self) -> str: ...
    @abstractmethod
    def random_action(self, seed: int) -> str: ...
    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSession(ABC):
    """One env instance (asyncio)."""

    env_id: str
    session_id: str

    @abstractmethod
    async def reset(self, task_id: int, seed: int | None = None) -> Observation: ...
    @abstractmethod
    async def step(self, action: str) -> StepResult: ...
    @abstractmethod
    async def observation(self) -> str: ...
    @abstractmethod
    async def available_actions(self) -> list[str] | None: ...
    @abstractmethod
    async def instruction(self) -> str: ...
    @abstractmethod
    async def expert_reply(self) -> str: ...
    @abstractmethod
    async def random_action(self, seed: int) -> str: ...
    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client(ABC):
    """Opens synchronous sessions."""

    @abstractmethod
    def list_envs(self) -> list[str]: ...
    @abstractmethod
    def spec(self, env_id: str) -> EnvSpec: ...
    @abstractmethod
    def session(self, env_id: str, **env_kwargs: object) -> Session: ...
    def close(self) -> None:
        """Release connections (no-op in-process)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(ABC):
    """Opens asyncio sessions."""

    @abstractmethod
    async def list_envs(self) -> list[str]: ...
    @abstractmethod
    async def spec(self, env_id: str) -> EnvSpec: ...
    @abstractmethod
    async def session(self, env_id: str, **env_kwargs: object) -> AsyncSession: ...
    async def aclose(self) -> None:
        """Release connections (no-op in-process)."""

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
