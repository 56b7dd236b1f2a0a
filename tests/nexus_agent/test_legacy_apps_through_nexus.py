"""A legacy app through Nexus end to end: MCP clients call its message types (HTTP and stdio),
Nexus notifies it through the outbox, and it posts signed events back that move instructions on."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.registry import SqliteRegistry
from nexus_agent.services import open_database
from nexus_agent.testing import serve_nexus_in_thread
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

pytestmark = pytest.mark.anyio

TOKEN = "nexus-token-0123456789abcdef"
SECRET = "ledger-secret-0123456789abcdef"
ENV = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
TOOL = "stock-ledger__query_stock_level"
OTHER_SECRET = "yard-secret-0123456789abcdefgh"


def _settings(home: Path) -> Settings:
    return Settings.load({"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": TOKEN})


@pytest.fixture
def app() -> Iterator[FakeLegacyApp]:
    with FakeLegacyApp("stock-ledger", SECRET) as fake:
        yield fake


@pytest.fixture
def nexus(tmp_path: Path, app: FakeLegacyApp) -> Iterator[str]:
    settings = _settings(tmp_path / "nexus")
    secrets = {ENV: SECRET, "SATELLITE_YARD_LEDGER_WEBHOOK_SECRET": OTHER_SECRET}
    with serve_nexus_in_thread(settings, secrets=secrets) as url:
        yield url


def _client(url: str) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    return http, Client(streamable_http_client(f"{url}/mcp", http_client=http))


async def _register(client: Client, app: FakeLegacyApp) -> None:
    result = await client.call_tool("registry_register", {"record": app.record().model_dump(mode="json")})
    assert not result.is_error, result.content


async def test_an_mcp_client_calls_a_legacy_message_type_over_http(nexus: str, app: FakeLegacyApp) -> None:
    http, client = _client(nexus)
    async with http, client:
        await _register(client, app)
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools[TOOL].annotations is not None and tools[TOOL].annotations.read_only_hint
        assert tools["stock-ledger__action_reserve_stock"].annotations.read_only_hint is False  # type: ignore[union-attr]
        result = await client.call_tool(TOOL, {"sku": "EXT-6063-50x50", "yard": "north"})
        refused = await client.call_tool(TOOL, {"yard": "north"})
    assert not result.is_error and result.structured_content == {"sku": "EXT-6063-50x50", "yard": "north", "qty": 42}
    assert app.messages[-1].signed_ok
    assert refused.is_error and "sku" in refused.content[0].text  # type: ignore[union-attr]
    assert len(app.messages) == 1  # the invalid call never reached the app


@pytest.mark.slow
async def test_an_mcp_client_calls_a_legacy_message_type_over_stdio(tmp_path: Path, app: FakeLegacyApp) -> None:
    home = tmp_path / "nexus"
    settings = _settings(home)
    database = open_database(settings)
    try:
        await SqliteRegistry(database).register(app.record(), actor="test")
    finally:
        database.close()
    env = {**os.environ, "NEXUS_HOME": str(home), ENV: SECRET}
    params = StdioServerParameters(command=sys.executable, args=["-m", "nexus_agent.cli", "serve"], env=env)
    with anyio.fail_after(60):
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool(TOOL, {"sku": "GLS-4-16-4"})
    assert {TOOL, "stock-ledger__action_reserve_stock", "stock-ledger__test_ping"} <= names
    assert result.structured_content == {"sku": "GLS-4-16-4", "yard": "north", "qty": 120}
    assert app.messages[-1].signed_ok


async def _wait_for(predicate: Any) -> None:
    with anyio.fail_after(20):
        while not predicate():
            await anyio.sleep(0.05)


async def test_a_completion_event_from_the_app_completes_its_instruction(nexus: str, app: FakeLegacyApp) -> None:
    http, client = _client(nexus)
    async with http, client:
        await _register(client, app)
        created = await client.call_tool(
            "instruction_create",
            {"targets": ["stock-ledger"], "action": "stocktake.north", "inputs": {"yard": "north"}},
        )
        assert not created.is_error, created.content
        instruction_id = created.structured_content["instructions"][0]["id"]  # type: ignore[index]
        await _wait_for(lambda: app.webhooks)  # the instruction notice, through the outbox
        notice = app.webhooks[0]
        assert notice.signed_ok and notice.event == "instruction.created"
        assert notice.data["instruction_id"] == instruction_id
        events_uri = "nexus://apps/stock-ledger/events"
        async with client.listen(resource_subscriptions=[events_uri]) as subscription:
            answer = await app.post_event(
                nexus,
                "instruction.completed",
                {"instruction_id": instruction_id, "summary": "north yard counted", "outputs": {"lines": 212}},
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["outcome"] == f"instruction {instruction_id} completed"
            with anyio.fail_after(10):
                event = await anext(aiter(subscription))
        assert getattr(event, "uri", None) == events_uri
        got = await client.call_tool("instruction_get", {"id": instruction_id})
        listed = await client.read_resource(events_uri)
    assert got.structured_content["status"] == "completed"  # type: ignore[index]
    assert got.structured_content["result"]["summary"] == "north yard counted"  # type: ignore[index]
    kept = json.loads(listed.contents[0].text)  # type: ignore[union-attr]
    assert kept[0]["event"] == "instruction.completed" and kept[0]["outcome"].endswith("completed")


async def test_app_webhooks_with_a_bad_signature_a_replay_or_a_stale_stamp_are_refused(
    nexus: str, app: FakeLegacyApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nexus")
    http, client = _client(nexus)
    async with http, client:
        await _register(client, app)
    url = f"{nexus}/api/webhooks/apps/stock-ledger"
    async with httpx.AsyncClient(timeout=10) as web:
        forged_body, forged = app.signed_event("stock.low", {"sku": "X"}, secret="not-the-secret-0123456789")
        bad = await web.post(url, content=forged_body, headers=forged)
        unsigned = await web.post(url, content=forged_body, headers={"Content-Type": "application/json"})
        body, headers = app.signed_event("stock.low", {"sku": "EXT-6063-50x50"}, delivery_id="ev-1")
        first = await web.post(url, content=body, headers=headers)
        replay = await web.post(url, content=body, headers=headers)
        old_body, old = app.signed_event("stock.low", {}, timestamp=int(time.time()) - 3600)
        stale = await web.post(url, content=old_body, headers=old)
        prefixed_body, prefixed = app.signed_event("stock.low", {"sku": "GLS-4-16-4"})
        prefixed[app.signature_header] = "sha256=" + prefixed[app.signature_header]
        with_prefix = await web.post(url, content=prefixed_body, headers=prefixed)
        unknown = await web.post(f"{nexus}/api/webhooks/apps/no-such-app", content=body, headers=headers)
        near_miss = await web.post(f"{nexus}/api/webhooks/apps/stock-ledgr", content=body, headers=headers)
    assert (bad.status_code, bad.json()["error"]["details"]["reason"]) == (401, "bad_signature")
    assert (unsigned.status_code, unsigned.json()["error"]["details"]["reason"]) == (401, "missing_signature")
    assert first.status_code == 202 and first.json()["outcome"] == "recorded"
    assert (replay.status_code, replay.json()["error"]["details"]["reason"]) == (409, "replayed")
    assert (stale.status_code, stale.json()["error"]["details"]["reason"]) == (401, "stale")
    assert " s ago;" in stale.json()["error"]["message"]  # signed an hour ago, not "from now"
    assert with_prefix.status_code == 202
    assert unknown.status_code == 404
    # the sender is not authenticated yet: a wrong slug is told where to post, never which apps exist
    assert near_miss.status_code == 404 and "stock-ledger" not in near_miss.text, near_miss.text
    assert "registered slugs" not in unknown.text, unknown.text
    logged = caplog.text  # the owner's log says why each delivery was refused
    for reason in ("bad_signature", "missing_signature", "stale", "unknown_app"):
        assert f"rejected: {reason}" in logged, reason
    http, client = _client(nexus)
    async with http, client:
        found = await client.call_tool("memory_search", {"query": "posted", "app": "stock-ledger"})
    assert not found.is_error, found.content
    assert "EXT-6063-50x50" in json.dumps(found.structured_content)


async def test_an_app_cannot_report_another_apps_instruction_and_an_app_without_a_secret_is_refused(
    nexus: str, app: FakeLegacyApp
) -> None:
    yard = FakeLegacyApp("yard-ledger", OTHER_SECRET)
    quiet = FakeLegacyApp("quiet-ledger", "quiet-secret-0123456789abcdef")
    http, client = _client(nexus)
    async with http, client:
        await _register(client, app)
        for other in (yard, quiet):
            record = app.record().model_copy(update={"slug": other.slug, "name": other.name})  # never contacted
            result = await client.call_tool("registry_register", {"record": record.model_dump(mode="json")})
            assert not result.is_error, result.content
        created = await client.call_tool("instruction_create", {"targets": ["stock-ledger"], "action": "count"})
        instruction_id = created.structured_content["instructions"][0]["id"]  # type: ignore[index]
        await _wait_for(lambda: app.webhooks)
        report = {"instruction_id": instruction_id, "status": "completed", "summary": "not mine to say"}
        answer = await yard.post_event(nexus, "instruction.completed", report)
        refused = await quiet.post_event(nexus, "stock.low", {})
        got = await client.call_tool("instruction_get", {"id": instruction_id})
    assert answer.status_code == 202
    assert answer.json()["outcome"] == f"instruction {instruction_id} is for stock-ledger, not yard-ledger: not applied"
    assert got.structured_content["status"] != "completed"  # type: ignore[index]
    assert refused.status_code == 503 and refused.json()["error"]["details"]["reason"] == "not_configured"
    assert "SATELLITE_QUIET_LEDGER_WEBHOOK_SECRET" in refused.json()["error"]["message"]
