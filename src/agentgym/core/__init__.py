"""Core API: the Env base class, data types, registry, reply parsing and seeding."""

from agentgym.core.env import Env, invalid
from agentgym.core.errors import AgentGymError, EpisodeOver, NoExpert, NotReset, UnknownEnv, UnknownTask
from agentgym.core.react import ParsedReply, format_reply, parse_reply
from agentgym.core.registry import env_class, list_envs, make, register, spec
from agentgym.core.types import EnvSpec, Observation, StepResult, Trajectory, Turn

__all__ = [
    "AgentGymError",
    "Env",
    "EnvSpec",
    "EpisodeOver",
    "NoExpert",
    "NotReset",
    "Observation",
    "ParsedReply",
    "StepResult",
    "Trajectory",
    "Turn",
    "UnknownEnv",
    "UnknownTask",
    "env_class",
    "format_reply",
    "invalid",
    "list_envs",
    "make",
    "parse_reply",
    "register",
    "spec",
]
