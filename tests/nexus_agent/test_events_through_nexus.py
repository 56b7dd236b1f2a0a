"""Instructions reach a real satellite through Nexus's outbox; GitHub webhooks reach Nexus."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread
from nexus_agent.wire.signing import WebhookEnvelope
from satellite_template import Satellite, SatelliteSettings

pytestmark = pytest.mark.anyio

NEXUS_TOKEN = "nexus-token-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"
GITHUB_SECRET = "github-secret-0123456789abcdef"


def nexus_settings(tmp_path: Path) -> Settings:
    return Settings.load(
        {
            "NEXUS_HOME": str(tmp_path / "nexus"),
            "NEXUS_DB_SYNC": "normal",
            "NEXUS_TOKENS": NEXUS_TOKEN,
            "NEXUS_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        }
    )


async def test_an_instruction_is_delivered_to_the_satellite_as_a_signed_webhook(tmp_path: Path) -> None:
    received: list[WebhookEnvelope] = []
    arrived = threading.Event()
    sat = Satellite("quotes", "Quotes", version="1.0.0", capabilities=["quote generation"])

    @sat.tool(read_only=True)
    def ping() -> str:
        """Answers pong."""
        return "pong"

    @sat.on_event("instruction.created")
    def on_instruction(event: WebhookEnvelope) -> None:
        received.append(event)
        arrived.set()

    sat_settings = SatelliteSettings.from_env({"SATELLITE_WEBHOOK_SECRET": WEBHOOK_SECRET})
    with serve_in_thread(sat.create_app(sat_settings)) as sat_url:
        secrets = {"SATELLITE_QUOTES_WEBHOOK_SECRET": WEBHOOK_SECRET}
        with serve_nexus_in_thread(nexus_settings(tmp_path), secrets=secrets) as nexus:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {NEXUS_TOKEN}"})
            async with http, Client(streamable_http_client(f"{nexus}/mcp", http_client=http)) as client:
                record = sat.app_record(sat_url).model_dump(mode="json")
                record["status"] = "active"
                assert not (await client.call_tool("registry_register", {"record": record})).is_error
                created = await client.call_tool(
                    "instruction_create",
                    {"targets": ["quotes"], "action": "export.quotes", "inputs": {"min_total": 25000}},
                )
                assert not created.is_error, created.content
                instruction = created.structured_content["instructions"][0]
                assert await anyio.to_thread.run_sync(arrived.wait, 20), "the satellite was not notified"
                with anyio.fail_after(20):  # the 2xx answer acknowledges the instruction
                    while True:
                        got = await client.call_tool("instruction_get", {"id": instruction["id"]})
                        if got.structured_content["status"] == "acknowledged":
                            break
                        await anyio.sleep(0.05)
    assert [e.event for e in received] == ["instruction.created"]
    assert received[0].delivery_id == instruction["id"]
    assert received[0].data["instruction_id"] == instruction["id"]
    history = [h["to_status"] for h in got.structured_content["history"]]
    assert history == ["pending", "delivered", "acknowledged"]


def _github_post(base: str, event: str, payload: dict[str, Any], secret: str, delivery: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{base}/api/webhooks/github", content=body, headers=headers, timeout=10)


async def test_github_webhooks_are_verified_without_a_bearer_token(tmp_path: Path) -> None:
    commit = {"id": "a" * 40, "added": ["reports/quotes/x.json"], "modified": [], "removed": []}
    push = {"ref": "refs/heads/main", "commits": [commit]}
    with serve_nexus_in_thread(nexus_settings(tmp_path)) as nexus:
        ok = _github_post(nexus, "push", push, GITHUB_SECRET, "d-1")
        again = _github_post(nexus, "push", push, GITHUB_SECRET, "d-1")
        forged = _github_post(nexus, "push", push, "not-the-secret-0123456789", "d-2")
        other_route = httpx.post(f"{nexus}/mcp", json={}, timeout=5)
    assert ok.status_code == 202
    assert again.status_code == 200  # a redelivery of the same id is not processed twice
    assert forged.status_code == 401
    assert other_route.status_code == 401  # only the signed webhook path skips the bearer token
