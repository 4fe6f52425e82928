"""Exceptions with a meaning the server maps to HTTP status codes (DESIGN §4).

Invalid *actions* are not exceptions: they come back as an observation with
``info["invalid_action"] = True``. These are for misuse of the API itself.
"""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class; ``status`` is the HTTP status the server answers with."""

    status: int = 400


class UnknownEnv(AgentGymError, KeyError):
    status = 404

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown env"


class UnknownTask(AgentGymError, KeyError):
    status = 404

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown task"


class EpisodeOver(AgentGymError):
    """``step`` after the episode terminated or was truncated: reset first."""

    status = 409


class NotReset(AgentGymError):
    """``step`` / ``observation`` before the first ``reset``."""

    status = 409


class NoExpert(AgentGymError):
    status = 501


class ExpertDisabled(AgentGymError):
    """The privileged expert routes (the answer key) are off on this server."""

    status = 403
