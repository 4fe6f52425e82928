"""Shared test fixtures (kept small and generic)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

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


@pytest.fixture
def server() -> Iterator[Callable[..., str]]:
    """A factory of real env servers: ``url = server(["maze"], capacity=8)`` starts
    `agentgym.server.testing.run_server` for those envs (kwargs go to it, then to ``create_app``)
    and returns its base URL. Every server a test started is stopped when the test ends, also
    when it fails - so a test can start several, with different settings, and never cleans up."""
    from agentgym.server.testing import run_server

    with ExitStack() as stack:

        def start(envs: Iterable[str], **kwargs: Any) -> str:
            return stack.enter_context(run_server(envs, **kwargs))

        yield start


def light_envs() -> list[str]:
    """The light real envs that exist in this checkout (maze, wordle), for integration tests."""
    root = Path(__file__).parents[1] / "src" / "agentgym" / "envs"
    return [e for e in ("maze", "wordle") if (root / e / "env.py").exists()]


@pytest.fixture(scope="module")
def one_thread():
    """Tiny matmuls on a shared 2-core machine run ~10x faster on one thread than on two
    (model-server and HF-agent modules use it for all their tests)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny chat model (256-token context) built from scratch, one per test module."""
    import tinymodel

    return tinymodel.build(tmp_path_factory.mktemp("tiny"), max_positions=256)
