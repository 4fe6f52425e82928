"""The rollout runner in-process: trajectory format, invalid replies, stop reasons, concurrency."""

from __future__ import annotations

import asyncio

import pytest

import agentgym
from agentgym.agents.base import Agent, AgentError, AgentReply, ContextOverflow, EpisodeContext
from agentgym.agents.expert import ExpertAgent
from agentgym.agents.random import RandomAgent
from agentgym.client.local import AsyncLocalClient
from agentgym.core.env import Env, invalid
from agentgym.core.types import EnvSpec, StepResult
from agentgym.rollout.runner import EpisodeItem, run_episodes
from agentgym.rollout.store import RunStore


class CountEnv(Env):
    """Count up to a target (task id % 3 + 2) with "inc"; "crash" makes the env raise."""

    spec = EnvSpec(
        id="tiny_count",
        version="1",
        max_rounds=6,
        metric="success",
        action_format="react_first",
        splits={"train": list(range(10)), "test": list(range(10, 15))},
    )
    closed = 0

    def instruction(self) -> str:
        return "Count up to the target. Reply 'Thought: ...\\nAction: inc'."

    def _reset(self, task_id: int) -> str:
        self.value, self.target = 0, task_id % 3 + 2
        return f"value 0, target {self.target}"

    def _step(self, action: str) -> StepResult:
        if action == "crash":
            raise RuntimeError("engine exploded")
        if action != "inc":
            return invalid(f"unknown action {action!r}; use inc")
        self.value += 1
        done = self.value >= self.target
        return StepResult("done" if done else f"value {self.value}", 1.0 if done else 0.0, done, False, {})

    def available_actions(self) -> list[str]:
        return ["inc", "wait"]

    def expert_reply(self) -> str:
        return f"Thought: {self.target - self.value} to go.\nAction: inc"

    def close(self) -> None:
        CountEnv.closed += 1


agentgym.register("tiny_count", CountEnv)
TEST = [EpisodeItem("tiny_count", t) for t in CountEnv.spec.splits["test"]]


class Scripted(Agent):
    """Replies from a list (the last one repeats); records the messages it was shown."""

    name = "scripted"

    def __init__(self, replies: list[str], delay: float = 0.0) -> None:
        self.replies, self.delay = replies, delay
        self.seen: list[list[dict[str, str]]] = []
        self.active = self.max_active = 0

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        self.seen.append(messages)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        return AgentReply(self.replies[min(ctx.round, len(self.replies) - 1)])


class Raising(Agent):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def reply(self, messages: list[dict[str, str]], ctx: EpisodeContext) -> AgentReply:
        if ctx.task_id == 11:
            raise self.exc
        return AgentReply("Thought: go\nAction: inc")


def run(items, agent, **kw):
    return asyncio.run(run_episodes(items, agent, AsyncLocalClient(), **kw))


def test_expert_episode_has_the_trajectory_format():
    trajs = run(TEST, ExpertAgent(), concurrency=3)
    assert [t.item_id for t in trajs] == [f"tiny_count_{i}" for i in range(10, 15)]
    for t in trajs:
        target = t.task_id % 3 + 2
        assert (t.success, t.reward, t.stop, t.rounds, t.invalid_actions) == (True, 1.0, "done", target, 0)
        conv = t.conversations
        assert [(c.from_, c.loss) for c in conv[:3]] == [("human", None), ("gpt", False), ("human", None)]
        assert conv[0].value == CountEnv().instruction()
        assert conv[1].value == CountEnv.spec.ack
        assert conv[2].value == f"value 0, target {target}"
        rest = conv[3:]
        assert [(c.from_, c.loss) for c in rest] == [("gpt", True), ("human", None)] * target
        assert rest[-1].value == "done"
        assert t.env == "tiny_count" and t.split == "test" and t.env_version == "1"
        assert t.agent == {"name": "expert"}
        assert t.timing.env_s >= 0 and t.timing.model_s >= 0


def test_agent_sees_chat_messages_of_the_conversation():
    agent = Scripted(["Thought: a\nAction: inc"])
    (t,) = run(TEST[:1], agent)
    assert len(agent.seen) == t.rounds
    last = agent.seen[-1]
    assert [m["role"] for m in last[:3]] == ["user", "assistant", "user"]
    expected = [
        {"role": {"human": "user", "gpt": "assistant"}[c.from_], "content": c.value} for c in t.conversations
    ]
    assert last == expected[: len(last)]
    assert len(last) == len(t.conversations) - 2  # the last reply and observation came after


def test_reply_without_action_gets_a_corrective_turn_and_counts_invalid():
    agent = Scripted(["I am thinking hard.", "Thought: x\nAction: dance", "Thought: x\nAction: inc"])
    (t,) = run([EpisodeItem("tiny_count", 12)], agent)  # target 2
    conv = t.conversations
    assert conv[3].value == "I am thinking hard." and conv[3].loss is True
    assert conv[4].from_ == "human" and "No action found" in conv[4].value and "Action:" in conv[4].value
    assert "unknown action 'dance'" in conv[6].value  # the env's own invalid-action observation
    assert t.invalid_actions == 2
    assert t.rounds == 4 and t.success and t.stop == "done"


def test_round_limit_from_spec_and_override():
    agent = Scripted(["Thought: wait\nAction: wait"])
    (t,) = run(TEST[:1], agent)
    assert (t.stop, t.rounds, t.invalid_actions, t.success, t.reward) == ("max_rounds", 6, 6, False, 0.0)
    (t,) = run(TEST[:1], agent, max_rounds=2)
    assert (t.stop, t.rounds) == ("max_rounds", 2)
    (t,) = run(TEST[:1], Scripted(["no action at all"]), max_rounds={"tiny_count": 3})
    assert (t.stop, t.rounds, t.invalid_actions) == ("max_rounds", 3, 3)


def test_context_overflow_and_agent_errors_stop_only_their_episode():
    trajs = run(TEST, Raising(ContextOverflow("prompt too long")), concurrency=2)
    stops = {t.task_id: t.stop for t in trajs}
    assert stops == {10: "done", 11: "context", 12: "done", 13: "done", 14: "done"}
    assert "prompt too long" in trajs[1].error
    trajs = run(TEST, Raising(AgentError("backend down")))
    assert trajs[1].stop == "error" and "backend down" in trajs[1].error
    assert all(t.success for i, t in enumerate(trajs) if i != 1)
    (t,) = run(TEST[:1], ExpertAgent(), max_context_tokens=5)
    assert t.stop == "context" and t.rounds == 0


def test_env_crash_is_recorded_and_the_session_closed():
    before = CountEnv.closed
    agent = Scripted(["Thought: go\nAction: inc", "Thought: boom\nAction: crash"])
    trajs = run(TEST, agent, concurrency=5)
    assert all(t.stop == "error" and "engine exploded" in t.error for t in trajs)
    assert all(t.rounds == 2 for t in trajs)
    assert CountEnv.closed - before == len(TEST)
    bad = run([EpisodeItem("tiny_count", 999)], ExpertAgent())
    assert bad[0].stop == "error" and "999" in bad[0].error
    unknown = run([EpisodeItem("no_such_env", 1)], ExpertAgent())
    assert unknown[0].stop == "error" and "no_such_env" in unknown[0].error


def test_concurrency_bound_is_reached_and_respected():
    agent = Scripted(["Thought: go\nAction: inc"], delay=0.01)
    items = [EpisodeItem("tiny_count", t, "train") for t in range(10)]
    done = []
    trajs = run(items, agent, concurrency=4, on_episode=done.append)
    assert agent.max_active == 4
    assert len(done) == 10 and {t.key for t in done} == {t.key for t in trajs}
    with pytest.raises(ValueError, match="concurrency"):
        run(items, agent, concurrency=0)


def test_random_agent_is_seeded_and_differs_between_samples():
    items = [EpisodeItem("tiny_count", t, "test", 0, s) for t in (10, 11) for s in range(3)]
    a = run(items, RandomAgent(seed=1))
    b = run(items, RandomAgent(seed=1))
    c = run(items, RandomAgent(seed=2))
    replies = lambda ts: [[x.value for x in t.conversations] for t in ts]  # noqa: E731
    assert replies(a) == replies(b)
    assert replies(a) != replies(c)
    assert len({tuple(r) for r in replies(a)}) > 1
    assert all(t.agent == {"name": "random", "seed": 1} for t in a)
    assert any(t.invalid_actions for t in a)  # "wait" is not a valid action


def test_store_skips_finished_items(tmp_path):
    agent = Scripted(["Thought: go\nAction: inc"])
    with RunStore(tmp_path) as store:
        first = run(TEST[:3], agent, store=store)
    calls = len(agent.seen)
    with RunStore(tmp_path) as store:
        again = run(TEST, agent, store=store)
        assert len(store) == 5
    assert [t.dump() for t in again[:3]] == [t.dump() for t in first]
    assert len(agent.seen) - calls == sum(t.rounds for t in again[3:])


@pytest.mark.parametrize("env_id", ["maze", "wordle"])
def test_expert_solves_every_test_task_in_process(env_id):
    try:
        spec = agentgym.spec(env_id)
    except ImportError as e:
        pytest.skip(f"{env_id} not available yet: {e}")
    items = [EpisodeItem(env_id, t) for t in spec.split("test")]
    trajs = run(items, ExpertAgent(), concurrency=8)
    assert len(trajs) == len(spec.split("test")) == 25
    assert all(t.success and t.reward == 1.0 and t.stop == "done" for t in trajs), [
        (t.item_id, t.stop, t.error) for t in trajs if not t.success
    ]
    assert all(t.invalid_actions == 0 for t in trajs)


def test_each_reported_episode_is_already_on_disk(tmp_path):
    from agentgym.rollout.store import read_trajectories

    seen_on_disk = []

    with RunStore(tmp_path) as store:

        def check(t):
            seen_on_disk.append(t.key in {x.key for x in read_trajectories(tmp_path)})

        items = [EpisodeItem("tiny_count", t, "train", 0, s) for t in range(10) for s in range(3)]
        trajs = run(
            items,
            Scripted(["Thought: go\nAction: inc"], delay=0.001),
            concurrency=8,
            store=store,
            on_episode=check,
        )
    assert len(trajs) == 30 and len(seen_on_disk) == 30 and all(seen_on_disk)
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 30
