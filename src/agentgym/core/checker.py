"""The env checker (`agentgym check ENV`): does an env honour the contract of `Env`?

Checks, each reported as a `CheckResult`:

1. the spec is well formed and the train and test splits are disjoint;
2. reset/step contracts: types, ``info`` keys, `NotReset` / `EpisodeOver` / `UnknownTask`,
   invalid actions are observations (not exceptions), truncation at ``max_rounds``;
3. determinism: the same task + seed twice gives the same observations for the same actions;
4. the expert solves the test split (the share is reported; a bar is applied by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agentgym.core.env import Env
from agentgym.core.errors import EpisodeOver, NotReset, UnknownTask
from agentgym.core.react import parse_reply
from agentgym.core.registry import make
from agentgym.core.types import Observation, StepResult


@dataclass
class CheckResult:
    """One named check: passed or not, with what it found (a summary, or the failure)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class CheckReport:
    """Every check of one env, and the expert's share of solved test tasks (the caller applies
    a bar to it: the checks themselves are pass/fail)."""

    env_id: str
    results: list[CheckResult] = field(default_factory=list)
    expert_success: float | None = None
    expert_episodes: int = 0

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(r.ok for r in self.results)


def run_expert_episode(env: Env, task_id: int, seed: int = 0) -> tuple[float, bool, list[str]]:
    """Play one episode with the env's expert; returns (final reward, success, observations)."""
    obs = env.reset(task_id, seed)
    seen = [obs.text]
    res: StepResult | None = None
    for _ in range(env.max_rounds):
        parsed = parse_reply(env.expert_reply(), env.spec.action_format)
        if parsed.action is None:  # i.e. not parsed.ok, spelled so that the type checker narrows
            raise AssertionError(f"expert reply has no action: {parsed.error}")
        res = env.step(parsed.action)
        seen.append(res.observation)
        if res.done:
            break
    if res is None:
        return 0.0, False, seen
    return res.reward, bool(res.info.get("success")), seen


def _check(report: CheckReport, name: str, fn: Callable[[], str | None]) -> None:
    try:
        detail = fn() or ""
        report.results.append(CheckResult(name, True, detail))
    except Exception as e:  # the checker reports, it does not crash
        report.results.append(CheckResult(name, False, f"{type(e).__name__}: {e}"))


def check_env(
    env_id: str,
    expert_tasks: Iterable[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    **env_kwargs: object,
) -> CheckReport:
    """Run every check on ``env_id``; ``expert_tasks`` defaults to the whole test split."""
    env = make(env_id, **env_kwargs)
    spec = env.spec
    report = CheckReport(env_id)
    test_ids = spec.split("test") if "test" in spec.splits else []

    def splits() -> str:
        assert spec.max_rounds > 0, "max_rounds must be positive"
        assert "test" in spec.splits and spec.splits["test"], "a non-empty test split is required"
        train, test = set(spec.splits.get("train", [])), set(spec.splits["test"])
        overlap = train & test
        assert not overlap, f"train and test share {len(overlap)} ids, e.g. {sorted(overlap)[:5]}"
        return ", ".join(f"{k}={len(v)}" for k, v in spec.splits.items())

    def contracts() -> str:
        fresh = make(env_id, **env_kwargs)
        try:
            _expect(NotReset, lambda: fresh.step("x"), "step before reset")
        finally:
            fresh.close()
        _expect(UnknownTask, lambda: env.reset(-12345), "reset with an unknown task id")
        obs = env.reset(test_ids[0])
        assert isinstance(obs, Observation) and isinstance(obs.text, str) and obs.text, "reset must give text"
        assert isinstance(env.instruction(), str) and env.instruction(), "instruction() must be non-empty"
        acts = env.available_actions()
        assert acts is None or all(isinstance(a, str) for a in acts), "available_actions: list[str] | None"
        res = env.step("this is not a valid action 123")
        assert isinstance(res, StepResult) and isinstance(res.observation, str)
        for key in ("invalid_action", "success", "rounds"):
            assert key in res.info, f"info lacks {key!r}"
        assert res.info["invalid_action"] or res.done, "a nonsense action must be flagged invalid"
        env.reset(test_ids[0])
        last = None
        for _ in range(env.max_rounds + 1):
            if env.done:
                break
            last = env.step("this is not a valid action 123")
        assert env.done, f"episode not over after max_rounds={env.max_rounds} steps"
        assert last is not None and (last.truncated or last.terminated)
        _expect(EpisodeOver, lambda: env.step("x"), "step after the end")
        return "reset/step/invalid/truncation/errors ok"

    def determinism() -> str:
        task = test_ids[len(test_ids) // 2]
        a = run_expert_episode(env, task, seed=7)[2]
        b = run_expert_episode(env, task, seed=7)[2]
        assert a == b, "same task + seed gave different observations"
        return f"task {task}: {len(a)} observations equal"

    _check(report, "splits", splits)
    _check(report, "contracts", contracts)
    _check(report, "determinism", determinism)

    tasks = list(test_ids if expert_tasks is None else expert_tasks)
    wins = 0
    failures: list[int] = []

    def expert() -> str:
        nonlocal wins
        for i, task in enumerate(tasks):
            _, success, _ = run_expert_episode(env, task)
            wins += success
            if not success:
                failures.append(task)
            if on_progress:
                on_progress(i + 1, len(tasks))
        report.expert_success = wins / len(tasks) if tasks else None
        report.expert_episodes = len(tasks)
        tail = f"; failed: {failures[:10]}" if failures else ""
        return f"{wins}/{len(tasks)} test tasks solved{tail}"

    _check(report, "expert", expert)
    env.close()
    return report


def _expect(exc: type[Exception], fn: Callable[[], object], what: str) -> None:
    try:
        fn()
    except exc:
        return
    raise AssertionError(f"{what} must raise {exc.__name__}")
