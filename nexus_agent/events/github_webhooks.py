"""GitHub webhooks into Nexus: ``POST /api/webhooks/github`` (registration issues, comments, pushes).

GitHub signs each delivery: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``
under the webhook's secret; ``X-GitHub-Event`` names the event and ``X-GitHub-Delivery`` is a
unique id, the same on a redelivery. The route checks, in order, and answers:

    503  not_configured     no GitHub webhook secret is configured
    413  too_large          the body is larger than ``max_bytes`` (checked before it is read in full)
    401  missing_signature / bad_signature   the body was not signed with our secret (constant-time check)
    400  malformed          no event or delivery header, or the signed body is not a JSON object of that event
    200  ignored            an event Nexus does not handle (anything but issues, issue_comment, push, ping)
    200  duplicate          this delivery id was already accepted (kept in ``github_deliveries``)
    202  accepted           verified, new, and ``on_event`` returned
    500  handler_failed     ``on_event`` raised; the delivery id is forgotten so a redelivery is handled

``on_event`` receives a typed :class:`GitHubEvent` and should return quickly (GitHub waits
10 s): queue slow work rather than doing it inline. Bodies are never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from memory.database import Database
from nexus_agent.wire.errors import NexusError
from nexus_agent.wire.signing import WebhookRejected
from nexus_agent.wire.webhook_body import read_webhook_body

if TYPE_CHECKING:  # the PostgreSQL database shared by replicas (NEXUS_DATABASE_URL)
    from memory.pg.database import PgDatabase

__all__ = [
    "GITHUB_EVENTS",
    "GITHUB_WEBHOOK_PATH",
    "GitHubComment",
    "GitHubCommit",
    "GitHubDeliveries",
    "GitHubEvent",
    "GitHubIssue",
    "GitHubPush",
    "github_webhook_route",
    "parse_github_event",
    "verify_github_signature",
]

log = logging.getLogger("nexus.events.github")

GITHUB_WEBHOOK_PATH = "/api/webhooks/github"
GITHUB_EVENTS = frozenset({"issues", "issue_comment", "push", "ping"})
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")
_DELIVERY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}$")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GitHubIssue(_Loose):
    number: int
    title: str = ""
    body: str | None = None
    state: str | None = None
    labels: list[str] = Field(default_factory=list)
    url: str | None = None
    author: str | None = None


class GitHubComment(_Loose):
    id: int
    body: str | None = None
    url: str | None = None
    author: str | None = None


class GitHubCommit(_Loose):
    id: str
    message: str = ""
    added: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class GitHubPush(_Loose):
    ref: str
    before: str | None = None
    after: str | None = None
    commits: list[GitHubCommit] = Field(default_factory=list)
    pusher: str | None = None

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    def changed_paths(self) -> set[str]:
        return {p for c in self.commits for p in (*c.added, *c.modified, *c.removed)}


class GitHubEvent(_Loose):
    """One verified GitHub delivery. ``payload`` is GitHub's whole JSON, for fields not modelled here."""

    delivery_id: str
    event: Literal["issues", "issue_comment", "push", "ping"]
    action: str | None = None
    repository: str | None = Field(None, description="owner/name")
    sender: str | None = None
    issue: GitHubIssue | None = None
    comment: GitHubComment | None = None
    push: GitHubPush | None = None
    zen: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)


def verify_github_signature(body: bytes, header: str | None, secret: str) -> None:
    """Raise :class:`WebhookRejected` unless ``header`` is ``sha256=`` + the hex HMAC of ``body`` (constant-time)."""
    if not header:
        raise WebhookRejected("missing_signature", f"the delivery has no {SIGNATURE_HEADER} header")
    match = _SIGNATURE.match(header.strip().lower())
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    if match is None or not hmac.compare_digest(match.group(1), expected):
        raise WebhookRejected(
            "bad_signature",
            f"the {SIGNATURE_HEADER} header does not match the body",
            hint="Give the GitHub webhook the same secret Nexus has, with content type application/json.",
        )


def _login(value: Any) -> str | None:
    return value.get("login") if isinstance(value, dict) else None


def parse_github_event(event: str, delivery_id: str, payload: dict[str, Any]) -> GitHubEvent:
    """A typed event from GitHub's payload; :class:`WebhookRejected` (``malformed``) if it is not that event."""
    repo = payload.get("repository")
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event,
        "action": payload.get("action"),
        "repository": repo.get("full_name") if isinstance(repo, dict) else None,
        "sender": _login(payload.get("sender")),
        "zen": payload.get("zen"),
        "payload": payload,
    }
    if event in {"issues", "issue_comment"}:
        issue = payload.get("issue") or {}
        labels = issue.get("labels") if isinstance(issue, dict) else None
        fields["issue"] = {
            **(issue if isinstance(issue, dict) else {}),
            "labels": [lb.get("name", "") if isinstance(lb, dict) else str(lb) for lb in labels or []],
            "url": issue.get("html_url") if isinstance(issue, dict) else None,
            "author": _login(issue.get("user")) if isinstance(issue, dict) else None,
        }
    if event == "issue_comment":
        comment = payload.get("comment") or {}
        if isinstance(comment, dict):
            fields["comment"] = {**comment, "url": comment.get("html_url"), "author": _login(comment.get("user"))}
    if event == "push":
        pusher = payload.get("pusher")
        fields["push"] = {**payload, "pusher": pusher.get("name") if isinstance(pusher, dict) else None}
    try:
        return GitHubEvent.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        raise WebhookRejected("malformed", f"the {event} payload is invalid at {where}: {first.get('msg')}") from None


class GitHubDeliveries:
    """``X-GitHub-Delivery`` ids already accepted (table ``github_deliveries``; apply ``EVENTS_MIGRATIONS``)."""

    def __init__(self, database: Database | PgDatabase, *, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = clock

    def claim(self, event: GitHubEvent) -> bool:
        """Record the delivery; False if it was already recorded."""
        with self.database.write() as db:
            cursor = db.execute(
                "INSERT INTO github_deliveries (delivery_id, event, action, repository, received_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
                [event.delivery_id, event.event, event.action, event.repository, self._clock()],
            )
            return cursor.rowcount == 1

    def forget(self, delivery_id: str) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM github_deliveries WHERE delivery_id = ?", [delivery_id])

    def purge(self, older_than_s: float) -> int:
        with self.database.write() as db:
            cursor = db.execute("DELETE FROM github_deliveries WHERE received_at < ?", [self._clock() - older_than_s])
            return cursor.rowcount


def _error(exc: NexusError, status: int | None = None) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=status or exc.http_status)


def _payload(body: bytes, content_type: str) -> dict[str, Any]:
    try:
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            text = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload", [""])[0]
        else:
            text = body.decode("utf-8")
        payload = json.loads(text)
    except ValueError:  # bad UTF-8, bad form encoding, bad JSON
        raise WebhookRejected("malformed", "the signed body is not a JSON payload") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("malformed", "the signed body is not a JSON object")
    return payload


def github_webhook_route(
    secret_provider: Callable[[], str | None],
    on_event: Callable[[GitHubEvent], Awaitable[None]],
    database: Database | PgDatabase | Callable[[], Database | PgDatabase],
    *,
    path: str = GITHUB_WEBHOOK_PATH,
    max_bytes: int = 2 * 1024 * 1024,
    clock: Callable[[], float] = time.time,
) -> Route:
    """The Starlette route receiving GitHub webhooks (see the module docstring for its answers).

    ``database`` may be a function returning it, for apps whose lifespan opens the database.
    """

    def deliveries() -> GitHubDeliveries:
        return GitHubDeliveries(database() if callable(database) else database, clock=clock)

    async def endpoint(request: Request) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        try:
            secret = secret_provider()
            if not secret:
                raise WebhookRejected(
                    "not_configured",
                    "Nexus has no GitHub webhook secret",
                    hint="Set the GitHub webhook secret in Nexus's environment and restart it.",
                )
            body = await read_webhook_body(request, max_bytes)
            verify_github_signature(body, request.headers.get(SIGNATURE_HEADER), secret)
            name = request.headers.get("x-github-event", "").strip()
            delivery_id = request.headers.get("x-github-delivery", "").strip()
            if not name or not _DELIVERY.match(delivery_id):
                raise WebhookRejected("malformed", "the X-GitHub-Event or X-GitHub-Delivery header is missing or bad")
            if name not in GITHUB_EVENTS:
                log.info("github %s delivery %s ignored", name[:50], delivery_id)
                return JSONResponse({"status": "ignored", "delivery_id": delivery_id, "event": name[:50]})
            event = parse_github_event(name, delivery_id, _payload(body, request.headers.get("content-type", "")))
        except WebhookRejected as exc:
            log.warning("github webhook from %s rejected (%s, HTTP %d)", client, exc.reason, exc.http_status)
            return _error(exc)
        store = deliveries()
        if not await store.database.run(store.claim, event):
            return JSONResponse({"status": "duplicate", "delivery_id": delivery_id, "event": name})
        try:
            await on_event(event)
        except Exception as exc:
            log.exception("handling github %s delivery %s failed", name, delivery_id)
            await store.database.run(store.forget, delivery_id)
            if isinstance(exc, NexusError):
                return _error(exc)
            failure = NexusError(
                f"handling the {name} delivery failed", hint="Redeliver it from GitHub's webhook page."
            )
            failure.code = "handler_failed"
            return _error(failure, 500)
        log.info("github %s (%s) delivery %s accepted", name, event.action or "-", delivery_id)
        return JSONResponse({"status": "accepted", "delivery_id": delivery_id, "event": name}, status_code=202)

    return Route(path, endpoint, methods=["POST"], name="github_webhook")
