"""Webhooks with legacy apps: the shapes of their own events, and the header they read our signature from."""

from __future__ import annotations

import json

import httpx
import pytest

from nexus_agent.events import WebhookSecrets
from nexus_agent.events._send import send_signed
from nexus_agent.events.app_webhooks import parse_app_event, redacted
from nexus_agent.events.models import OutboxEntry
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.signing import WebhookRejected, sign_body

SECRET = "legacy-secret-0123456789abcdef"


def test_a_legacy_event_may_name_its_type_and_stamp_an_iso_time() -> None:
    body = json.dumps({"type": "quote.generated", "timestamp": "2026-12-05T10:00:00Z", "quote_id": "QUO-1"}).encode()
    event = parse_app_event("quote-engine", body, {}, received_at=0)
    assert (event.event, event.timestamp) == ("quote.generated", 1796464800)
    assert event.data == {"quote_id": "QUO-1"}  # no data field: the rest of the body is the data
    assert event.delivery_id.startswith("sha256-")  # no id given: the same body is the same delivery


def test_an_event_without_a_timestamp_or_a_name_is_malformed() -> None:
    for body in ({"event": "stock.low"}, {"timestamp": 1, "data": {}}, {"event": "Stock Low!", "timestamp": 1}):
        with pytest.raises(WebhookRejected) as caught:
            parse_app_event("stock-ledger", json.dumps(body).encode(), {}, received_at=0)
        assert caught.value.reason == "malformed"


def test_stored_event_data_is_redacted() -> None:
    kept = redacted({"db": "postgres://app:S3cretPassw0rd@db.example.test/app", "sku": "EXT-6063-50x50"})
    assert "S3cretPassw0rd" not in json.dumps(kept) and kept["sku"] == "EXT-6063-50x50"


@pytest.mark.anyio
async def test_a_notice_to_a_legacy_app_carries_the_signature_in_its_own_header_too() -> None:
    record = AppRecord(
        slug="yard-tracker",
        name="Yard Tracker",
        endpoints={"webhook_url": "http://yard.example.test/hook", "signature_header": "X-Webhook-Signature"},  # type: ignore[arg-type]
    )
    secrets = WebhookSecrets({"SATELLITE_YARD_TRACKER_WEBHOOK_SECRET": SECRET}, [record])
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    entry = OutboxEntry.model_validate(
        {
            "id": 1,
            "delivery_id": "d-1",
            "event": "instruction.created",
            "target": "yard-tracker",
            "url": "http://yard.example.test/hook",
            "data": {"instruction_id": "i-1"},
            "status": "in_flight",
            "attempts": 0,
            "next_attempt_at": 0,
            "created_at": 0,
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        outcome = await send_signed(
            http,
            entry,
            secrets("yard-tracker"),
            timestamp=1,
            timeout_s=5,
            max_response_bytes=1000,
            user_agent="t",
            signature_header=secrets.signature_header("yard-tracker"),
        )
    assert outcome.delivered
    request = seen[0]
    assert request.headers["X-Webhook-Signature"] == sign_body(request.content, SECRET)
    assert request.headers["X-Nexus-Signature"] == request.headers["X-Webhook-Signature"]
