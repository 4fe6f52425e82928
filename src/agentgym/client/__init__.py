"""Clients: in-process (`LocalClient`, `AsyncLocalClient`) and HTTP (`EnvClient`, `AsyncEnvClient`)."""

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.client.http import AsyncEnvClient, EnvClient, ServerError
from agentgym.client.local import AsyncLocalClient, LocalClient

__all__ = [
    "AsyncClient",
    "AsyncEnvClient",
    "AsyncLocalClient",
    "AsyncSession",
    "Client",
    "EnvClient",
    "LocalClient",
    "ServerError",
    "Session",
]
