"""A satellite's tool-list change reaches each connected MCP client of Nexus once, however often it listed tools.

The SDK makes a new ``ServerSession`` for every request; what lasts is the client's connection. A real
``Client`` pinned to the 2025-11-25 handshake lists Nexus's tools several times, over real HTTP on
127.0.0.1 and over a real ``nexus serve`` stdio pipe; the ``dyn`` satellite's ``grow`` tool then adds a
tool and says so, and the client must hear ``notifications/tools/list_changed`` exactly once.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.server.connection import Connection
from mcp.server.mcpserver import Context
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged

from nexus_agent.config import Settings
from nexus_agent.server import build_mcp_server
from nexus_agent.server_notifications import ToolListAnnouncer
from nexus_agent.services import open_services
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

pytestmark = pytest.mark.anyio

OWNER = "nexus-owner-token-0123456789abcdef"
LEDGER_SECRET = "ledger-secret-0123456789abcdef"
LEDGER_ENV = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
EVENTS_URI = "nexus://apps/stock-ledger/events"
LISTINGS = 3


def dynamic_satellite() -> MCPServer:
    """A satellite whose ``grow`` tool adds a tool and announces that its tool list changed."""
    server = MCPServer("dyn")
    grown = 0

    @server.tool()
    async def grow(ctx: Context) -> str:
        nonlocal grown
        grown += 1
        server.add_tool(lambda: "fresh!", name=f"fresh_{grown}")
        await ctx.notify_tools_changed()
        return "grown"

    return server


@pytest.fixture
def dyn_url() -> Iterator[str]:
    with serve_in_thread(dynamic_satellite().streamable_http_app()) as base:
        yield f"{base}/mcp"


def dyn_record(url: str) -> dict[str, Any]:
    return {
        "slug": "dyn",
        "name": "Dyn",
        "status": "active",
        "capabilities": [{"name": "growing tools"}],
        "endpoints": {"mcp_url": url},
    }


class Heard:
    """The notifications a client's message handler received, in order of arrival."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self._changed = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification | types.ResourceUpdatedNotification):
            self.methods.append(message.method)
            self._changed.set()

    @property
    def tool_list_changes(self) -> int:
        return self.methods.count("notifications/tools/list_changed")

    async def until(self, method: str, count: int = 1) -> None:
        with anyio.fail_after(15):
            while self.methods.count(method) < count:
                await self._changed.wait()
                self._changed = anyio.Event()


async def test_a_2025_11_25_http_client_hears_one_tool_list_change_however_often_it_listed(
    tmp_path: Path, dyn_url: str
) -> None:
    settings = Settings.load(
        {"NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": f"owner={OWNER}"}
    )
    heard = Heard()
    with (
        FakeLegacyApp("stock-ledger", LEDGER_SECRET) as ledger,
        serve_nexus_in_thread(settings, secrets={LEDGER_ENV: LEDGER_SECRET}) as nexus,
    ):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}, timeout=30)
        client = Client(streamable_http_client(f"{nexus}/mcp", http_client=http), mode="legacy", message_handler=heard)
        async with http, client:
            assert client.protocol_version == "2025-11-25"
            for record in (dyn_record(dyn_url), ledger.record().model_dump(mode="json")):
                registered = await client.call_tool("registry_register", {"record": record})
                assert not registered.is_error, registered.content
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resources/subscribe is the 2025-era method, deprecated in the SDK
                await client.subscribe_resource(EVENTS_URI)
            for _ in range(LISTINGS):
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "dyn__grow" in names

            grown = await client.call_tool("dyn__grow", {})
            assert not grown.is_error, grown.content
            await heard.until("notifications/tools/list_changed")
            # An app event is a marker on the same stream: whatever Nexus sent this client for the change
            # has arrived before it.
            posted = await ledger.post_event(nexus, "stock.low", {"sku": "EXT-6063-50x50", "qty": 3})
            assert posted.status_code == 202, posted.text
            await heard.until("notifications/resources/updated")
            assert heard.tool_list_changes == 1, heard.methods
            assert "dyn__fresh_1" in {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.slow
async def test_a_2025_11_25_stdio_client_hears_one_tool_list_change_however_often_it_listed(
    tmp_path: Path, dyn_url: str
) -> None:
    env = {**os.environ, "NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_DB_SYNC": "normal"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "nexus_agent", "serve"], env=env)
    heard = Heard()
    with anyio.fail_after(60):
        async with Client(params, mode="legacy", message_handler=heard) as client:
            assert client.protocol_version == "2025-11-25"
            registered = await client.call_tool("registry_register", {"record": dyn_record(dyn_url)})
            assert not registered.is_error, registered.content
            for _ in range(LISTINGS):
                assert "dyn__grow" in {tool.name for tool in (await client.list_tools()).tools}

            grown = await client.call_tool("dyn__grow", {})
            assert not grown.is_error, grown.content
            await heard.until("notifications/tools/list_changed")
            await _round_trip(client)  # one pipe: what Nexus wrote before this answer has been read
            assert heard.tool_list_changes == 1, heard.methods
            assert "dyn__fresh_1" in {tool.name for tool in (await client.list_tools()).tools}


async def test_a_2026_07_28_listener_hears_each_change_once(tmp_path: Path, dyn_url: str) -> None:
    settings = Settings.load(
        {"NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": f"owner={OWNER}"}
    )
    with (
        FakeLegacyApp("stock-ledger", LEDGER_SECRET) as ledger,
        serve_nexus_in_thread(settings, secrets={LEDGER_ENV: LEDGER_SECRET}) as nexus,
    ):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}, timeout=30)
        client = Client(streamable_http_client(f"{nexus}/mcp", http_client=http))
        with anyio.fail_after(30):
            async with http, client:
                assert client.protocol_version == "2026-07-28"
                for record in (dyn_record(dyn_url), ledger.record().model_dump(mode="json")):
                    registered = await client.call_tool("registry_register", {"record": record})
                    assert not registered.is_error, registered.content
                for _ in range(LISTINGS):
                    await client.list_tools()
                events: list[type[Any]] = []
                async with client.listen(tools_list_changed=True, resource_subscriptions=[EVENTS_URI]) as sub:
                    grown = await client.call_tool("dyn__grow", {})
                    assert not grown.is_error, grown.content
                    async for event in sub:
                        events.append(type(event))
                        if event == ToolsListChanged():  # then a marker on the same stream
                            posted = await ledger.post_event(nexus, "stock.low", {"sku": "EXT-6063-50x50"})
                            assert posted.status_code == 202, posted.text
                        else:
                            break
    assert events == [ToolsListChanged, ResourceUpdated]


async def test_a_connection_is_remembered_once_and_forgotten_when_it_closes(tmp_path: Path) -> None:
    settings = Settings.load({"NEXUS_HOME": str(tmp_path)})
    async with open_services(settings, secrets={}, satellites=False) as services:
        server = build_mcp_server(services)
        announcer = server._announcer  # type: ignore[attr-defined]
        for _ in range(2):  # one client after another, as a desktop client reconnects
            heard = Heard()
            async with Client(server, mode="legacy", message_handler=heard) as client:
                for _ in range(LISTINGS):
                    await client.list_tools()
                assert announcer.listing_connections == 1
                await server.notify_tools_changed()  # type: ignore[attr-defined]
                await heard.until("notifications/tools/list_changed")
                await _round_trip(client)
                assert heard.tool_list_changes == 1
            assert announcer.listing_connections == 0
        async with Client(server) as modern:  # 2026-07-28: hears changes on its listen stream, nothing to keep
            await modern.list_tools()
            assert announcer.listing_connections == 0


async def test_past_the_bound_the_oldest_connection_is_forgotten() -> None:
    announcer = ToolListAnnouncer(InMemorySubscriptionBus(), max_connections=2)
    connections = [Connection.for_loop(_Outbound(), protocol_version_hint="2025-11-25") for _ in range(3)]
    for connection in connections:
        for _ in range(LISTINGS):
            announcer.remember(_context(connection))
    assert announcer.listing_connections == 2
    await announcer.announce()
    told = ["notifications/tools/list_changed"]
    assert [c.outbound.sent for c in connections] == [[], told, told]  # type: ignore[attr-defined]
    await connections[1].exit_stack.aclose()
    assert announcer.listing_connections == 1


async def _round_trip(client: Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ping is the 2025-era method, deprecated in the SDK
        await client.send_ping()


class _Outbound:
    """A connection's channel back to its client, recording what it was told."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify(self, method: str, params: Any, opts: Any = None) -> None:
        self.sent.append(method)

    async def send_raw_request(self, method: str, params: Any, opts: Any = None) -> dict[str, Any]:
        raise AssertionError(f"a tool-list change is a notification, not a request ({method})")


def _context(connection: Connection) -> Any:
    """A request's context as the SDK builds it: a fresh session over the lasting connection."""
    return SimpleNamespace(session=SimpleNamespace(_connection=connection), protocol_version="2025-11-25")
