"""README "Environments" table, last column: each env's expert on its WHOLE test split.

Not part of `make test` (minutes for the light envs, an hour or more for ALFWorld, whose games are
generated on first use): these tests carry the ``experts`` marker, which pyproject's addopts
deselects, and they skip themselves unless the marker expression asks for them. Run them with
``make check-experts`` (all envs) or e.g.
``.venv/bin/pytest -m experts -s tests/test_experts_full.py -k "maze or wordle"``.

Each test plays every test task once with the env's expert (seed 0, in-process, as
``agentgym check ENV`` does), prints ``expert on test: ENV W/N`` and asserts the README's figure
exactly - a better figure is a stale README too. BabyAI's two misses must be the
``OpenDoorsOrderN4Debug`` missions the README's footnote names.
"""

from __future__ import annotations

import time

import pytest

from agentgym.core.checker import run_expert_episode
from agentgym.core.registry import make

pytestmark = pytest.mark.experts

# env -> (successes, test items) as the README's table states them
README_FIGURES = {
    "maze": (25, 25),
    "wordle": (25, 25),
    "babyai": (88, 90),
    "textcraft": (100, 100),
    "sciworld": (200, 200),
    "alfworld": (200, 200),
    "webshop": (200, 200),
    "bird": (200, 200),
    "weather": (20, 20),
    "movie": (20, 20),
    "academia": (20, 20),
    "sheet": (20, 20),
    "todo": (20, 20),
}
HEAVY = {"sciworld": 3 * 3600, "alfworld": 6 * 3600}  # per-test timeouts (s): JVM / TextWorld engines


@pytest.fixture(autouse=True)
def only_when_asked(request: pytest.FixtureRequest) -> None:
    """Skip unless the run selects this marker (`-m experts`): a `-m "not slow"` run must not
    start an hour of ALFWorld just because it replaced the addopts' `-m "not experts"`."""
    if "experts" not in (request.config.getoption("markexpr") or "") or "not experts" in (
        request.config.getoption("markexpr") or ""
    ):
        pytest.skip("expert checks run with `make check-experts` (pytest -m experts)")


def params() -> list:
    out = []
    for env_id in README_FIGURES:
        marks = [pytest.mark.heavy, pytest.mark.timeout(HEAVY[env_id])] if env_id in HEAVY else []
        out.append(pytest.param(env_id, id=env_id, marks=marks))
    return out


@pytest.mark.parametrize("env_id", params())
def test_expert_on_the_whole_test_split(env_id: str) -> None:
    wins, total = README_FIGURES[env_id]
    env = make(env_id)
    t0 = time.monotonic()
    try:
        tasks = env.spec.split("test")
        assert len(tasks) == total, f"{env_id}: {len(tasks)} test items, the README says {total}"
        failed: list[tuple[int, dict]] = []
        for task in tasks:
            _, success, _ = run_expert_episode(env, task)
            if not success:
                failed.append((task, dict(env.reset(task).info)))
    finally:
        env.close()
    got = total - len(failed)
    print(
        f"\nexpert on test: {env_id} {got}/{total} in {time.monotonic() - t0:.0f} s"
        + (f"; failed tasks: {[t for t, _ in failed]}" if failed else "")
    )
    if env_id == "babyai":
        assert {info.get("level") for _, info in failed} <= {"BabyAI-OpenDoorsOrderN4Debug-v0"}, failed
    assert got == wins, f"{env_id}: expert {got}/{total}, README says {wins}/{total}; failed: {failed}"
