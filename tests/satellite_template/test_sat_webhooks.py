"""POST /api/webhooks/nexus: verified, fresh, first-time deliveries reach their handler; nothing else does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from nexus_agent.wire.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookEnvelope, build_signed_request
from satellite_template import SatelliteSettings

SECRET = "test-webhook-secret-0123456789"
NOW = 1_800_000_000
PATH = "/api/webhooks/nexus"


@pytest.fixture
def http(example) -> Iterator[TestClient]:
    settings = SatelliteSettings(webhook_secret=SECRET, max_webhook_bytes=4096)
    with TestClient(example.sat.create_app(settings, clock=lambda: NOW)) as client:
        yield client


def signed(event: str = "instruction.created", *, at: int = NOW, secret: str = SECRET, **data: object):
    envelope = WebhookEnvelope.new(event, data or {"instruction_id": "I-7"}, now=at)
    return build_signed_request(envelope, secret)


def test_a_signed_delivery_reaches_its_handler(http, example) -> None:
    body, headers = signed()
    response = http.post(PATH, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "processed", "delivery_id": headers["X-Nexus-Delivery"]}
    assert [e.data for e in example.received] == [{"instruction_id": "I-7"}]


def test_a_sync_handler_is_run_too(http, example) -> None:
    body, headers = signed("quote.accepted", quote_id="Q-1")
    assert http.post(PATH, content=body, headers=headers).status_code == 200
    assert example.received[0].event == "quote.accepted"


def test_an_event_without_handler_is_acknowledged_as_ignored(http, example) -> None:
    body, headers = signed("invoice.paid")
    response = http.post(PATH, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert example.received == []


def tamper(body: bytes) -> bytes:
    return body.replace(b"I-7", b"I-8")


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("tampered body", 401, "bad_signature"),
        ("wrong secret", 401, "bad_signature"),
        ("missing signature", 401, "missing_signature"),
        ("garbage signature", 401, "bad_signature"),
        ("stale timestamp", 401, "stale"),
        ("future timestamp", 401, "stale"),
        ("header disagrees with body", 400, "malformed"),
        ("missing delivery header", 400, "malformed"),
    ],
)
def test_a_bad_delivery_is_rejected_and_not_processed(http, example, case, status, reason) -> None:
    body, headers = signed()
    if case == "tampered body":
        body = tamper(body)
    elif case == "wrong secret":
        body, headers = signed(secret="another-secret-0123456789")
    elif case == "missing signature":
        del headers[SIGNATURE_HEADER]
    elif case == "garbage signature":
        headers[SIGNATURE_HEADER] = "not-hex"
    elif case == "stale timestamp":
        body, headers = signed(at=NOW - 301)
    elif case == "future timestamp":
        body, headers = signed(at=NOW + 301)
    elif case == "header disagrees with body":
        headers[TIMESTAMP_HEADER] = str(NOW - 1)
    elif case == "missing delivery header":
        del headers["X-Nexus-Delivery"]
    response = http.post(PATH, content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["code"] == "webhook_rejected"
    assert response.json()["details"] == {"reason": reason}
    assert SECRET not in response.text
    assert example.received == []


def test_a_replayed_delivery_is_rejected_with_409(http, example) -> None:
    body, headers = signed()
    assert http.post(PATH, content=body, headers=headers).status_code == 200
    replay = http.post(PATH, content=body, headers=headers)
    assert replay.status_code == 409
    assert replay.json()["details"] == {"reason": "replayed"}
    assert len(example.received) == 1


def test_a_signed_body_that_is_not_an_envelope_is_400(http, example) -> None:
    from nexus_agent.wire.signing import sign_body

    body = b"[1, 2, 3]"
    response = http.post(PATH, content=body, headers={SIGNATURE_HEADER: sign_body(body, SECRET)})
    assert response.status_code == 400
    assert example.received == []


def test_an_oversized_body_is_413_before_it_is_read(http, example) -> None:
    body, headers = signed(padding="x" * 5000)
    response = http.post(PATH, content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["details"] == {"reason": "too_large"}
    assert example.received == []


def test_an_oversized_chunked_body_is_413(http, example) -> None:
    body, headers = signed(padding="x" * 5000)
    chunks = iter([body[i : i + 1000] for i in range(0, len(body), 1000)])
    response = http.post(PATH, content=chunks, headers=headers)
    assert response.status_code == 413
    assert example.received == []


def test_a_failed_handler_answers_500_and_its_retry_is_processed(http, example) -> None:
    body, headers = signed("quote.failed")
    first = http.post(PATH, content=body, headers=headers)
    assert first.status_code == 500
    assert first.json()["code"] == "handler_failed"
    assert "first attempt fails" not in first.text
    retry = http.post(PATH, content=body, headers=headers)
    assert retry.status_code == 200
    assert len(example.received) == 2


def test_without_a_secret_every_delivery_is_refused_with_503(example) -> None:
    body, headers = signed()
    with TestClient(example.sat.create_app(SatelliteSettings(), clock=lambda: NOW)) as client:
        response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["details"] == {"reason": "not_configured"}
    assert example.received == []


def test_the_sqlite_replay_guard_remembers_across_app_restarts(example, tmp_path) -> None:
    settings = SatelliteSettings(webhook_secret=SECRET, replay_db=tmp_path / "replay.db")
    body, headers = signed()
    with TestClient(example.sat.create_app(settings, clock=lambda: NOW)) as client:
        assert client.post(PATH, content=body, headers=headers).status_code == 200
    with TestClient(example.sat.create_app(settings, clock=lambda: NOW)) as client:
        assert client.post(PATH, content=body, headers=headers).status_code == 409
    assert len(example.received) == 1


def test_only_post_is_allowed(http) -> None:
    assert http.get(PATH).status_code == 405


def test_health_runs_declared_checks_and_reports_degraded_with_503(example) -> None:
    @example.sat.health_check("price_list")
    async def price_list() -> bool:
        return True

    @example.sat.health_check("erp")
    def erp() -> bool:
        raise RuntimeError("erp password is hunter2")

    with TestClient(example.sat.create_app(SatelliteSettings(webhook_secret=SECRET))) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["price_list"] == {"status": "pass"}
    assert body["checks"]["erp"] == {"status": "fail"}
    assert "hunter2" not in response.text


def test_health_fails_the_webhook_check_when_events_are_subscribed_without_a_secret(example) -> None:
    with TestClient(example.sat.create_app(SatelliteSettings())) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["checks"]["webhooks"]["status"] == "fail"
