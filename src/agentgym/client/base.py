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
    """One env instance (synchronous).

    An implementation forwards each call to its env (`agentgym.core.env.Env`) and must keep the
    env's contract unchanged - same results, same exception classes (`agentgym.core.errors`) - so
    that a runner cannot tell an in-process session from a remote one. `AsyncSession` is the same
    interface with coroutines.
    """

    env_id: str
    """The registry id of the env this session runs (``"maze"``)."""
    session_id: str
    """Unique among this client's open sessions (the server's id for a remote one)."""

    @abstractmethod
    def reset(self, task_id: int, seed: int | None = None) -> Observation:
        """Start the episode of ``task_id`` (a global id from the env's splits) and return its
        first observation; the same task + seed gives the same episode. Raises `UnknownTask`
        for an id outside every split."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply one action. An invalid action is an observation (``info["invalid_action"]``),
        not an exception; `NotReset` before `reset`, `EpisodeOver` after the episode ended."""

    @abstractmethod
    def observation(self) -> str:
        """The latest observation text, what `reset` or the last `step` returned (`NotReset`
        before the first reset). Lets a caller that lost a reply pick up where it was."""

    @abstractmethod
    def available_actions(self) -> list[str] | None:
        """The valid actions in the current state, or None for envs that cannot enumerate them."""

    @abstractmethod
    def instruction(self) -> str:
        """The env's task prompt (the first human turn of a conversation)."""

    @abstractmethod
    def expert_reply(self) -> str:
        """The expert's next full reply (``"Thought: ...\nAction: ..."``) from privileged state:
        the answer key, used for demonstrations and checks. `NoExpert` when the env has none;
        `ExpertDisabled` from a server that does not expose it."""

    @abstractmethod
    def random_action(self, seed: int) -> str:
        """A uniformly random action (the random baseline), drawn from ``random.Random(seed)``:
        the caller's seed, so drawing never disturbs the episode's own RNG. An env that cannot
        draw one raises `NotImplementedError` in-process; a server answers `NotSupported`."""

    @abstractmethod
    def close(self) -> None:
        """End the session and release its env (a remote one is deleted on the server; one
        the server already reaped counts as closed). The session is not usable afterwards."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSession(ABC):
    """One env instance (asyncio): `Session`'s interface and contract, each call a coroutine.

    An implementation must not block the event loop (model batching runs on it): blocking envs
    are stepped in a worker thread (see `agentgym.client.local`).
    """

    env_id: str
    """The registry id of the env this session runs."""
    session_id: str
    """Unique among this client's open sessions (the server's id for a remote one)."""

    @abstractmethod
    async def reset(self, task_id: int, seed: int | None = None) -> Observation:
        """Start the episode of ``task_id``; see `Session.reset`."""

    @abstractmethod
    async def step(self, action: str) -> StepResult:
        """Apply one action; see `Session.step`."""

    @abstractmethod
    async def observation(self) -> str:
        """The latest observation text; see `Session.observation`."""

    @abstractmethod
    async def available_actions(self) -> list[str] | None:
        """The valid actions now, or None; see `Session.available_actions`."""

    @abstractmethod
    async def instruction(self) -> str:
        """The env's task prompt; see `Session.instruction`."""

    @abstractmethod
    async def expert_reply(self) -> str:
        """The expert's next reply; see `Session.expert_reply`."""

    @abstractmethod
    async def random_action(self, seed: int) -> str:
        """A random action from the caller's seed; see `Session.random_action`."""

    @abstractmethod
    async def close(self) -> None:
        """End the session; see `Session.close`."""

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Client(ABC):
    """Opens synchronous sessions: knows which envs exist and where they run."""

    @abstractmethod
    def list_envs(self) -> list[str]:
        """The env ids this client can open sessions of, sorted: those its servers host, or
        (in-process) every registered env - one whose engine is missing fails at `session`."""

    @abstractmethod
    def spec(self, env_id: str) -> EnvSpec:
        """The `EnvSpec` of ``env_id`` (splits, max_rounds, metric, action format); `UnknownEnv`
        if this client cannot run it. Callers plan episodes from it without opening a session."""

    @abstractmethod
    def session(self, env_id: str, **env_kwargs: object) -> Session:
        """A new session of ``env_id``; ``env_kwargs`` go to the env's constructor (remotely:
        validated against its options, `BadEnvArgs` if rejected). `UnknownEnv` for an env this
        client cannot run; a remote one may raise `AtCapacity` after its retries."""

    def close(self) -> None:
        """Release connections (no-op in-process)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(ABC):
    """Opens asyncio sessions: `Client`'s interface and contract, each call a coroutine."""

    @abstractmethod
    async def list_envs(self) -> list[str]:
        """The env ids this client can open sessions of; see `Client.list_envs`."""

    @abstractmethod
    async def spec(self, env_id: str) -> EnvSpec:
        """The `EnvSpec` of ``env_id``; see `Client.spec`."""

    @abstractmethod
    async def session(self, env_id: str, **env_kwargs: object) -> AsyncSession:
        """A new session of ``env_id``; see `Client.session`."""

    async def aclose(self) -> None:
        """Release connections (no-op in-process)."""

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
