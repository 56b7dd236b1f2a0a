"""An event a legacy app posts to one replica reaches MCP clients subscribed on every replica, once each.

Two real ``nexus serve --http`` replicas share one PostgreSQL. The app signs its event as a legacy
app does and posts it to replica A's ``/api/webhooks/apps/<slug>``; A records it and NOTIFYs
``nexus_app_events``; each replica's listener relays it to its own subscription bus. Real SDK clients
listen on both replicas: a 2026-07-28 ``subscriptions/listen`` stream on B and on A, and a 2025-11-25
session on B that sent ``resources/subscribe``. Each must hear the event exactly once: a second event,
of another app, is posted after the first was heard, and the next thing each client hears must be
that one (a duplicate of the first would come before it).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from nexus_agent.services_pg import LISTENER_NAME
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from tests.security.nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

LEDGER_SECRET = "ledger-secret-0123456789abcdef"
YARD_SECRET = "yard-secret-0123456789abcdefgh"
LEDGER_URI = "nexus://apps/stock-ledger/events"
YARD_URI = "nexus://apps/yard-ledger/events"


@pytest.fixture
def apps() -> Iterator[tuple[FakeLegacyApp, FakeLegacyApp]]:
    with FakeLegacyApp("stock-ledger", LEDGER_SECRET) as ledger, FakeLegacyApp("yard-ledger", YARD_SECRET) as yard:
        yield ledger, yard


def _replica(tmp_path: Path, name: str, pg_url: str) -> NexusProcess:
    home = tmp_path / name
    home.mkdir()
    secrets = {
        "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET": LEDGER_SECRET,
        "SATELLITE_YARD_LEDGER_WEBHOOK_SECRET": YARD_SECRET,
    }
    return NexusProcess(home, base_env(home, NEXUS_DATABASE_URL=pg_url, NEXUS_BACKUP_DIR="off", **secrets))


async def _register(nexus: NexusProcess, apps: tuple[FakeLegacyApp, ...]) -> None:
    for app in apps:
        failed, text, _ = await nexus.call(OWNER, "registry_register", {"record": app.record().model_dump(mode="json")})
        assert not failed, text


class Heard:
    """The resource URIs one client was told of, in order; ``next()`` waits (bounded) for the next one."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._seen = 0
        self._arrived = anyio.Event()

    def add(self, uri: str) -> None:
        self.uris.append(uri)
        self._arrived.set()

    async def __call__(self, message: Any) -> None:  # a handshake-era client's message handler
        if isinstance(message, types.ResourceUpdatedNotification):
            self.add(str(message.params.uri))

    async def next(self) -> str:
        with anyio.fail_after(15):
            while len(self.uris) <= self._seen:
                await self._arrived.wait()
                self._arrived = anyio.Event()
        self._seen += 1
        return self.uris[self._seen - 1]


@asynccontextmanager
async def _listening(stack: AsyncExitStack, nexus: NexusProcess, heard: Heard) -> AsyncIterator[None]:
    """A 2026-07-28 client on ``nexus`` with a subscriptions/listen stream for both apps' events."""
    http = await stack.enter_async_context(httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}, timeout=60))
    client = await stack.enter_async_context(Client(streamable_http_client(f"{nexus.url}/mcp", http_client=http)))
    assert client.protocol_version == "2026-07-28"
    subscription = await stack.enter_async_context(client.listen(resource_subscriptions=[LEDGER_URI, YARD_URI]))

    async def collect() -> None:
        async for event in subscription:
            heard.add(str(getattr(event, "uri", event)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        yield
        tg.cancel_scope.cancel()


async def _handshake_session(stack: AsyncExitStack, nexus: NexusProcess, heard: Heard) -> None:
    """A 2025-11-25 client on ``nexus`` whose session sent resources/subscribe for both apps' events."""
    http = await stack.enter_async_context(httpx2.AsyncClient(headers={"Authorization": f"Bearer {OWNER}"}, timeout=60))
    transport = streamable_http_client(f"{nexus.url}/mcp", http_client=http)
    client = await stack.enter_async_context(Client(transport, mode="legacy", message_handler=heard))
    assert client.protocol_version == "2025-11-25"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resources/subscribe is the 2025-era method, deprecated in the SDK
        for uri in (LEDGER_URI, YARD_URI):
            await client.subscribe_resource(uri)


async def test_an_app_event_posted_to_one_replica_reaches_subscribers_on_both_once(
    tmp_path: Path, pg_url: str, apps: tuple[FakeLegacyApp, FakeLegacyApp]
) -> None:
    ledger, yard = apps
    with _replica(tmp_path, "a", pg_url) as a, _replica(tmp_path, "b", pg_url) as b:
        await _register(a, apps)
        on_b, on_a, session_b = Heard(), Heard(), Heard()
        async with AsyncExitStack() as stack:
            await _handshake_session(stack, b, session_b)
            await stack.enter_async_context(_listening(stack, b, on_b))
            await stack.enter_async_context(_listening(stack, a, on_a))

            answer = await ledger.post_event(a.url, "stock.low", {"sku": "EXT-6063-50x50", "qty": 3})
            assert answer.status_code == 202, answer.text
            for heard in (on_b, session_b, on_a):
                assert await heard.next() == LEDGER_URI

            answer = await yard.post_event(a.url, "rack.moved", {"rack": "R-12", "bay": 4})  # the barrier
            assert answer.status_code == 202, answer.text
            for heard in (on_b, session_b, on_a):
                assert await heard.next() == YARD_URI, f"told twice of the first event: {heard.uris}"
        async with b.client(OWNER) as client:  # what a told client reads next: the event, on B too
            listed = await client.read_resource(LEDGER_URI)
    assert '"stock.low"' in listed.contents[0].text  # type: ignore[union-attr]
    assert on_b.uris == on_a.uris == session_b.uris == [LEDGER_URI, YARD_URI]


def _drop_listeners(pg_url: str) -> int:
    """End every replica's listener connection, as a network blip or a PostgreSQL restart would."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [LISTENER_NAME]
        ).fetchall()
    return len(rows)


async def _listeners(pg_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [LISTENER_NAME]
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_an_event_announced_while_a_replicas_listener_was_down_still_reaches_its_subscribers(
    tmp_path: Path, pg_url: str, apps: tuple[FakeLegacyApp, FakeLegacyApp]
) -> None:
    ledger, _ = apps
    with _replica(tmp_path, "a", pg_url) as a, _replica(tmp_path, "b", pg_url) as b:
        await _register(a, apps)
        on_b = Heard()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(_listening(stack, b, on_b))
            with anyio.fail_after(15):
                while await _listeners(pg_url) < 2:  # both replicas are listening
                    await anyio.sleep(0.02)
                assert _drop_listeners(pg_url) == 2
                while await _listeners(pg_url):  # gone; each reconnects after a pause of a second
                    await anyio.sleep(0.01)
            answer = await ledger.post_event(a.url, "stock.low", {"sku": "EXT-6063-50x50", "qty": 3})
            assert answer.status_code == 202, answer.text  # its notice goes out while B is not listening
            assert await on_b.next() == LEDGER_URI  # told once B listens again
