"""The env server: `create_app` (FastAPI app factory), sessions, the original-route layer, `run_server`.

Imports are lazy so that ``import agentgym.server.sessions`` does not pull in FastAPI. (The HTTP
client imports nothing from here: the wire contract is `agentgym.core.protocol` and
`agentgym.core.errors`.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from agentgym.server.app import create_app

        return create_app
    if name == "run_server":
        from agentgym.server.testing import run_server

        return run_server
    raise AttributeError(name)
