"""ensure_no_secrets refuses with locations (never values); redact and RedactingFilter keep logs clean."""

from __future__ import annotations

import json
import logging

import pytest

from nexus_agent.wire import secret_guard
from nexus_agent.wire.errors import NexusError, SecretLeakRefused
from nexus_agent.wire.secret_guard import RedactingFilter, ensure_no_secrets, redact, redact_data
from tests.secret_guard.fakes import fake

WEBHOOK_SECRET = "glazing-" + "webhook-" + "value-2025"


def test_a_write_holding_a_secret_is_refused_with_every_location_and_kind() -> None:
    token = fake("ghp_", 36)
    record = {"endpoints": {"webhook_secret": WEBHOOK_SECRET}, "description": f"deploy key {token}"}
    with pytest.raises(SecretLeakRefused) as caught:
        ensure_no_secrets(record, "record", "register")

    error = caught.value
    assert isinstance(error, NexusError) and error.code == "secret_detected"
    assert error.message.startswith("refused to register record: it contains 2 secrets")
    assert "secret_field at record.endpoints.webhook_secret" in error.message
    assert "github_token at record.description" in error.message
    assert error.details == [
        {"location": "record.endpoints.webhook_secret", "kind": "secret_field", "severity": "high"},
        {"location": "record.description", "kind": "github_token", "severity": "high"},
    ]
    everything = json.dumps(error.to_dict()) + str(error)
    assert WEBHOOK_SECRET not in everything and token not in everything and token[:8] not in everything
    assert "environment" in (error.hint or "")


def test_clean_values_and_placeholders_pass_by_default() -> None:
    ensure_no_secrets({"name": "Quote Engine", "endpoints": {"token_env": "QUOTE_ENGINE_TOKEN"}}, "record")
    ensure_no_secrets({"webhook_secret": "changeme"}, "record")  # low severity: reported by scan, not refused
    with pytest.raises(SecretLeakRefused):
        ensure_no_secrets({"webhook_secret": "changeme"}, "record", min_severity="low")


def test_redact_replaces_each_secret_with_its_kind_and_keeps_the_rest() -> None:
    token, bearer = fake("ghp_", 36), fake("", 40, seed=9)
    text = f"push with {token} then call Authorization: Bearer {bearer} for quotes"
    assert redact(text) == (
        "push with [REDACTED:github_token] then call Authorization: Bearer [REDACTED:bearer_token] for quotes"
    )
    assert redact("nothing secret in apps/glazing-scheduler at https://example.test/api") == (
        "nothing secret in apps/glazing-scheduler at https://example.test/api"
    )


@pytest.mark.parametrize(
    "shape",
    [
        lambda v: json.dumps({"webhook_secret": v, "events": ["order.approved"]}),
        lambda v: repr({"webhook_secret": v}),
        lambda v: f"webhook_secret={v} retries=3",
        lambda v: f"WEBHOOK_SECRET: {v}",
        lambda v: f"https://example.test/callback?token={v}&page=2",
    ],
)
def test_redact_finds_secret_assignments_in_json_reprs_env_lines_and_query_strings(shape) -> None:  # type: ignore[no-untyped-def]
    out = redact(shape(WEBHOOK_SECRET))
    assert WEBHOOK_SECRET not in out and "[REDACTED:secret_assignment]" in out


def test_redact_data_drops_or_masks_secret_fields_and_keeps_references() -> None:
    data = {"endpoints": {"webhook_secret": WEBHOOK_SECRET, "secret_env_var": "NEXUS_WEBHOOK_SECRET"}, "n": 3}
    assert redact_data(data) == {
        "endpoints": {"webhook_secret": "[REDACTED:secret_field]", "secret_env_var": "NEXUS_WEBHOOK_SECRET"},
        "n": 3,
    }
    assert redact_data(data, drop_fields=True)["endpoints"]["webhook_secret"] is None


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(RedactingFilter())
    log = logging.getLogger("nexus.test.secret_guard")
    token = fake("ghp_", 36)
    with caplog.at_level(logging.DEBUG, logger="nexus.test.secret_guard"):
        log.info("loaded config %s", {"webhook_secret": WEBHOOK_SECRET})
        log.warning("token " + token)
        try:
            raise RuntimeError(f"satellite rejected Bearer {fake('', 40, seed=5)}")
        except RuntimeError:
            log.exception("call failed")
    text = caplog.text
    assert WEBHOOK_SECRET not in text and token not in text and fake("", 40, seed=5) not in text
    assert "[REDACTED:secret_assignment]" in text and "[REDACTED:github_token]" in text
    assert "[REDACTED:bearer_token]" in text and "RuntimeError" in text
    assert all(r.getMessage() for r in caplog.records)  # records still format after redaction


def test_the_public_names_are_listed_and_importable() -> None:
    for name in secret_guard.__all__:
        assert hasattr(secret_guard, name), name
    public = {
        n
        for n, v in vars(secret_guard).items()
        if not n.startswith("_") and getattr(v, "__module__", "") == secret_guard.__name__
    }
    assert public <= set(secret_guard.__all__)
