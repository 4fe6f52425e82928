"""Shared test fixtures (kept small and generic)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `import dummy_envs`


@pytest.fixture(scope="session")
def dummy_envs() -> dict[str, type]:
    """Register the tiny test envs of tests/dummy_envs.py ('counter', 'crashy', 'sleepy')."""
    from agentgym.core.registry import register
    from dummy_envs import DUMMY

    for env_id, cls in DUMMY.items():
        register(env_id, cls)
    return DUMMY


def light_envs() -> list[str]:
    """The light real envs that exist in this checkout (maze, wordle), for integration tests."""
    root = Path(__file__).parents[1] / "src" / "agentgym" / "envs"
    return [e for e in ("maze", "wordle") if (root / e / "env.py").exists()]
