"""The wire contract is one set of names: every error class crosses the wire as itself, and the
HTTP client needs nothing from the server package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentgym.core import errors
from agentgym.core.errors import WIRE_ERRORS, AgentGymError, AtCapacity, BadRequest, wire_error


@pytest.mark.parametrize("name", sorted(WIRE_ERRORS))
def test_every_error_class_comes_back_as_itself(name):
    cls = WIRE_ERRORS[name]
    err = wire_error(name, cls.status, "what happened")
    assert type(err) is cls and str(err) == "what happened"
    if name != "ValidationError":
        assert getattr(errors, name) is cls


def test_unknown_types_fall_back_on_the_status():
    assert type(wire_error("HTTPError", 413, "too big")) is BadRequest
    assert type(wire_error("", 418, "teapot")) is AgentGymError
    busy = wire_error("AtCapacity", 503, "full", retry_after=3.0)
    assert isinstance(busy, AtCapacity) and busy.retry_after == 3.0


def test_old_names_stay_importable():
    from agentgym.client import ServerError
    from agentgym.client.http import BadRequest as ClientBadRequest
    from agentgym.server.sessions import AtCapacity as ServerAtCapacity
    from agentgym.server.sessions import BadEnvArgs, EnvFailure

    assert ServerError is EnvFailure and ClientBadRequest is BadRequest and ServerAtCapacity is AtCapacity
    assert issubclass(BadEnvArgs, BadRequest)


def test_the_http_client_does_not_import_the_server():
    code = "import sys, agentgym.client.http; print(sorted(m for m in sys.modules if 'agentgym.server' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_protocol_helpers_follow_their_models():
    """Every key the server writes and the client reads is a field of the documented model."""
    from agentgym.core import protocol as p
    from agentgym.core.types import Observation, StepResult

    obs = Observation("hi", {"k": 1})
    assert set(p.reset_reply(obs)) == set(p.ResetOut.model_fields)
    assert p.read_reset(p.ResetOut.model_validate(p.reset_reply(obs)).model_dump()) == obs
    res = StepResult("o", 1.0, True, False, {"success": True})
    assert set(p.step_reply(res)) == set(p.StepOut.model_fields)
    assert p.read_step(p.StepOut.model_validate(p.step_reply(res)).model_dump()) == res
    p.CreateSession.model_validate(p.create_request("maze", {"x": 1}))
    p.ResetRequest.model_validate(p.reset_request(3, None))
    p.StepRequest.model_validate(p.step_request("go"))
    assert p.read_session_id(p.SessionCreated(session_id="s", env="maze").model_dump()) == "s"
    assert p.read_observation(p.ObservationOut(observation="o").model_dump()) == "o"
    assert p.read_actions(p.ActionsOut(actions=None).model_dump()) is None
    assert p.read_instruction(p.InstructionOut(instruction="i").model_dump()) == "i"
    assert p.read_expert(p.ExpertOut(reply="r").model_dump()) == "r"
    assert p.read_random_action(p.RandomActionOut(action="a").model_dump()) == "a"
    assert p.replayable("POST", "http://h/v1/sessions/x/reset") and not p.replayable("POST", "/x/step")
