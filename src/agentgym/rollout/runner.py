"""The rollout runner: many agent-env episodes at once on one asyncio loop.

`run_episodes` plays every `EpisodeItem` (env, task id, sample) with an `Agent` against envs
opened through any `AsyncClient` (in-process or HTTP, where the HTTP client spreads sessions over a
pool of server URLs). ``concurrency`` episodes are in flight at once; while one waits for its model
reply or env step, the others proceed, so a batching backend sees many prompts together.

Each episode opens a fresh env session (closed at the end, also on errors) and records the
conversation in the AgentGym trajectory format (DESIGN §5)::

    human  instruction            loss None
    gpt    spec.ack ("OK. ...")   loss False
    human  first observation      loss None
    gpt    reply                  loss True     } repeated until done / round limit
    human  observation            loss None     }

The agent sees the same turns as chat messages (human -> user, gpt -> assistant). The action is cut
out of the reply with `agentgym.core.react.parse_reply`; a reply without a parsable action gets a
corrective human turn and counts as an invalid action (as do steps the env flags invalid).

An episode ends with ``stop``: ``done`` (the env terminated it), ``max_rounds`` (the round limit,
per env spec unless overridden), ``context`` (the agent raised `ContextOverflow` or the prompt
outgrew ``max_context_tokens``) or ``error`` (the agent raised, or the env / server failed: the
message is recorded and the other episodes go on). Episode reward is the last step's reward;
success is the last step's ``info["success"]``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from agentgym.agents.base import Agent, AgentError, ContextOverflow, EpisodeContext
from agentgym.client.base import AsyncClient, AsyncSession
from agentgym.core.react import parse_reply
from agentgym.core.types import EnvSpec, EpisodeItem, StopReason, Trajectory
from agentgym.data.trajfile import ROLE, to_messages
from agentgym.rollout.store import RunStore

__all__ = ["EpisodeItem", "Runner", "estimate_tokens", "run_episodes", "to_messages"]


def estimate_tokens(messages: Sequence[dict[str, str]]) -> int:
    """A tokenizer-free estimate (~4 characters per token plus a few per message header); used for
    ``max_context_tokens`` when the agent has no ``count_tokens(messages)`` of its own."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


class _Episode:
    """The state of one episode while it runs (kept together so errors keep the partial record)."""

    def __init__(self, item: EpisodeItem, spec: EnvSpec, agent: Agent) -> None:
        self.item = item
        self.spec = spec
        self.turns: list[dict[str, Any]] = []  # validated into `Turn`s once, at the end
        self.messages: list[dict[str, str]] = []
        self.reward = 0.0
        self.success = False
        self.rounds = 0
        self.invalid = 0
        self.env_s = 0.0
        self.model_s = 0.0
        self.stop: StopReason | None = None
        self.error: str | None = None
        self.agent_info = agent.describe()

    def add(self, who: str, value: str, loss: bool | None) -> None:
        self.turns.append({"from": who, "value": value, "loss": loss})
        self.messages.append({"role": ROLE[who], "content": value})

    def trajectory(self) -> Trajectory:
        return Trajectory.model_validate(
            {
                "item_id": self.item.item_id,
                "env": self.item.env,
                "task_id": self.item.task_id,
                "split": self.item.split,
                "seed": self.item.seed,
                "sample": self.item.sample,
                "conversations": self.turns,
                "reward": self.reward,
                "success": self.success,
                "rounds": self.rounds,
                "invalid_actions": self.invalid,
                "stop": self.stop,
                "error": self.error,
                "agent": self.agent_info,
                "env_version": self.spec.version,
                "timing": {"env_s": round(self.env_s, 6), "model_s": round(self.model_s, 6)},
            }
        )


def _describe(e: BaseException) -> str:
    msg = str(e).strip()
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


class Runner:
    """Plays episodes; `run_episodes` is the one-call form. Keeps one spec cache per client."""

    def __init__(
        self,
        agent: Agent,
        client: AsyncClient,
        *,
        max_rounds: int | dict[str, int] | None = None,
        max_context_tokens: int | None = None,
        env_kwargs: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.agent = agent
        self.client = client
        self.max_rounds = max_rounds
        self.max_context_tokens = max_context_tokens
        self.env_kwargs = env_kwargs or {}
        self._specs: dict[str, EnvSpec] = {}
        self._count_tokens: Callable[[list[dict[str, str]]], int] = getattr(
            agent, "count_tokens", estimate_tokens
        )

    async def spec(self, env_id: str) -> EnvSpec:
        if env_id not in self._specs:
            self._specs[env_id] = await self.client.spec(env_id)
        return self._specs[env_id]

    def rounds_for(self, spec: EnvSpec) -> tuple[int, bool]:
        """The round limit for ``spec`` and whether it differs from the spec's own."""
        limit = self.max_rounds.get(spec.id) if isinstance(self.max_rounds, dict) else self.max_rounds
        if limit is None:
            return spec.max_rounds, False
        if limit < 1:
            raise ValueError(f"max_rounds must be >= 1, got {limit} for {spec.id}")
        return int(limit), int(limit) != spec.max_rounds

    async def play(self, item: EpisodeItem) -> Trajectory:
        """One episode; never raises for env, server or agent failures (they become ``stop``)."""
        try:
            spec = await self.spec(item.env)
        except Exception as e:  # the server is down, does not host this env, or the env cannot load
            return Trajectory(
                item_id=item.item_id,
                env=item.env,
                task_id=item.task_id,
                split=item.split,
                seed=item.seed,
                sample=item.sample,
                stop="error",
                error=f"spec of {item.env!r}: {_describe(e)}",
                agent=self.agent.describe(),
            )
        ep = _Episode(item, spec, self.agent)
        session: AsyncSession | None = None
        try:
            limit, overridden = self.rounds_for(spec)
            kwargs = dict(self.env_kwargs.get(item.env, {}))
            if overridden:
                kwargs["max_rounds"] = limit
            t0 = time.perf_counter()
            session = await self.client.session(item.env, **kwargs)
            obs = await session.reset(item.task_id, item.seed)
            instruction = await session.instruction()  # after reset: it may name the task
            ep.env_s += time.perf_counter() - t0
            ep.add("human", instruction, None)
            ep.add("gpt", spec.ack, False)
            ep.add("human", obs.text, None)
            await self._loop(ep, session, limit)
        except ContextOverflow as e:
            ep.stop, ep.error = "context", _describe(e)
        except Exception as e:  # AgentError, HTTP/server failures, env crashes
            ep.stop, ep.error = "error", _describe(e)
        finally:
            if session is not None:
                try:  # bounded by the client's own timeouts; a dead server fails fast
                    await session.close()
                except Exception:  # the server may be gone; the episode is recorded either way
                    pass
        return ep.trajectory()

    async def _loop(self, ep: _Episode, session: AsyncSession, limit: int) -> None:
        ctx = EpisodeContext(
            env_id=ep.item.env, task_id=ep.item.task_id, spec=ep.spec, session=session, sample=ep.item.sample
        )
        for rnd in range(limit):
            if self.max_context_tokens is not None:
                need = self._count_tokens(ep.messages)
                if need > self.max_context_tokens:
                    raise ContextOverflow(
                        f"prompt of ~{need} tokens exceeds max_context_tokens={self.max_context_tokens}"
                    )
            ctx.round = rnd
            t0 = time.perf_counter()
            try:
                reply = await self.agent.reply(list(ep.messages), ctx)
            finally:
                ep.model_s += time.perf_counter() - t0
            if not isinstance(reply.text, str):
                raise AgentError(
                    f"{type(self.agent).__name__}.reply returned {type(reply.text).__name__}, not text"
                )
            ep.add("gpt", reply.text, True)
            ep.rounds += 1
            parsed = parse_reply(reply.text, ep.spec.action_format)
            if not parsed.ok:
                ep.invalid += 1
                ep.add("human", f"Invalid reply: {parsed.error}", None)
                continue
            t0 = time.perf_counter()
            try:
                res = await session.step(parsed.action or "")
            finally:
                ep.env_s += time.perf_counter() - t0
            ep.reward = float(res.reward)
            ep.success = bool(res.info.get("success", False))
            if res.info.get("invalid_action"):
                ep.invalid += 1
            ep.add("human", res.observation, None)
            if res.terminated:
                ep.stop = "done"
                return
            if res.truncated:
                ep.stop = "max_rounds"
                return
        ep.stop = "max_rounds"


class _GroupWriter:
    """Appends finished episodes to a `RunStore` off the event loop, with group commit.

    An episode waits until its line is fsync'ed (so what the runner reports is on disk), but
    episodes that finish while a sync is in flight share the next write + fsync, and the other
    episodes keep playing meanwhile: the disk's fsync rate no longer caps episodes per second.
    """

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.pending: list[tuple[Trajectory, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def add(self, traj: Trajectory) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((traj, fut))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        await fut

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self.store.add_many, [t for t, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch:
                    fut.cancel()
                raise
            except Exception as e:  # disk full, store closed: every waiter sees the failure
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)


async def run_episodes(
    items: Iterable[EpisodeItem],
    agent: Agent,
    client: AsyncClient,
    *,
    concurrency: int = 8,
    store: RunStore | None = None,
    max_rounds: int | dict[str, int] | None = None,
    max_context_tokens: int | None = None,
    env_kwargs: dict[str, dict[str, Any]] | None = None,
    on_episode: Callable[[Trajectory], None] | None = None,
    retry_errors: bool = True,
) -> list[Trajectory]:
    """Play ``items`` with ``agent`` over ``client``, ``concurrency`` at a time.

    With a ``store``, items already in it (same ``item_id#sample``) are not played again - except
    those that ended in an error, which are retried unless ``retry_errors`` is False - and every new
    episode is appended to it as soon as it ends. Returns one trajectory per distinct item, in the
    order of ``items`` (stored ones included). ``on_episode`` is called for each new episode.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    order: list[EpisodeItem] = []
    seen: set[str] = set()
    for it in items:
        if it.key not in seen:
            seen.add(it.key)
            order.append(it)
    results: dict[str, Trajectory] = {}
    todo: list[EpisodeItem] = []
    for it in order:
        stored = store.get(it.key) if store is not None else None
        if stored is not None and (stored.stop != "error" or not retry_errors):
            results[it.key] = stored
        else:
            todo.append(it)

    writer = _GroupWriter(store) if store is not None else None
    runner = Runner(
        agent, client, max_rounds=max_rounds, max_context_tokens=max_context_tokens, env_kwargs=env_kwargs
    )
    queue = iter(todo)

    async def worker() -> None:
        for it in queue:  # a shared iterator: each item goes to exactly one worker
            traj = await runner.play(it)
            if writer is not None:
                await writer.add(traj)  # returns once the line is on disk
            results[it.key] = traj
            if on_episode is not None:
                on_episode(traj)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(todo)))))
    return [results[it.key] for it in order]
