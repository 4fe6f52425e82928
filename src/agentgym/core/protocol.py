"""The v1 wire contract: route paths, request and response shapes - one module for both sides.

The server (`agentgym.server.app`) mounts these paths and documents these models in its OpenAPI;
the HTTP client (`agentgym.client`) builds its URLs and bodies and reads its answers with the
helpers below, so a key is spelled in this module only (tests/test_wire_contract.py checks every
helper against its model). Errors are the other half of the contract: `agentgym.core.errors`.

It lives in ``core`` (next to `errors` and `types`) because both sides already depend on core and
neither may depend on the other; it needs pydantic only, never FastAPI or httpx.

Speed, on purpose: the server answers reset and step with ``json.dumps`` of the dicts built by
`reset_reply` / `step_reply` (no pydantic on its hot path), and the client reads answers with plain
dict lookups (`read_step`, `read_observation`, ...), not model validation. The models are the
documentation and the schema (/docs, schemathesis); the helpers are the fast path that follows them.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentgym.core.types import EnvSpec, JsonInt, Observation, StepResult

# ------------------------------------------------------------------------- routes
HEALTH = "/v1/health"
ENVS = "/v1/envs"
ENV = "/v1/envs/{env}"
SESSIONS = "/v1/sessions"
SESSION = "/v1/sessions/{sid}"
RESET = SESSION + "/reset"
STEP = SESSION + "/step"
OBSERVATION = SESSION + "/observation"
AVAILABLE_ACTIONS = SESSION + "/available_actions"
INSTRUCTION = SESSION + "/instruction"
EXPERT = SESSION + "/expert"
RANDOM_ACTION = SESSION + "/random_action"

REPLAYABLE_POSTS = ("/reset",)
"""POST routes (by path suffix) that are safe to send twice: a reset replaces the episode
wholesale. A step is not (the env would advance twice); a create would open a second session."""


def replayable(method: str, url: str) -> bool:
    """Whether sending the request twice is harmless: reads, deletes and reset."""
    return method.upper() in ("GET", "HEAD", "DELETE") or url.endswith(REPLAYABLE_POSTS)


# ------------------------------------------------------------------------ requests
def no_surrogates(text: str) -> str:
    """Reject a lone UTF-16 surrogate (JSON allows ``"\ud800"``; UTF-8 cannot carry it back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "the text holds a lone UTF-16 surrogate (such as \\ud800): not valid Unicode"
        ) from None
    return text


Text = Annotated[str, AfterValidator(no_surrogates)]
"""A string that can be echoed back as UTF-8 (a lone surrogate such as ``"\ud800"`` cannot)."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class CreateSession(_Strict):
    """``POST /v1/sessions``: open a session of a hosted env."""

    env: Text = Field(description="Id of a hosted env, e.g. 'maze'.")
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Env options: only the keys the env declares (see `options` in GET /v1/envs/{env}); "
        "anything else is a 422 that names the allowed keys.",
    )


class ResetRequest(_Strict):
    """``POST /v1/sessions/{sid}/reset``: start the episode of a task (replayable)."""

    task_id: JsonInt = Field(description="Global task id (see the env's splits).")
    seed: JsonInt | None = Field(None, description="Episode seed (default 0).")


class StepRequest(_Strict):
    """``POST /v1/sessions/{sid}/step``: one action (not replayable: the env would advance twice)."""

    action: Text = Field(description="The action text (already cut out of the model reply).")


def create_request(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /v1/sessions`` (`CreateSession`)."""
    return {"env": env_id, "kwargs": kwargs}


def reset_request(task_id: int, seed: int | None) -> dict[str, Any]:
    """The body of ``POST /v1/sessions/{sid}/reset`` (`ResetRequest`)."""
    return {"task_id": task_id, "seed": seed}


def step_request(action: str) -> dict[str, Any]:
    """The body of ``POST /v1/sessions/{sid}/step`` (`StepRequest`)."""
    return {"action": action}


# ----------------------------------------------------------------------- responses
class SessionCreated(BaseModel):
    """The new session (201): its id for every later call, and its env."""

    session_id: str
    env: str


class ResetOut(BaseModel):
    """The first observation of the episode, as the env returned it (`Observation`)."""

    observation: str
    info: dict[str, Any]


class StepOut(BaseModel):
    """One step, as the env returned it (`StepResult`); ``done`` = terminated or truncated."""

    observation: str
    reward: float
    terminated: bool
    truncated: bool
    done: bool
    info: dict[str, Any]


class SessionInfo(BaseModel):
    """A session's state: its episode (task, seed, rounds, done), its original-route id
    (``compat_id``), and its age and idle time in seconds (the reaper closes idle sessions)."""

    session_id: str
    env: str
    compat_id: int
    task_id: int | None
    seed: int
    rounds: int
    done: bool
    age_s: float
    idle_s: float


class ObservationOut(BaseModel):
    """The latest observation (what the last reset or step returned)."""

    observation: str


class ActionsOut(BaseModel):
    """The valid actions in the current state."""

    actions: list[str] | None = Field(description="Null when the env cannot enumerate its actions.")


class InstructionOut(BaseModel):
    """The env's task prompt (the first human turn of a conversation)."""

    instruction: str


class ExpertOut(BaseModel):
    """The privileged expert's next reply (the answer key: served only with ``--expert``)."""

    reply: str = Field(description="The expert's full reply (thought and action), as a model would write it.")


class RandomActionOut(BaseModel):
    """A random action drawn from the caller's seed (the random baseline)."""

    action: str


class EnvLoad(BaseModel):
    """One env's live sessions and its session limit (more is a 503 with Retry-After)."""

    sessions: int
    capacity: int


class Health(BaseModel):
    """Liveness and load: total live sessions, and per hosted env."""

    status: str
    sessions: int
    envs: dict[str, EnvLoad]


class EnvDescription(EnvSpec):
    """An env's spec plus what a client may set when it opens a session."""

    options: dict[str, Any] = Field(
        description="JSON schema of the session kwargs (`POST /v1/sessions` `kwargs`) this env accepts."
    )


def reset_reply(obs: Observation) -> dict[str, Any]:
    """`ResetOut` as a dict (the server's hot path serialises it with ``json.dumps``)."""
    return {"observation": obs.text, "info": obs.info}


def step_reply(res: StepResult) -> dict[str, Any]:
    """`StepOut` as a dict (the server's hot path serialises it with ``json.dumps``)."""
    return {
        "observation": res.observation,
        "reward": res.reward,
        "terminated": res.terminated,
        "truncated": res.truncated,
        "done": res.terminated or res.truncated,
        "info": res.info,
    }


def read_reset(d: dict[str, Any]) -> Observation:
    """A `ResetOut` back into the `Observation` the env returned."""
    return Observation(d["observation"], d["info"])


_STEP_FIELDS = itemgetter("observation", "reward", "terminated", "truncated", "info")


def read_step(d: dict[str, Any]) -> StepResult:
    """A `StepOut` back into the `StepResult` the env returned (``done`` is derived there)."""
    return StepResult(*_STEP_FIELDS(d))


def _only_field(model: type[BaseModel]) -> itemgetter[Any]:
    """The accessor of a one-field reply, generated from its model (no key spelled twice)."""
    (name,) = model.model_fields
    return itemgetter(name)


def read_session_id(d: dict[str, Any]) -> str:
    """The new session's id from a `SessionCreated`."""
    return str(d["session_id"])


read_observation = _only_field(ObservationOut)
read_actions = _only_field(ActionsOut)
read_instruction = _only_field(InstructionOut)
read_expert = _only_field(ExpertOut)
read_random_action = _only_field(RandomActionOut)


def read_env_ids(envs: list[dict[str, Any]]) -> list[str]:
    """The ids of a ``GET /v1/envs`` answer (a list of `EnvDescription`)."""
    return [e["id"] for e in envs]


# -------------------------------------------------------------------------- errors
class ErrorOut(BaseModel):
    """Every error body: what happened and what to do next, and the error class."""

    detail: str
    type: str = Field(
        description="The error class (see agentgym.core.errors), 'ValidationError' for a body that "
        "failed the schema, 'HTTPError' for the transport layer (bad token, body too large, no route)."
    )


class FieldError(BaseModel):
    """One schema problem of a 422: where (``loc``), what (``msg``) and its kind (``type``)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    """A 422: ``detail`` sums up every problem; ``errors`` lists them (the input is never echoed)."""

    errors: list[FieldError] = []


ERROR_CODES = (401, 403, 404, 409, 413, 422, 500, 501, 503)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ValidationErrorOut if code == 422 else ErrorOut} for code in ERROR_CODES
}
"""Documented on every route: the Guard (401, 413), validation (422) and any env call can answer them."""
