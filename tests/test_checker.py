"""The env checker: real envs pass it, and envs that break the contract are caught."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agentgym.core import registry
from agentgym.core.checker import check_env
from agentgym.core.env import Env, invalid
from agentgym.core.errors import NoExpert
from agentgym.core.react import format_reply
from agentgym.core.registry import register
from agentgym.core.types import EnvSpec, StepResult


@pytest.mark.parametrize("env_id", ["maze", "wordle"])
def test_light_envs_pass_with_full_expert_success(env_id: str) -> None:
    progress: list[tuple[int, int]] = []
    report = check_env(env_id, on_progress=lambda done, total: progress.append((done, total)))
    assert report.ok, [r for r in report.results if not r.ok]
    assert [r.name for r in report.results] == ["splits", "contracts", "determinism", "expert"]
    assert report.expert_success == 1.0 and report.expert_episodes == 25
    assert progress == [(i, 25) for i in range(1, 26)]


def test_expert_tasks_subset() -> None:
    report = check_env("maze", expert_tasks=[0, 5, 1001])
    assert report.ok and report.expert_episodes == 3 and report.expert_success == 1.0


# ----------------------------------------------------------------- broken envs
class GoodEnv(Env):
    """Reach 3 with "inc": a tiny env that honours the contract (the baseline of the broken ones)."""

    spec = EnvSpec(
        id="chk-good",
        version="1",
        max_rounds=6,
        metric="success",
        action_format="react_first",
        splits={"train": [0, 1], "test": [10, 11]},
    )

    def instruction(self) -> str:
        return "Type inc until the count is 3."

    def _reset(self, task_id: int) -> str:
        self.count = 0
        return f"count {self.count} token {self.rng.randint(0, 999)}"

    def _step(self, action: str) -> StepResult:
        if action != "inc":
            return invalid(f"unknown action {action!r}")
        self.count += 1
        return StepResult(f"count {self.count}", float(self.count == 3), self.count == 3, False, {})

    def expert_reply(self) -> str:
        return format_reply("Count up.", "inc")


class OverlapEnv(GoodEnv):
    spec = GoodEnv.spec.model_copy(update={"id": "chk-overlap", "splits": {"train": [1, 10], "test": [10]}})


class SilentEnv(GoodEnv):
    """Accepts nonsense without flagging it as invalid."""

    spec = GoodEnv.spec.model_copy(update={"id": "chk-silent"})

    def _step(self, action: str) -> StepResult:
        return StepResult("ok", 0.0, False, False, {})


_calls = itertools.count()


class NondetEnv(GoodEnv):
    """Observations depend on a process-wide counter, not on task + seed."""

    spec = GoodEnv.spec.model_copy(update={"id": "chk-nondet"})

    def _reset(self, task_id: int) -> str:
        self.count = 0
        return f"count 0 call {next(_calls)}"


class LazyExpertEnv(GoodEnv):
    spec = GoodEnv.spec.model_copy(update={"id": "chk-lazy"})

    def expert_reply(self) -> str:
        return format_reply("Wait.", "wait")


class NoExpertEnv(GoodEnv):
    spec = GoodEnv.spec.model_copy(update={"id": "chk-noexpert"})

    def expert_reply(self) -> str:
        raise NoExpert("none")


@pytest.fixture(scope="module", autouse=True)
def _register():
    """Register the broken envs for this module only (other test modules never see them)."""
    classes = (GoodEnv, OverlapEnv, SilentEnv, NondetEnv, LazyExpertEnv, NoExpertEnv)
    for cls in classes:
        register(cls.spec.id, cls)
    yield
    for cls in classes:
        registry._entries.pop(cls.spec.id, None)
        registry._loaded.pop(cls.spec.id, None)


def _failed(env_id: str) -> dict[str, str]:
    report = check_env(env_id)
    return {r.name: r.detail for r in report.results if not r.ok}


def test_good_env_passes() -> None:
    report = check_env("chk-good")
    assert report.ok and report.expert_success == 1.0


def test_overlapping_splits_fail() -> None:
    failed = _failed("chk-overlap")
    assert list(failed) == ["splits"] and "share 1 ids" in failed["splits"]


def test_unflagged_invalid_action_fails() -> None:
    failed = _failed("chk-silent")
    assert "contracts" in failed and "must be flagged invalid" in failed["contracts"]


def test_nondeterminism_fails() -> None:
    failed = _failed("chk-nondet")
    assert list(failed) == ["determinism"]


def test_expert_success_rate_is_reported_not_judged() -> None:
    report = check_env("chk-lazy")
    assert report.ok and report.expert_success == 0.0 and report.expert_episodes == 2
    expert = next(r for r in report.results if r.name == "expert")
    assert "0/2" in expert.detail and "failed: [10, 11]" in expert.detail


def test_missing_expert_fails_the_expert_check() -> None:
    failed: dict[str, Any] = _failed("chk-noexpert")
    # the determinism check replays expert episodes too, so it cannot pass either
    assert set(failed) == {"determinism", "expert"} and "NoExpert" in failed["expert"]
