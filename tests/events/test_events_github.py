"""GitHub webhooks into Nexus: X-Hub-Signature-256, typed events, one handling per X-GitHub-Delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from memory.database import Database
from nexus_agent.events import GitHubEvent, github_webhook_route, parse_github_event, verify_github_signature
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.signing import WebhookRejected

GH_SECRET = "github-webhook-secret-0123456789"
ISSUE = {
    "action": "opened",
    "issue": {
        "number": 12,
        "title": "Register quote-engine",
        "body": '```json\n{"slug": "quote-engine"}\n```',
        "state": "open",
        "labels": [{"name": "registration"}],
        "html_url": "https://github.com/sfg/nexus-registry/issues/12",
        "user": {"login": "owner"},
    },
    "repository": {"full_name": "sfg/nexus-registry"},
    "sender": {"login": "owner"},
}
PUSH = {
    "ref": "refs/heads/main",
    "before": "a" * 40,
    "after": "b" * 40,
    "commits": [{"id": "b" * 40, "message": "Update apps", "added": ["apps/x.json"], "modified": ["apps/y.json"]}],
    "pusher": {"name": "owner"},
    "repository": {"full_name": "sfg/nexus-registry"},
}


def sign(body: bytes, secret: str = GH_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Handler:
    def __init__(self) -> None:
        self.events: list[GitHubEvent] = []
        self.fail_next: Exception | None = None

    async def __call__(self, event: GitHubEvent) -> None:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        self.events.append(event)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def client(handler: Handler, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    secret: dict[str, str | None] = {"value": GH_SECRET}
    route = github_webhook_route(lambda: secret["value"], handler, database, max_bytes=64 * 1024)
    app = Starlette(routes=[route])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://nexus") as http:
        http.secret = secret  # type: ignore[attr-defined]
        yield http


async def deliver(
    client: httpx.AsyncClient,
    payload: Any,
    *,
    event: str = "issues",
    delivery: str = "d0c5e2a0-1111-11ef-8000-000000000001",
    signature: str | None = "auto",
    form: bool = False,
) -> httpx.Response:
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    content_type = "application/json"
    if form:
        body, content_type = urlencode({"payload": body.decode()}).encode(), "application/x-www-form-urlencoded"
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": content_type}
    if signature:
        headers["X-Hub-Signature-256"] = sign(body) if signature == "auto" else signature
    return await client.post("/api/webhooks/github", content=body, headers=headers)


def test_the_signature_is_sha256_hmac_of_the_raw_body() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    verify_github_signature(body, sign(body), GH_SECRET)
    verify_github_signature(body, sign(body).upper().replace("SHA256=", "sha256="), GH_SECRET)
    for bad in (sign(body, "another-secret-0123456789"), sign(body + b" "), "sha1=" + "0" * 40, "nonsense"):
        with pytest.raises(WebhookRejected) as err:
            verify_github_signature(body, bad, GH_SECRET)
        assert err.value.reason == "bad_signature" and err.value.http_status == 401
    with pytest.raises(WebhookRejected) as err:
        verify_github_signature(body, None, GH_SECRET)
    assert err.value.reason == "missing_signature"


def test_issue_and_push_payloads_become_typed_events() -> None:
    issue = parse_github_event("issues", "d-1", ISSUE)
    assert (issue.action, issue.repository, issue.sender) == ("opened", "sfg/nexus-registry", "owner")
    assert issue.issue is not None and issue.issue.labels == ["registration"] and issue.issue.number == 12
    assert issue.issue.author == "owner" and issue.issue.url.endswith("/issues/12")

    comment = parse_github_event(
        "issue_comment",
        "d-2",
        {**ISSUE, "action": "created", "comment": {"id": 5, "body": "ok", "user": {"login": "bot"}}},
    )
    assert comment.comment is not None and (comment.comment.id, comment.comment.author) == (5, "bot")

    push = parse_github_event("push", "d-3", PUSH)
    assert push.push is not None and push.push.branch == "main" and push.push.pusher == "owner"
    assert push.push.changed_paths() == {"apps/x.json", "apps/y.json"}
    assert "payload" not in repr(push)

    with pytest.raises(WebhookRejected) as err:
        parse_github_event("issues", "d-4", {"action": "opened", "issue": {"title": "no number"}})
    assert err.value.reason == "malformed" and "issue.number" in err.value.message


@pytest.mark.anyio
async def test_a_signed_new_delivery_is_accepted_and_handed_over_once(client, handler: Handler) -> None:
    first = await deliver(client, ISSUE)
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    again = await deliver(client, ISSUE)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    push = await deliver(client, PUSH, event="push", delivery="d0c5e2a0-1111-11ef-8000-000000000002")
    assert push.status_code == 202
    assert [(e.event, e.delivery_id) for e in handler.events] == [
        ("issues", "d0c5e2a0-1111-11ef-8000-000000000001"),
        ("push", "d0c5e2a0-1111-11ef-8000-000000000002"),
    ]


@pytest.mark.anyio
async def test_a_form_encoded_delivery_and_a_ping_are_accepted(client, handler: Handler) -> None:
    assert (await deliver(client, ISSUE, form=True)).status_code == 202
    ping = await deliver(client, {"zen": "Design for failure.", "hook_id": 1}, event="ping", delivery="p-1")
    assert ping.status_code == 202 and handler.events[-1].zen == "Design for failure."


@pytest.mark.anyio
async def test_an_unhandled_event_type_is_ignored_with_200(client, handler: Handler) -> None:
    response = await deliver(client, {"action": "created"}, event="star")
    assert response.status_code == 200 and response.json()["status"] == "ignored" and handler.events == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "status", "reason"),
    [
        ({"signature": None}, 401, "missing_signature"),
        ({"signature": "sha256=" + "0" * 64}, 401, "bad_signature"),
        ({"event": ""}, 400, "malformed"),
        ({"delivery": ""}, 400, "malformed"),
        ({"delivery": "../../etc/passwd"}, 400, "malformed"),
        ({"payload": b"not json"}, 400, "malformed"),
        ({"payload": b"[1, 2]"}, 400, "malformed"),
        ({"payload": {"action": "opened"}, "event": "push"}, 400, "malformed"),
        ({"payload": {"big": "x" * 70_000}}, 413, "too_large"),
    ],
)
async def test_bad_deliveries_are_refused_with_their_status(client, handler, kwargs, status, reason) -> None:
    payload = kwargs.pop("payload", ISSUE)
    response = await deliver(client, payload, **kwargs)
    assert response.status_code == status
    assert response.json()["error"]["details"]["reason"] == reason
    assert handler.events == []


@pytest.mark.anyio
async def test_without_a_configured_secret_every_delivery_is_503(client, handler: Handler) -> None:
    client.secret["value"] = None
    response = await deliver(client, ISSUE)
    assert response.status_code == 503 and response.json()["error"]["details"]["reason"] == "not_configured"


@pytest.mark.anyio
async def test_a_failed_handling_is_forgotten_so_a_redelivery_is_handled(client, handler: Handler) -> None:
    handler.fail_next = RuntimeError("the registry is down; password=hunter2hunter2")
    failed = await deliver(client, ISSUE)
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "handler_failed"
    assert "hunter2" not in failed.text
    handler.fail_next = InvalidInput("the registration JSON is invalid", hint="Fix the issue body.")
    refused = await deliver(client, ISSUE)
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "the registration JSON is invalid"
    assert (await deliver(client, ISSUE)).status_code == 202
    assert len(handler.events) == 1


@pytest.mark.anyio
async def test_the_database_can_be_given_late_as_a_function(database: Database, handler: Handler) -> None:
    app = Starlette(routes=[github_webhook_route(lambda: GH_SECRET, handler, lambda: database)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://nexus") as http:
        assert (await deliver(http, ISSUE)).status_code == 202
        assert (await deliver(http, ISSUE)).status_code == 200
    assert len(handler.events) == 1
