"""The env registry: id -> ``"module:Class"``, imported only when first used.

Built-in envs are listed in `agentgym.envs.BUILTIN` (one line per env). Third-party packages add
envs with an entry point in the ``agentgym.envs`` group or by calling `register` at import time.
Lazy imports keep ``import agentgym`` fast and let a machine without (say) Java still use the
other envs: only `make("sciworld")` needs the scienceworld package.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from agentgym.core.env import Env
from agentgym.core.errors import UnknownEnv
from agentgym.core.types import EnvSpec

_entries: dict[str, str] = {}
_loaded: dict[str, type[Env]] = {}
_plugins_loaded = False


def register(env_id: str, entry: str | type[Env]) -> None:
    """Register ``env_id`` as ``"package.module:ClassName"`` or as an `Env` subclass."""
    if isinstance(entry, str):
        _entries[env_id] = entry
        _loaded.pop(env_id, None)
    else:
        _entries[env_id] = f"{entry.__module__}:{entry.__qualname__}"
        _loaded[env_id] = entry


def _ensure_entries() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from agentgym.envs import BUILTIN

    for env_id, entry in BUILTIN.items():
        _entries.setdefault(env_id, entry)
    for ep in entry_points(group="agentgym.envs"):
        _entries.setdefault(ep.name, ep.value)


def env_class(env_id: str) -> type[Env]:
    """The `Env` subclass registered as ``env_id`` (imports its module on first use)."""
    _ensure_entries()
    if env_id in _loaded:
        return _loaded[env_id]
    if env_id not in _entries:
        raise UnknownEnv(f"unknown env {env_id!r}; registered envs: {', '.join(sorted(_entries))}")
    module, _, name = _entries[env_id].partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ImportError(
            f"env {env_id!r} needs a package that is not installed ({e}). "
            f"Install the extras: pip install 'agentgym[envs]'"
        ) from e
    _loaded[env_id] = cls
    return cls


def make(env_id: str, **kwargs: Any) -> Env:
    """Create a fresh instance of env ``env_id``; ``kwargs`` go to its constructor."""
    return env_class(env_id)(**kwargs)


def spec(env_id: str) -> EnvSpec:
    """The `EnvSpec` of ``env_id`` without creating an env (its module is imported once)."""
    return env_class(env_id).spec


def list_envs(available_only: bool = False) -> list[str]:
    """Registered env ids, sorted; ``available_only`` drops those that fail to load here."""
    _ensure_entries()
    ids = sorted(_entries)
    if not available_only:
        return ids
    ok = []
    for env_id in ids:
        try:
            env_class(env_id)
        except Exception:  # missing package, missing data, broken module: not usable here
            continue
        ok.append(env_id)
    return ok
