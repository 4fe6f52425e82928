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
