"""Who may hear of a resource's changes, and how much one client may ask to hear: both protocol eras alike.

Real transports: `nexus serve --http` in a thread on 127.0.0.1, a real SDK ``Client`` over streamable HTTP,
on 2026-07-28 (``subscriptions/listen``) and pinned to the 2025-11-25 handshake (``resources/subscribe``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from nexus_agent.config import Settings
from nexus_agent.resource_subscriptions import MAX_URI_CHARS
from nexus_agent.testing import serve_nexus_in_thread

pytestmark = pytest.mark.anyio

AGENT = "nexus-agent-token-0123456789abcdefgh"
MONITOR = "nexus-monitor-token-0123456789abcd"
SATELLITE = "nexus-satellite-token-0123456789abc"
EVENTS_URI = "nexus://apps/stock-ledger/events"


@pytest.fixture
def nexus(tmp_path: Path) -> Iterator[str]:
    tokens = f"assistant:agent={AGENT},watcher:monitor={MONITOR},quotes:satellite:quote-engine={SATELLITE}"
    settings = Settings.load({"NEXUS_HOME": str(tmp_path / "nexus"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": tokens})
    with serve_nexus_in_thread(settings) as url:
        yield url


def _client(url: str, token: str, mode: str) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode)


async def _subscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resources/subscribe is the 2025-era method, deprecated in the SDK
        await client.subscribe_resource(uri)


@pytest.mark.parametrize(("token", "role"), [(MONITOR, "monitor"), (SATELLITE, "satellite")])
async def test_on_2026_07_28_a_role_cannot_listen_to_an_apps_events_it_may_not_read(
    nexus: str, token: str, role: str
) -> None:
    http, client = _client(nexus, token, "auto")
    with anyio.fail_after(30):
        async with http, client:
            assert client.protocol_version == "2026-07-28"
            with pytest.raises(MCPError) as refused:
                async with client.listen(resource_subscriptions=[EVENTS_URI]):
                    pass
            async with client.listen(tools_list_changed=True) as allowed:  # what it may hear, it still hears
                assert allowed.honored.tools_list_changed
    assert role in str(refused.value) and EVENTS_URI in str(refused.value)


async def test_on_2026_07_28_a_role_listens_to_what_it_may_read(nexus: str) -> None:
    http, client = _client(nexus, MONITOR, "auto")
    with anyio.fail_after(30):
        async with http, client, client.listen(resource_subscriptions=["nexus://registry"]) as sub:
            assert sub.honored.resource_subscriptions == ["nexus://registry"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_oversized_resource_uri_is_refused_with_the_limit(nexus: str, mode: str) -> None:
    """Each subscription is kept in memory for the session's life: a megabyte-long URI is no resource's name."""
    huge = "nexus://apps/" + "x" * 200_000
    http, client = _client(nexus, AGENT, mode)
    with anyio.fail_after(30):
        async with http, client:
            with pytest.raises(MCPError) as refused:
                if mode == "legacy":
                    await _subscribe(client, huge)
                else:
                    async with client.listen(resource_subscriptions=[huge]):
                        pass
    assert f"{MAX_URI_CHARS} characters" in str(refused.value) and "x" * 100 not in str(refused.value)


async def test_one_caller_opening_sessions_past_the_limit_forgets_its_own_not_anothers() -> None:
    """Past ``max_sessions`` the oldest session is forgotten: it is the caller's own oldest while it holds one,
    so one credential opening session after session cannot silence everyone else's subscriptions."""
    from mcp.shared.subscriptions import ResourceUpdated
    from mcp_types import SubscribeRequestParams

    from nexus_agent.auth import Principal, Role
    from nexus_agent.auth.policy import RolePolicy
    from nexus_agent.resource_subscriptions import ResourceSubscriptions
    from tests.nexus_agent.test_resource_subscriptions import Connection, Ctx, Lowlevel, Session

    bus, lowlevel = ResourceSubscriptions(max_sessions=3), Lowlevel()
    bus.serve(lowlevel, RolePolicy(), lambda ctx: ctx.principal)  # type: ignore[arg-type]
    subscribe = lowlevel.handlers["resources/subscribe"]
    greedy = Principal(name="greedy", role=Role.AGENT)
    warren = Connection()
    await subscribe(Ctx(Session(warren)), SubscribeRequestParams(uri=EVENTS_URI))
    flood = [Connection() for _ in range(10)]
    for connection in flood:
        await subscribe(Ctx(Session(connection), principal=greedy), SubscribeRequestParams(uri=EVENTS_URI))
    await bus.publish(ResourceUpdated(uri=EVENTS_URI))
    assert warren.told == [EVENTS_URI]
    assert bus.handshake_sessions == 3 and sum(bool(c.told) for c in flood) == 2  # the greedy caller's newest two


async def test_sessions_that_stopped_reading_do_not_hold_up_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each subscribed session is told at once, each within its own deadline: a client that never reads its
    stream (one caller may open many) delays no one else's notification by more than one deadline."""
    from mcp.shared.subscriptions import ResourceUpdated
    from mcp_types import SubscribeRequestParams

    from nexus_agent import resource_subscriptions
    from nexus_agent.auth.policy import RolePolicy
    from nexus_agent.resource_subscriptions import ResourceSubscriptions
    from tests.nexus_agent.test_resource_subscriptions import Connection, Ctx, Lowlevel, Session

    class Stuck(Connection):
        async def send_resource_updated(self, uri: str) -> None:
            await anyio.Event().wait()  # its stream is full: the write never completes

    monkeypatch.setattr(resource_subscriptions, "SEND_TIMEOUT_S", 0.2)
    bus, lowlevel = ResourceSubscriptions(), Lowlevel()
    bus.serve(lowlevel, RolePolicy(), lambda ctx: ctx.principal)  # type: ignore[arg-type]
    subscribe = lowlevel.handlers["resources/subscribe"]
    for stuck in [Stuck() for _ in range(20)]:
        await subscribe(Ctx(Session(stuck)), SubscribeRequestParams(uri=EVENTS_URI))
    reader = Connection()
    await subscribe(Ctx(Session(reader)), SubscribeRequestParams(uri=EVENTS_URI))
    with anyio.fail_after(1):  # one deadline (0.2 s), not twenty of them one after another (4 s)
        await bus.publish(ResourceUpdated(uri=EVENTS_URI))
    assert reader.told == [EVENTS_URI] and bus.handshake_sessions == 1  # the stuck ones are forgotten
