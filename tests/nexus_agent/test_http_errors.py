"""HTTP error bodies: one JSON shape, and never a configured secret value in the text."""

from __future__ import annotations

import json

from nexus_agent.http import error_response
from nexus_agent.wire.errors import InvalidInput, Unauthorized
from nexus_agent.wire.known_secrets import KnownSecrets

SECRET = "ledger-webhook-secret-5f1c0a93e7"


def test_a_configured_secret_value_in_an_error_is_redacted_from_the_json_body() -> None:
    known = KnownSecrets.of([SECRET])
    exc = InvalidInput(f"the event's secret {SECRET} did not verify", hint=f"Compare it with {SECRET}.")

    response = error_response(exc, known)

    body = json.loads(bytes(response.body))
    assert response.status_code == 400
    assert body["error"]["code"] == "invalid_input"
    assert SECRET not in json.dumps(body)
    assert "did not verify" in body["error"]["message"]


def test_an_unauthorized_answer_still_tells_the_client_how_to_authenticate() -> None:
    response = error_response(Unauthorized("token expired", hint="Exchange your API key for a new token."))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert json.loads(bytes(response.body))["error"]["message"] == "token expired"
