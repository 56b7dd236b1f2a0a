"""Webhooks from legacy apps into Nexus: ``POST /api/webhooks/apps/<slug>``.

A legacy app posts its own events signed with its webhook secret (the one Nexus signs its
messages to the app with): HMAC-SHA256 of the raw body, hex, optionally prefixed ``sha256=``,
in the header its registration names (``endpoints.signature_header``, default
``X-Nexus-Signature``). The body is a JSON object; these spellings are accepted::

    event        "event" | "type" | "event_type"               e.g. "stock.low", "instruction.completed"
    delivery id  X-Nexus-Delivery | "delivery_id" | "event_id" | "id"   (else a digest of the body)
    timestamp    X-Nexus-Timestamp | "timestamp"              unix seconds or ISO 8601 (required)
    data         "data" | "payload"                            (else the rest of the body)

The route answers, checking in this order (a body is never parsed before its signature is verified):

    404  not_found          no app with that slug in the registry
    503  not_configured     the app's secret is not set in Nexus's environment
    413  too_large          body over ``max_bytes``
    401  missing_signature / bad_signature
    400  malformed          not a JSON object, no event name, or no timestamp
    401  stale              signed more than ``window_s`` ago (or ahead)
    409  replayed           this delivery id of this app was already accepted
    202  accepted           recorded; ``outcome`` says what Nexus did with it
    500  handler_failed     handling failed; the delivery id is forgotten so a retry is handled

Accepted events are kept in the ``app_events`` table (its key is also the replay guard). On PostgreSQL
recording the outcome also NOTIFYs every replica (:mod:`nexus_agent.events.app_event_notices`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from memory.database import Database
from nexus_agent.events.app_event_notices import NOTIFY_SQL
from nexus_agent.wire.errors import NexusError, NotFound
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import redact
from nexus_agent.wire.signing import (
    DEFAULT_WINDOW_S,
    DELIVERY_HEADER,
    DELIVERY_ID_PATTERN,
    EVENT_PATTERN,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRejected,
    signed_when,
    verify_signature,
)
from nexus_agent.wire.webhook_body import read_webhook_body

if TYPE_CHECKING:  # the PostgreSQL database shared by replicas (NEXUS_DATABASE_URL)
    from memory.pg.database import PgDatabase

__all__ = [
    "APP_WEBHOOK_PREFIX",
    "AppEvent",
    "AppEventStore",
    "AppWebhookTarget",
    "app_webhook_route",
    "parse_app_event",
]

log = logging.getLogger("nexus.events.apps")

APP_WEBHOOK_PREFIX = "/api/webhooks/apps/"
_EVENT = re.compile(EVENT_PATTERN)
_DELIVERY = re.compile(DELIVERY_ID_PATTERN)
_ENVELOPE_KEYS = {"event", "type", "event_type", "delivery_id", "event_id", "id", "timestamp", "source"}


class AppEvent(BaseModel):
    """One verified event a legacy app posted, as Nexus keeps it (data redacted of anything secret)."""

    slug: str
    event: str
    delivery_id: str
    timestamp: int = Field(description="When the app signed it (unix seconds).")
    received_at: float
    data: dict[str, Any] = Field(default_factory=dict)
    outcome: str = Field("", description="What Nexus did with it, e.g. 'instruction X completed'.")
    id: int | None = None


@dataclass(frozen=True)
class AppWebhookTarget:
    """What the route needs to know about the app an event claims to come from."""

    record: AppRecord
    secret: str


def _timestamp(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
    return None


def _first(body: dict[str, Any], *keys: str) -> Any:
    return next((body[k] for k in keys if body.get(k) not in (None, "")), None)


def parse_app_event(slug: str, body: bytes, headers: dict[str, str], *, received_at: float) -> AppEvent:
    """The event in a signed body (call only after the signature is verified); WebhookRejected if malformed."""
    try:
        payload = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("malformed", "the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("malformed", "the signed body is not a JSON object")
    event = _first(payload, "event", "type", "event_type")
    if not isinstance(event, str) or not _EVENT.match(event) or len(event) > 200:
        raise WebhookRejected(
            "malformed",
            "the body names no event, or not as lower-case words joined by dots",
            hint='Send {"event": "stock.low", "timestamp": ..., "data": {...}}.',
        )
    stamp = _timestamp(headers.get(TIMESTAMP_HEADER.lower()) or payload.get("timestamp"))
    if stamp is None:
        raise WebhookRejected(
            "malformed",
            "the event has no timestamp (unix seconds or ISO 8601), so Nexus cannot refuse replays of it",
            hint="Sign a 'timestamp' into the body (or send X-Nexus-Timestamp).",
        )
    given = headers.get(DELIVERY_HEADER.lower()) or _first(payload, "delivery_id", "event_id", "id")
    delivery = str(given) if given is not None else ""
    if not _DELIVERY.match(delivery):
        delivery = "sha256-" + hashlib.sha256(body).hexdigest()[:40]
    data = _first(payload, "data", "payload")
    if not isinstance(data, dict):
        data = {k: v for k, v in payload.items() if k not in _ENVELOPE_KEYS}
    return AppEvent(slug=slug, event=event, delivery_id=delivery, timestamp=stamp, received_at=received_at, data=data)


def redacted(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with anything that looks like a secret replaced (what Nexus stores and shows)."""
    text = redact(json.dumps(data, ensure_ascii=False, default=str))
    try:
        value = json.loads(text)
    except ValueError:
        return {"redacted": True}
    return value if isinstance(value, dict) else {"value": value}


class AppEventStore:
    """The ``app_events`` table: accepted events by (slug, delivery id). Apply ``EVENTS_MIGRATIONS`` first
    (``EVENTS_PG_MIGRATIONS`` on PostgreSQL: the same statements run on both engines)."""

    def __init__(self, database: Database | PgDatabase) -> None:
        self.database = database
        self._tells_replicas = not isinstance(database, Database)  # PostgreSQL: other replicas may have listeners

    def claim(self, event: AppEvent) -> int | None:
        """Record the event; its row id, or None if this app already sent this delivery id."""
        with self.database.write() as db:
            cursor = db.execute(
                "INSERT INTO app_events (slug, delivery_id, event, signed_at, received_at, data, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?, '') ON CONFLICT (slug, delivery_id) DO NOTHING",
                [
                    event.slug,
                    event.delivery_id,
                    event.event,
                    event.timestamp,
                    event.received_at,
                    json.dumps(redacted(event.data), ensure_ascii=False, default=str),
                ],
            )
            return cursor.lastrowid if cursor.rowcount == 1 else None

    def set_outcome(self, row_id: int, outcome: str) -> None:
        """Record what Nexus did; on PostgreSQL also NOTIFY every replica (slug and id only), sent on commit."""
        with self.database.write() as db:
            db.execute("UPDATE app_events SET outcome = ? WHERE id = ?", [outcome[:1000], row_id])
            if self._tells_replicas:
                db.execute(NOTIFY_SQL, [row_id])

    def forget(self, row_id: int) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM app_events WHERE id = ?", [row_id])

    def recent(self, slug: str | None = None, limit: int = 50) -> list[AppEvent]:
        where, args = ("WHERE slug = ?", [slug]) if slug else ("", [])
        with self.database.read() as db:
            rows = db.execute(
                "SELECT id, slug, event, delivery_id, signed_at, received_at, data, outcome FROM app_events "
                f"{where} ORDER BY id DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        keys = ("id", "slug", "event", "delivery_id", "timestamp", "received_at", "data", "outcome")
        return [AppEvent.model_validate({**dict(zip(keys, r, strict=True)), "data": json.loads(r[6])}) for r in rows]


def _error(exc: NexusError, status: int | None = None) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=status or exc.http_status)


def _verify(target: AppWebhookTarget, body: bytes, request: Request) -> None:
    header = target.record.endpoints.signature_header or SIGNATURE_HEADER
    given = request.headers.get(header, "").strip()
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    try:
        verify_signature(body, given or None, target.secret)
    except WebhookRejected as exc:
        raise WebhookRejected(exc.reason, exc.message.replace(SIGNATURE_HEADER, header), hint=exc.hint) from None


def app_webhook_route(
    target: Callable[[str], Awaitable[AppWebhookTarget]],
    on_event: Callable[[AppEvent], Awaitable[str]],
    database: Callable[[], Database | PgDatabase],
    *,
    max_bytes: int = 1024 * 1024,
    window_s: int = DEFAULT_WINDOW_S,
    clock: Callable[[], float] = time.time,
) -> Route:
    """The Starlette route (see the module docstring). ``target(slug)`` raises NotFound or WebhookRejected
    (``not_configured``); ``on_event`` handles an accepted event and returns what it did."""

    async def endpoint(request: Request) -> JSONResponse:
        slug = str(request.path_params["slug"])
        client = request.client.host if request.client else "unknown"
        try:
            app = await target(slug)
            body = await read_webhook_body(request, max_bytes)
            _verify(app, body, request)
            event = parse_app_event(slug, body, {k.lower(): v for k, v in request.headers.items()}, received_at=clock())
            now = int(clock())
            if abs(now - event.timestamp) > window_s:
                raise WebhookRejected(
                    "stale",
                    f"the event was signed {signed_when(event.timestamp, now)}; at most {window_s} s either way "
                    "are accepted",
                    hint="Sign each event with a fresh timestamp, and check that both clocks are right.",
                )
        except (WebhookRejected, NotFound) as exc:
            reason = exc.reason if isinstance(exc, WebhookRejected) else "unknown_app"
            log.warning("webhook for app %s from %s rejected: %s", slug[:64], client, reason)
            return _error(exc)
        store = AppEventStore(database())
        row = await store.database.run(store.claim, event)
        if row is None:
            return _error(WebhookRejected("replayed", f"delivery {event.delivery_id} of {slug} was already accepted"))
        event.id = row
        try:
            outcome = await on_event(event)
        except Exception as exc:
            log.exception("handling event %s of %s failed", event.event, slug)
            await store.database.run(store.forget, row)
            if isinstance(exc, NexusError):
                return _error(exc)
            failure = NexusError(f"handling the {event.event} event failed", hint="Send it again later.")
            failure.code = "handler_failed"
            return _error(failure, 500)
        await store.database.run(store.set_outcome, row, outcome)
        log.info("event %s of %s accepted: %s", event.event, slug, outcome)
        answer = {"status": "accepted", "delivery_id": event.delivery_id, "event": event.event, "outcome": outcome}
        return JSONResponse(answer, status_code=202)

    return Route(APP_WEBHOOK_PREFIX + "{slug}", endpoint, methods=["POST"], name="app_webhook")
