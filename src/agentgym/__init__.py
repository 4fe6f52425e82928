"""agentgym: build, evaluate and evolve LLM agents across many text environments."""

from agentgym.core import (
    Env,
    EnvSpec,
    Observation,
    StepResult,
    Trajectory,
    Turn,
    env_class,
    list_envs,
    make,
    parse_reply,
    register,
    spec,
)

__version__ = "0.1.0"

__all__ = [
    "Env",
    "EnvSpec",
    "Observation",
    "StepResult",
    "Trajectory",
    "Turn",
    "__version__",
    "env_class",
    "list_envs",
    "make",
    "parse_reply",
    "register",
    "spec",
]
