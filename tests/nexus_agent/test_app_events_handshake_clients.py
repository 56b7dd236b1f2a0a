"""App events reach MCP clients that connected with the 2025-11-25 handshake (stateful sessions).

A legacy app posts a signed event to ``/api/webhooks/apps/<slug>``; a real SDK ``Client`` pinned to the
handshake (``mode="legacy"``), over real HTTP on 127.0.0.1, that sent ``resources/subscribe`` for
``nexus://apps/<slug>/events`` is told ``notifications/resources/updated`` on its session's stream.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from nexus_agent.config import Settings
from nexus_agent.testing import serve_nexus_in_thread
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

pytestmark = pytest.mark.anyio

OWNER = "nexus-owner-token-0123456789abcdef"
MONITOR = "nexus-monitor-token-0123456789abcd"
SECRET = "ledger-secret-0123456789abcdef"
ENV = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
EVENTS_URI = "nexus://apps/stock-ledger/events"


@pytest.fixture
def app() -> Iterator[FakeLegacyApp]:
    with FakeLegacyApp("stock-ledger", SECRET) as fake:
        yield fake


@pytest.fixture
def nexus(tmp_path: Path) -> Iterator[str]:
    settings = Settings.load(
        {
            "NEXUS_HOME": str(tmp_path / "nexus"),
            "NEXUS_DB_SYNC": "normal",
            "NEXUS_TOKENS": f"owner={OWNER},watcher:monitor={MONITOR}",
        }
    )
    with serve_nexus_in_thread(settings, secrets={ENV: SECRET}) as url:
        yield url


class Heard:
    """What a client's message handler received: the resource-updated notifications, in order."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self._arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updated.append(str(message.params.uri))
            self._arrived.set()

    async def next(self) -> str:
        with anyio.fail_after(10):
            await self._arrived.wait()
        self._arrived = anyio.Event()
        return self.updated[-1]


def _handshake_client(url: str, token: str, heard: Heard) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    transport = streamable_http_client(f"{url}/mcp", http_client=http)
    return http, Client(transport, mode="legacy", message_handler=heard)


async def _subscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resources/subscribe is the 2025-era method, deprecated in the SDK
        await client.subscribe_resource(uri)


async def _unsubscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await client.unsubscribe_resource(uri)


async def test_a_2025_11_25_client_that_subscribed_hears_of_each_app_event(nexus: str, app: FakeLegacyApp) -> None:
    heard, other = Heard(), Heard()
    http, client = _handshake_client(nexus, OWNER, heard)
    http2, bystander = _handshake_client(nexus, OWNER, other)
    async with http, http2, client, bystander:
        assert client.protocol_version == "2025-11-25"
        caps = client.session.server_capabilities
        assert caps is not None and caps.resources is not None and caps.resources.subscribe
        registered = await client.call_tool("registry_register", {"record": app.record().model_dump(mode="json")})
        assert not registered.is_error, registered.content
        await _subscribe(client, EVENTS_URI)
        await _subscribe(bystander, "nexus://apps/some-other-app/events")

        answer = await app.post_event(nexus, "stock.low", {"sku": "EXT-6063-50x50", "qty": 3})
        assert answer.status_code == 202, answer.text
        assert await heard.next() == EVENTS_URI
        listed = await client.read_resource(EVENTS_URI)
        assert '"stock.low"' in listed.contents[0].text  # type: ignore[union-attr]

        await _unsubscribe(client, EVENTS_URI)
        await _subscribe(bystander, EVENTS_URI)
        answer = await app.post_event(nexus, "stock.restocked", {"sku": "EXT-6063-50x50", "qty": 300})
        assert answer.status_code == 202, answer.text
        assert await other.next() == EVENTS_URI  # the bystander subscribed now and is told
    assert heard.updated == [EVENTS_URI]  # unsubscribed before the second event: told once only
    assert other.updated == [EVENTS_URI]  # never told of the first event (it had not subscribed to this app)


async def test_a_role_that_may_not_read_an_apps_events_cannot_subscribe_to_them(nexus: str) -> None:
    heard = Heard()
    http, monitor = _handshake_client(nexus, MONITOR, heard)
    async with http, monitor:
        with pytest.raises(MCPError) as refused:
            await _subscribe(monitor, EVENTS_URI)
        await _subscribe(monitor, "nexus://registry")  # what a monitor may read, it may subscribe to
    assert "monitor" in str(refused.value).lower()


async def test_over_stateless_http_a_subscription_is_refused_with_what_to_do_instead(tmp_path: Path) -> None:
    env = {"NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_TOKENS": OWNER, "NEXUS_HTTP_STATELESS": "true"}
    with serve_nexus_in_thread(Settings.load(env), secrets={ENV: SECRET}) as url:
        http, client = _handshake_client(url, OWNER, Heard())
        async with http, client:
            with pytest.raises(MCPError) as refused:
                await _subscribe(client, EVENTS_URI)
            listed = await client.read_resource(EVENTS_URI)  # what it may do instead
    assert "NEXUS_HTTP_STATELESS" in str(refused.value) and "subscriptions/listen" in str(refused.value)
    assert listed.contents[0].text.strip() == "[]"  # type: ignore[union-attr]
