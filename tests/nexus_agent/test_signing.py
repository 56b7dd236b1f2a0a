"""nexus_agent.wire.signing: what Nexus signs, a satellite verifies; everything else is rejected with its status."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InMemoryReplayGuard,
    ReplayGuard,
    WebhookEnvelope,
    WebhookRejected,
    build_signed_request,
    sign_body,
    verify_request,
    verify_signature,
)

SECRET = "test-webhook-secret-0123456789"
NOW = 1_800_000_000


def envelope(**changes: object) -> WebhookEnvelope:
    fields = {"delivery_id": "d-1", "event": "instruction.created", "timestamp": NOW, "data": {"id": "I-1"}}
    return WebhookEnvelope.model_validate(fields | changes)


def verify(body: bytes, headers: dict[str, str], *, guard: ReplayGuard | None = None, now: int = NOW, **kw: object):
    return verify_request(body, headers, SECRET, now=now, seen=InMemoryReplayGuard() if guard is None else guard, **kw)


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"a": 1}'
    assert sign_body(body, SECRET) == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_a_signed_request_round_trips() -> None:
    sent = envelope()
    body, headers = build_signed_request(sent, SECRET)
    assert headers[SIGNATURE_HEADER] == sign_body(body, SECRET)
    assert (headers[DELIVERY_HEADER], headers[TIMESTAMP_HEADER], headers[EVENT_HEADER]) == (
        "d-1",
        str(NOW),
        "instruction.created",
    )
    assert json.loads(body)["delivery_id"] == "d-1"  # the id and time are inside the signed body too
    assert verify(body, headers) == sent


def test_header_names_are_case_insensitive_and_hex_case_does_not_matter() -> None:
    body, headers = build_signed_request(envelope(), SECRET)
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered[SIGNATURE_HEADER.lower()] = lowered[SIGNATURE_HEADER.lower()].upper()
    assert verify(body, lowered).delivery_id == "d-1"


def test_unknown_envelope_fields_are_ignored_for_forward_compatibility() -> None:
    body = json.dumps(envelope().model_dump() | {"priority": "high"}).encode()
    headers = {SIGNATURE_HEADER: sign_body(body, SECRET), DELIVERY_HEADER: "d-1", TIMESTAMP_HEADER: str(NOW)}
    headers[EVENT_HEADER] = "instruction.created"
    assert verify(body, headers).event == "instruction.created"


def rejection(body: bytes, headers: dict[str, str], **kw: object) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as info:
        verify(body, headers, **kw)
    assert isinstance(info.value, NexusError)
    assert SECRET not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("case", "reason", "status"),
    [
        ("tampered body", "bad_signature", 401),
        ("wrong secret", "bad_signature", 401),
        ("truncated signature", "bad_signature", 401),
        ("missing signature", "missing_signature", 401),
        ("empty signature", "missing_signature", 401),
        ("stale", "stale", 401),
        ("from the future", "stale", 401),
        ("not json", "malformed", 400),
        ("not an envelope", "malformed", 400),
        ("delivery header differs", "malformed", 400),
        ("event header missing", "malformed", 400),
        ("too large", "too_large", 413),
    ],
)
def test_each_bad_delivery_is_rejected_with_its_status(case: str, reason: str, status: int) -> None:
    body, headers = build_signed_request(envelope(), SECRET)
    kw: dict[str, object] = {}
    if case == "tampered body":
        body = body.replace(b"I-1", b"I-2")
    elif case == "wrong secret":
        body, headers = build_signed_request(envelope(), "another-secret-0123456789")
    elif case == "truncated signature":
        headers[SIGNATURE_HEADER] = headers[SIGNATURE_HEADER][:-1]
    elif case == "missing signature":
        del headers[SIGNATURE_HEADER]
    elif case == "empty signature":
        headers[SIGNATURE_HEADER] = ""
    elif case == "stale":
        kw["now"] = NOW + 301
    elif case == "from the future":
        kw["now"] = NOW - 301
    elif case in {"not json", "not an envelope"}:
        body = b"{not json" if case == "not json" else b'{"event": "x"}'
        headers[SIGNATURE_HEADER] = sign_body(body, SECRET)
    elif case == "delivery header differs":
        headers[DELIVERY_HEADER] = "d-2"
    elif case == "event header missing":
        del headers[EVENT_HEADER]
    elif case == "too large":
        kw["max_bytes"] = len(body) - 1
    rejected = rejection(body, headers, **kw)
    assert (rejected.reason, rejected.http_status) == (reason, status)
    assert rejected.to_dict()["details"] == {"reason": reason}
    if case == "stale":
        assert "signed 301 s ago;" in rejected.message
    elif case == "from the future":
        assert "signed 301 s in the future;" in rejected.message


def test_the_window_edge_is_accepted() -> None:
    body, headers = build_signed_request(envelope(), SECRET)
    assert verify(body, headers, now=NOW + 300, window_s=300)


def test_a_replayed_delivery_is_409_and_a_released_one_is_accepted_again() -> None:
    guard = InMemoryReplayGuard()
    body, headers = build_signed_request(envelope(), SECRET)
    verify(body, headers, guard=guard)
    assert rejection(body, headers, guard=guard).http_status == 409
    guard.release("d-1")
    assert verify(body, headers, guard=guard).delivery_id == "d-1"


def test_a_rejected_delivery_is_not_remembered() -> None:
    guard = InMemoryReplayGuard()
    body, headers = build_signed_request(envelope(), SECRET)
    rejection(body, headers, guard=guard, now=NOW + 1000)
    assert len(guard) == 0


def test_the_memory_guard_forgets_ids_once_they_expire() -> None:
    guard = InMemoryReplayGuard()
    assert guard.claim("d-1", now=NOW, expires_at=NOW + 300)
    assert not guard.claim("d-1", now=NOW + 299, expires_at=NOW + 600)
    assert guard.claim("d-1", now=NOW + 300, expires_at=NOW + 600)
    assert len(guard) == 1


def test_the_memory_guard_is_bounded_and_fails_closed() -> None:
    guard = InMemoryReplayGuard(max_entries=2)
    guard.claim("a", now=NOW, expires_at=NOW + 10)
    guard.claim("b", now=NOW, expires_at=NOW + 5)
    with pytest.raises(WebhookRejected) as info:
        guard.claim("c", now=NOW, expires_at=NOW + 10)
    assert (info.value.reason, info.value.http_status) == ("guard_full", 503)
    assert not guard.claim("a", now=NOW + 1, expires_at=NOW + 10)  # nothing was evicted
    assert guard.claim("c", now=NOW + 5, expires_at=NOW + 10)  # "b" expired out of order


def test_a_new_envelope_has_a_unique_delivery_id() -> None:
    first = WebhookEnvelope.new("quote.accepted", {"quote_id": "Q-1"}, now=NOW + 0.9)
    second = WebhookEnvelope.new("quote.accepted", now=NOW)
    assert first.delivery_id != second.delivery_id
    assert (first.timestamp, first.source, second.data) == (NOW, "nexus", {})


@pytest.mark.parametrize("bad", [{"event": "Instruction Created"}, {"delivery_id": "../x"}, {"timestamp": -1}])
def test_an_invalid_envelope_is_refused_when_built(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        envelope(**bad)


def test_an_empty_secret_cannot_sign_or_verify() -> None:
    with pytest.raises(ValueError):
        sign_body(b"x", "")
    with pytest.raises(ValueError):
        verify_signature(b"x", "0" * 64, "")


def test_the_public_names_are_listed_and_importable() -> None:
    import nexus_agent.wire.signing as signing

    assert all(hasattr(signing, name) for name in signing.__all__)
    public = {
        n
        for n, v in vars(signing).items()
        if not n.startswith("_") and getattr(v, "__module__", "") == signing.__name__
    }
    assert public <= set(signing.__all__)
