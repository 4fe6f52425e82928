"""In-process clients: the same interface as the HTTP clients, with no server.

`AsyncLocalClient` runs blocking envs (``spec.blocking``: JVM, TextWorld) in worker threads so the
event loop - and the model batching on it - never stalls; light envs are stepped inline, which is
faster than a thread hop.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.core.env import Env
from agentgym.core.registry import env_class, list_envs, make
from agentgym.core.types import EnvSpec, Observation, StepResult

_ids = itertools.count(1)


class LocalSession(Session):
    def __init__(self, env: Env) -> None:
        self.env = env
        self.env_id = env.spec.id
        self.session_id = f"local-{next(_ids)}"

    def reset(self, task_id: int, seed: int | None = None) -> Observation:
        return self.env.reset(task_id, seed)

    def step(self, action: str) -> StepResult:
        return self.env.step(action)

    def observation(self) -> str:
        return self.env.observation()

    def available_actions(self) -> list[str] | None:
        return self.env.available_actions()

    def instruction(self) -> str:
        return self.env.instruction()

    def expert_reply(self) -> str:
        return self.env.expert_reply()

    def random_action(self, seed: int) -> str:
        return self.env.random_action(random.Random(seed))

    def close(self) -> None:
        self.env.close()


class LocalClient(Client):
    """Creates envs in this process via the registry."""

    def list_envs(self) -> list[str]:
        return list_envs()

    def spec(self, env_id: str) -> EnvSpec:
        return env_class(env_id).spec

    def session(self, env_id: str, **env_kwargs: Any) -> LocalSession:
        return LocalSession(make(env_id, **env_kwargs))


class AsyncLocalSession(AsyncSession):
    def __init__(self, env: Env, threaded: bool) -> None:
        self.env = env
        self.env_id = env.spec.id
        self.session_id = f"local-{next(_ids)}"
        self._threaded = threaded

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args) if self._threaded else fn(*args)

    async def reset(self, task_id: int, seed: int | None = None) -> Observation:
        return await self._call(self.env.reset, task_id, seed)

    async def step(self, action: str) -> StepResult:
        return await self._call(self.env.step, action)

    async def observation(self) -> str:
        return self.env.observation()

    async def available_actions(self) -> list[str] | None:
        return await self._call(self.env.available_actions)

    async def instruction(self) -> str:
        return self.env.instruction()

    async def expert_reply(self) -> str:
        return await self._call(self.env.expert_reply)

    async def random_action(self, seed: int) -> str:
        return await self._call(self.env.random_action, random.Random(seed))

    async def close(self) -> None:
        await self._call(self.env.close)


class AsyncLocalClient(AsyncClient):
    """Asyncio in-process client; ``threaded=None`` follows each env's ``spec.blocking``."""

    def __init__(self, threaded: bool | None = None) -> None:
        self.threaded = threaded

    async def list_envs(self) -> list[str]:
        return list_envs()

    async def spec(self, env_id: str) -> EnvSpec:
        return env_class(env_id).spec

    async def session(self, env_id: str, **env_kwargs: Any) -> AsyncLocalSession:
        cls = env_class(env_id)
        threaded = cls.spec.blocking if self.threaded is None else self.threaded
        env = await asyncio.to_thread(cls, **env_kwargs) if threaded else cls(**env_kwargs)
        return AsyncLocalSession(env, threaded)
