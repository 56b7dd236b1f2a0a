"""The gateway fast path's legacy branch against the normal path: a real fake legacy app, two real Nexus HTTP servers.

One Nexus takes read-only ``<app>__query_*`` calls on the fast path (NEXUS_GATEWAY_FASTPATH on), the other through
the SDK (off); every answer and every refusal must be the same JSON, and anything that needs approval (``action.*``)
never takes the fast path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.config import Settings
from nexus_agent.satellites.models import PoolSettings
from nexus_agent.testing import serve_nexus_in_thread
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp, stock_ledger_handlers

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OWNER = "owner-token-0123456789abcdef"
AGENT = "agent-token-0123456789abcdef"
MONITOR = "monitor-token-0123456789abcdef"
SECRET = "ledger-secret-0123456789abcdef"
ENV = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
VERSION = "2026-07-28"
QUERY = "stock-ledger__query_stock_level"
ACTION = "stock-ledger__action_reserve_stock"


def _app() -> FakeLegacyApp:
    handlers, specs = stock_ledger_handlers()
    handlers["query.api_key"] = lambda p: {"key": OWNER}  # an app that answers with a credential Nexus knows
    return FakeLegacyApp("stock-ledger", SECRET, handlers=handlers, specs=specs)


def nexus(tmp_path: Path, name: str, fast: bool) -> Any:
    env = {
        "NEXUS_HOME": str(tmp_path / name),
        "NEXUS_DB_SYNC": "normal",
        "NEXUS_TOKENS": f"owner={OWNER},bot:agent={AGENT},mon:monitor={MONITOR}",
        "NEXUS_MAX_INPUT_BYTES": "2000",
        "NEXUS_GATEWAY_FASTPATH": "true" if fast else "false",
    }
    return serve_nexus_in_thread(Settings.load(env), secrets={ENV: SECRET})


async def raw_call(http: httpx2.AsyncClient, base: str, token: str, name: str, arguments: dict[str, Any]) -> Any:
    """A sessionless 2026-07-28 `tools/call`, as a plain JSON-RPC client sends it; the result (or error) object."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": name, "arguments": arguments, "_meta": meta}
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": "tools/call",
        "mcp-name": name,
    }
    with anyio.fail_after(30):
        response = await http.post(f"{base}/mcp", json=body, headers=headers)
    assert response.status_code == 200, response.text
    message = response.json()
    return message.get("result", message.get("error"))


def _same(answer: Any) -> Any:
    """The answer with the ids made afresh on every call (request ids, the fake's reservation ids) made comparable."""
    text = re.sub(r"\b[0-9a-f]{32}\b", "<request-id>", json.dumps(answer, sort_keys=True))
    return re.sub(r"RES-[0-9a-f]{6}", "RES-<id>", text)


@contextlib.contextmanager
def two_nexuses(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with nexus(tmp_path, "fast", True) as fast, nexus(tmp_path, "slow", False) as slow:
        yield fast, slow


@contextlib.asynccontextmanager
async def registered(bases: tuple[str, ...], app: FakeLegacyApp) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=30) as http:
        for base in bases:
            record = {"record": app.record().model_dump(mode="json")}
            result = await raw_call(http, base, OWNER, "registry_register", record)
            assert not result["isError"], result
        yield http


def fast_path_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum("to legacy app" in r.getMessage() and "fast path" in r.getMessage() for r in caplog.records)


async def test_fast_and_normal_path_answer_a_legacy_app_alike(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (OWNER, QUERY, {"sku": "EXT-6063-50x50", "yard": "north"}),  # fast
        (OWNER, QUERY, {"sku": "NOPE-1"}),  # fast: the app's own 'error' answer, a clear per-app error
        (OWNER, "stock-ledger__test_ping", {}),  # fast
        (OWNER, "stock-ledger__query_api_key", {"params": {}}),  # fast: a secret in the answer is withheld
        (AGENT, QUERY, {"sku": "GLS-4-16-4"}),  # fast: an agent may call a read-only message
        (OWNER, QUERY, {"yard": "north"}),  # schema: sku missing
        (OWNER, QUERY, {"sku": 5}),  # schema: wrong type
        (OWNER, QUERY, {"sku": "EXT-6063-50x50", "colour": "red"}),  # unknown field
        (OWNER, QUERY, {"sku": "x" * 3000}),  # over NEXUS_MAX_INPUT_BYTES
        (OWNER, "stock-ledger__query_nothing", {}),  # unknown tool
        (AGENT, ACTION, {"sku": "EXT-6063-50x50", "qty": 1, "order_id": "O-1"}),  # side effects: refused to an agent
        (MONITOR, QUERY, {"sku": "EXT-6063-50x50"}),  # monitors call no satellite
        (OWNER, ACTION, {"sku": "EXT-6063-50x50", "qty": 1, "order_id": "O-2"}),  # needs approval: never fast
    ]
    with _app() as app, two_nexuses(tmp_path) as (fast, slow):
        async with registered((fast, slow), app) as http:
            for token, name, arguments in cases:
                got = await raw_call(http, fast, token, name, arguments)
                want = await raw_call(http, slow, token, name, arguments)
                assert _same(got) == _same(want), (name, arguments)
                if name == "stock-ledger__query_api_key":
                    assert got["isError"] and OWNER not in str(got) and "withheld" in got["content"][0]["text"]
        assert fast_path_count(caplog) == 5  # the five read-only calls that passed every check; the rest: normal
        # The SDK's own client (2026-07-28, sessionless) takes the fast path too and reads its plain JSON answer.
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}) as h,
            Client(streamable_http_client(f"{fast}/mcp", http_client=h)) as client,
        ):
            with anyio.fail_after(30):
                result = await client.call_tool(QUERY, {"sku": "GLS-4-16-4", "yard": "south"})
        assert not result.is_error and result.structured_content == {"sku": "GLS-4-16-4", "yard": "south", "qty": 0}
    assert fast_path_count(caplog) == 6
    reserved = [m for m in app.messages if m.type == "action.reserve_stock"]
    assert len(reserved) == 2 and all(m.signed_ok for m in reserved)  # the owner's action, once per Nexus


async def test_faults_of_a_legacy_app_read_the_same_and_count_against_its_breaker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus.gateway")
    threshold = PoolSettings().breaker_threshold
    with _app() as app, two_nexuses(tmp_path) as (fast, slow):
        async with registered((fast, slow), app) as http:
            for fault in ("wrong_request_id", "not_json", "error"):
                app.faults["query.stock_level"] = fault
                got = await raw_call(http, fast, OWNER, QUERY, {"sku": "EXT-6063-50x50"})
                want = await raw_call(http, slow, OWNER, QUERY, {"sku": "EXT-6063-50x50"})
                assert got["isError"] and _same(got) == _same(want), fault
                assert "stock-ledger" in got["content"][0]["text"]
            app.faults["query.stock_level"] = "http_500"
            for base in (fast, slow):
                texts = [
                    (await raw_call(http, base, OWNER, QUERY, {"sku": "EXT-6063-50x50"}))["content"][0]["text"]
                    for _ in range(threshold)
                ]
                assert "circuit breaker is open" in texts[-1], texts
            sent = len(app.messages)
            again = await raw_call(http, fast, OWNER, QUERY, {"sku": "EXT-6063-50x50"})
            assert again["isError"] and "circuit breaker is open" in again["content"][0]["text"]
            assert len(app.messages) == sent  # an open breaker: nothing reaches the app on either path


async def test_a_failing_read_is_sent_as_often_on_the_fast_path_as_on_the_normal_one(tmp_path: Path) -> None:
    """A 5xx is retried with the pool's attempts and backoff on both paths: the app gets the same number of
    messages whichever path Nexus takes (the fast path's own first send is the first of those attempts)."""
    with _app() as app, two_nexuses(tmp_path) as (fast, slow):
        async with registered((fast, slow), app) as http:
            app.faults["query.stock_level"] = "http_500"
            sent = []
            for base in (fast, slow):
                before = len(app.messages)
                answer = await raw_call(http, base, OWNER, QUERY, {"sku": "EXT-6063-50x50"})
                assert answer["isError"]
                sent.append(len(app.messages) - before)
    assert sent[0] == sent[1] == PoolSettings().retry_attempts, sent
