"""Signed webhooks between Nexus and its satellites (bottom layer: no I/O).

Nexus sends every event to a satellite as ``POST /api/webhooks/nexus`` with a
JSON :class:`WebhookEnvelope` as the body. The body is signed, the headers only
repeat what the signed body already says:

    X-Nexus-Signature   hex HMAC-SHA256 of the raw body under the shared secret
    X-Nexus-Delivery    the envelope's ``delivery_id``   (must match the body)
    X-Nexus-Timestamp   the envelope's ``timestamp``     (unix seconds; must match)
    X-Nexus-Event       the envelope's ``event``         (must match)

Both sides use these functions: Nexus calls :func:`build_signed_request`, the
satellite kit calls :func:`verify_request`, so the two cannot drift apart.

A rejected delivery raises :class:`WebhookRejected` whose ``http_status`` is
what the receiver answers; nothing is processed:

    reason              status  meaning
    too_large           413     body larger than the receiver accepts
    missing_signature   401     no X-Nexus-Signature header
    bad_signature       401     signature is not the HMAC of this body under our secret
    malformed           400     signed, but not a valid envelope, or headers disagree with it
    stale               401     timestamp outside the window (an expired credential, like a token)
    replayed            409     delivery id already accepted: "already processed, do not retry"
    not_configured      503     the receiver has no webhook secret
    guard_full          503     the replay guard is full: retry later

Checks run in that order (size, signature, envelope, freshness, replay): a body
is never parsed before its signature is verified.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus_agent.wire.errors import NexusError

__all__ = [
    "DEFAULT_WINDOW_S",
    "DELIVERY_HEADER",
    "DELIVERY_ID_PATTERN",
    "EVENT_HEADER",
    "EVENT_PATTERN",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InMemoryReplayGuard",
    "ReplayGuard",
    "WebhookEnvelope",
    "WebhookRejected",
    "build_signed_request",
    "sign_body",
    "signed_when",
    "verify_request",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Nexus-Signature"
DELIVERY_HEADER = "X-Nexus-Delivery"
TIMESTAMP_HEADER = "X-Nexus-Timestamp"
EVENT_HEADER = "X-Nexus-Event"
DEFAULT_WINDOW_S = 300

EVENT_PATTERN = r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$"
DELIVERY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_STATUS = {
    "too_large": 413,
    "missing_signature": 401,
    "bad_signature": 401,
    "malformed": 400,
    "stale": 401,
    "replayed": 409,
    "not_configured": 503,
    "guard_full": 503,
}


class WebhookRejected(NexusError):
    """A webhook delivery was refused; ``http_status`` is the answer to send, ``reason`` says why."""

    code = "webhook_rejected"

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        if reason not in _STATUS:
            raise ValueError(f"unknown webhook rejection reason {reason!r}")
        super().__init__(message, hint=hint, details={"reason": reason})
        self.reason = reason
        self.http_status = _STATUS[reason]


class WebhookEnvelope(BaseModel):
    """One event delivery. Unknown fields are ignored so older satellites accept newer envelopes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    delivery_id: Annotated[
        str, Field(pattern=DELIVERY_ID_PATTERN, description="Unique per delivery; retries reuse it.")
    ]
    event: Annotated[str, Field(pattern=EVENT_PATTERN, max_length=200, examples=["instruction.created"])]
    timestamp: Annotated[int, Field(ge=0, description="Unix seconds when this delivery was signed.")]
    source: Annotated[str, Field(min_length=1, max_length=200)] = "nexus"
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def new(
        cls, event: str, data: Mapping[str, Any] | None = None, *, now: float, source: str = "nexus"
    ) -> WebhookEnvelope:
        """A fresh envelope with a random delivery id, stamped ``now`` (unix seconds)."""
        return cls(delivery_id=uuid.uuid4().hex, event=event, timestamp=int(now), source=source, data=dict(data or {}))


@runtime_checkable
class ReplayGuard(Protocol):
    """Remembers accepted delivery ids until they expire. Implementations must be thread-safe."""

    def claim(self, delivery_id: str, *, now: int, expires_at: int) -> bool:
        """Record ``delivery_id`` and return True, or return False if it is already held and unexpired.

        Raise :class:`WebhookRejected` (``guard_full``) rather than forget an unexpired id.
        """
        ...

    def release(self, delivery_id: str) -> None:
        """Forget ``delivery_id`` (its handler failed), so a retry of it is accepted."""
        ...


class InMemoryReplayGuard:
    """A bounded, thread-safe :class:`ReplayGuard` in a dict. Lost on restart; see the SQLite one for that.

    When ``max_entries`` unexpired ids are held it fails closed (``guard_full``, 503) instead of
    evicting ids that could then be replayed.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._expiry: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def __bool__(self) -> bool:  # an empty guard is still a guard (`guard or default` must keep it)
        return True

    def claim(self, delivery_id: str, *, now: int, expires_at: int) -> bool:
        with self._lock:
            self._purge(now)
            if delivery_id in self._expiry:
                return False
            if len(self._expiry) >= self.max_entries:
                raise WebhookRejected(
                    "guard_full",
                    f"too many recent deliveries ({self.max_entries}) to guard against replays",
                    hint="Retry the delivery later.",
                )
            self._expiry[delivery_id] = expires_at
            return True

    def release(self, delivery_id: str) -> None:
        with self._lock:
            self._expiry.pop(delivery_id, None)

    def _purge(self, now: int) -> None:
        # Entries are nearly in expiry order (insertion order); sweep expired ones at the front.
        while self._expiry:
            first, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                break
            del self._expiry[first]
        if len(self._expiry) >= self.max_entries:  # out-of-order expiries: one full sweep
            for key in [k for k, exp in self._expiry.items() if exp <= now]:
                del self._expiry[key]


def sign_body(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw ``body`` under ``secret``."""
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature: str | None, secret: str) -> None:
    """Raise :class:`WebhookRejected` unless ``signature`` is the hex HMAC of ``body`` (constant-time)."""
    if not signature:
        raise WebhookRejected(
            "missing_signature",
            f"the delivery has no {SIGNATURE_HEADER} header",
            hint="Sign the raw body with HMAC-SHA256 and send its hex digest in that header.",
        )
    presented = signature.strip().lower()
    # The format check reveals nothing about the secret; the comparison itself is constant-time.
    if not _HEX_SHA256.match(presented) or not hmac.compare_digest(presented, sign_body(body, secret)):
        raise WebhookRejected(
            "bad_signature",
            f"the {SIGNATURE_HEADER} header does not match the body",
            hint="Check that sender and receiver share the same webhook secret and that the body was not changed.",
        )


def build_signed_request(envelope: WebhookEnvelope, secret: str) -> tuple[bytes, dict[str, str]]:
    """Serialise and sign ``envelope``: the exact body bytes to send and the headers to send with them."""
    body = envelope.model_dump_json().encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_body(body, secret),
        DELIVERY_HEADER: envelope.delivery_id,
        TIMESTAMP_HEADER: str(envelope.timestamp),
        EVENT_HEADER: envelope.event,
    }
    return body, headers


def verify_request(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    seen: ReplayGuard,
    window_s: int = DEFAULT_WINDOW_S,
    max_bytes: int | None = None,
) -> WebhookEnvelope:
    """Check one delivery and return its envelope, or raise :class:`WebhookRejected`.

    On success the delivery id is claimed in ``seen`` until ``max(timestamp, now) + window_s``;
    if handling it then fails, call ``seen.release(envelope.delivery_id)`` so a retry is accepted.
    """
    if max_bytes is not None and len(body) > max_bytes:
        raise WebhookRejected("too_large", f"the body is larger than {max_bytes} bytes")
    lower = {k.lower(): v for k, v in headers.items()}
    verify_signature(body, lower.get(SIGNATURE_HEADER.lower()), secret)

    try:
        envelope = WebhookEnvelope.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WebhookRejected("malformed", f"the signed body is not a valid webhook envelope: {_short(exc)}") from None
    expected = {
        DELIVERY_HEADER: envelope.delivery_id,
        TIMESTAMP_HEADER: str(envelope.timestamp),
        EVENT_HEADER: envelope.event,
    }
    for name, value in expected.items():
        if lower.get(name.lower(), "").strip() != value:
            raise WebhookRejected("malformed", f"the {name} header is missing or does not match the signed body")

    current = int(now)
    if abs(current - envelope.timestamp) > window_s:
        raise WebhookRejected(
            "stale",
            f"the delivery was signed {signed_when(envelope.timestamp, current)}; at most {window_s} s either way "
            "are accepted",
            hint="Re-sign the delivery with a fresh timestamp, and check that both clocks are right.",
        )
    if not seen.claim(envelope.delivery_id, now=current, expires_at=max(envelope.timestamp, current) + window_s):
        raise WebhookRejected("replayed", f"delivery {envelope.delivery_id} was already accepted")
    return envelope


def signed_when(timestamp: int, now: int) -> str:
    """``3600 s ago`` for a past signature, ``120 s in the future`` for one dated ahead of ``now``."""
    skew = now - timestamp
    return f"{skew} s ago" if skew >= 0 else f"{-skew} s in the future"


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        return f"{loc}: {first.get('msg', 'invalid')}"
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
