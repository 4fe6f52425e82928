"""Every error that crosses the wire, one class per failure, used on both sides (DESIGN §4).

The server answers an `AgentGymError` with its ``status`` and the body
``{"detail": str(exc), "type": type(exc).__name__}``; the HTTP client looks the ``type`` back up in
`WIRE_ERRORS` (falling back on the status code) and raises the *same* class the server raised. So
``except UnknownSession`` means the same thing in-process, on the server and behind `EnvClient`,
and neither side has to import the other to know its errors.

Invalid *actions* are not exceptions: they come back as an observation with
``info["invalid_action"] = True``. These are for misuse of the API itself.
"""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class; ``status`` is the HTTP status the server answers with."""

    status: int = 400


class UnknownEnv(AgentGymError, KeyError):
    """No env with this id is registered (in-process) or hosted (on the server)."""

    status = 404

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown env"


class UnknownTask(AgentGymError, KeyError):
    """``reset`` with a task id outside every split of the env."""

    status = 404

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown task"


class UnknownSession(AgentGymError, KeyError):
    """No live session with this id (never created, deleted, or reaped after the idle TTL)."""

    status = 404

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown session"


class EpisodeOver(AgentGymError):
    """``step`` after the episode terminated or was truncated: reset first."""

    status = 409


class NotReset(AgentGymError):
    """``step`` / ``observation`` before the first ``reset``."""

    status = 409


class NoExpert(AgentGymError):
    """The env has no expert (``expert_reply``)."""

    status = 501


class NotSupported(AgentGymError):
    """The env does not implement this call (e.g. `random_action` without enumerable actions)."""

    status = 501


class ExpertDisabled(AgentGymError):
    """The privileged expert routes (the answer key) are off on this server."""

    status = 403


class AtCapacity(AgentGymError):
    """The env has ``capacity`` live sessions; retry after ``retry_after`` seconds (the server
    sends it as the ``Retry-After`` header, the client reads it back into this attribute)."""

    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EnvFailure(AgentGymError):
    """The env raised an unexpected exception (the message names the env and the error); the
    server keeps serving every other session. The client's old name for it is ``ServerError``."""

    status = 500


class BadRequest(AgentGymError):
    """The server rejected the request body or parameters (422; 413 for a body over the limit)."""

    status = 422


class BadEnvArgs(BadRequest):
    """The env's constructor (or its options schema) rejected the session kwargs."""

    status = 422


class Unauthorized(AgentGymError):
    """Missing or wrong bearer token (401)."""

    status = 401


class ServerUnavailable(AgentGymError, ConnectionError):
    """No server of the pool could be reached (at first contact, or after the retries). Raised by
    the client only: it is what a server that cannot answer would have said."""

    status = 503


WIRE_ERRORS: dict[str, type[AgentGymError]] = {
    cls.__name__: cls
    for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, AgentGymError)
}
"""Wire ``type`` -> class: every error class of this module under its own name, plus
``ValidationError`` (the server's name for a request that failed schema validation, FastAPI's
and pydantic's word) as `BadRequest`."""
WIRE_ERRORS["ValidationError"] = BadRequest

STATUS_ERRORS: dict[int, type[AgentGymError]] = {
    401: Unauthorized,
    404: UnknownSession,
    409: EpisodeOver,
    413: BadRequest,
    422: BadRequest,
    500: EnvFailure,
    501: NoExpert,
    503: AtCapacity,
}
"""The fallback for a body without a known ``type`` (a proxy's error page, ``HTTPError`` from the
transport layer: 401 bad token, 413 body too large, 404 no such route)."""


def wire_error(kind: str, status: int, message: str, retry_after: float | None = None) -> AgentGymError:
    """The exception for an error response: the class named by ``kind``, else by ``status``."""
    cls = WIRE_ERRORS.get(kind) or STATUS_ERRORS.get(status, AgentGymError)
    if issubclass(cls, AtCapacity):
        return cls(message, retry_after or 1.0)
    return cls(message)
