"""The subscription bus's handshake-era side: who is told of a resource update, and who is forgotten."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated, ToolsListChanged
from mcp_types import SubscribeRequestParams, UnsubscribeRequestParams

from nexus_agent.auth import Principal, Role
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.resource_subscriptions import ResourceSubscriptions

pytestmark = pytest.mark.anyio

OWNER = Principal(name="o", role=Role.OWNER, via="http", credential="token")
MONITOR = Principal(name="m", role=Role.MONITOR, via="http", credential="token")
URI = "nexus://apps/stock-ledger/events"


@dataclass
class Connection:
    """Stands in for the SDK's per-client connection: records what it was told, or fails like a closed one."""

    closed: bool = False
    told: list[str] = field(default_factory=list)

    async def send_resource_updated(self, uri: str) -> None:
        if self.closed:
            raise ConnectionError("the client went away")
        self.told.append(uri)


@dataclass
class Session:
    _connection: Connection


@dataclass
class Ctx:
    session: Session
    principal: Principal = OWNER


class Lowlevel:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def add_request_handler(self, method: str, params_type: Any, handler: Any) -> None:
        self.handlers[method] = handler

    def get_request_handler(self, method: str) -> Any:
        return None  # no subscriptions/listen here (the real server's is wrapped: test_resource_subscription_limits)


def _bus() -> tuple[ResourceSubscriptions, Lowlevel]:
    bus, lowlevel = ResourceSubscriptions(max_sessions=2), Lowlevel()
    bus.serve(lowlevel, RolePolicy(), lambda ctx: ctx.principal)  # type: ignore[arg-type]
    return bus, lowlevel


async def test_only_subscribed_live_sessions_are_told_and_a_dead_one_is_forgotten() -> None:
    bus, lowlevel = _bus()
    subscribe = lowlevel.handlers["resources/subscribe"]
    alive, dead, other = Connection(), Connection(closed=True), Connection()
    # Two requests of one client carry two session objects but one connection: one subscriber.
    await subscribe(Ctx(Session(alive)), SubscribeRequestParams(uri=URI))
    await subscribe(Ctx(Session(alive)), SubscribeRequestParams(uri=URI))
    await subscribe(Ctx(Session(dead)), SubscribeRequestParams(uri=URI))
    assert bus.handshake_sessions == 2
    await bus.publish(ToolsListChanged())  # not a resource: no resource notification
    await bus.publish(ResourceUpdated(uri="nexus://apps/other/events"))  # nobody subscribed to it
    await bus.publish(ResourceUpdated(uri=URI))
    assert alive.told == [URI] and other.told == []
    assert bus.handshake_sessions == 1  # the dead one could not be told: forgotten
    await lowlevel.handlers["resources/unsubscribe"](Ctx(Session(alive)), UnsubscribeRequestParams(uri=URI))
    await bus.publish(ResourceUpdated(uri=URI))
    assert alive.told == [URI] and bus.handshake_sessions == 0


async def test_the_oldest_session_is_forgotten_past_the_limit_and_a_monitor_cannot_subscribe_to_app_events() -> None:
    bus, lowlevel = _bus()
    subscribe = lowlevel.handlers["resources/subscribe"]
    first, second, third = Connection(), Connection(), Connection()
    for connection in (first, second, third):
        await subscribe(Ctx(Session(connection)), SubscribeRequestParams(uri=URI))
    await bus.publish(ResourceUpdated(uri=URI))
    assert (first.told, second.told, third.told) == ([], [URI], [URI])
    with pytest.raises(MCPError, match="monitor"):
        await subscribe(Ctx(Session(Connection()), MONITOR), SubscribeRequestParams(uri=URI))
