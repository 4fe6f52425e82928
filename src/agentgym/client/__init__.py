"""Clients: in-process (`LocalClient`, `AsyncLocalClient`) and HTTP (`EnvClient`, `AsyncEnvClient`)."""

from agentgym.client.base import AsyncClient, AsyncSession, Client, Session
from agentgym.client.local import AsyncLocalClient, LocalClient

__all__ = ["AsyncClient", "AsyncLocalClient", "AsyncSession", "Client", "LocalClient", "Session"]
