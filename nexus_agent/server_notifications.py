"""Telling Nexus's MCP clients that its tool list changed, on every protocol they may speak.

2026-07-28 clients hear of it on the subscription bus (their ``subscriptions/listen`` stream);
handshake-era clients (2025-11-25 and older) by a notification on their connection, so Nexus says
``tools.listChanged`` in ``initialize`` and remembers the connections that listed tools.

The SDK makes a new ``ServerSession`` for every request; what lasts is the client's connection (one per
stdio pipe or stateful HTTP session). So a connection is remembered once however often it lists tools,
and told once per change; it is forgotten when it closes (a callback on its ``exit_stack``), when it
cannot take a notification within ``SEND_TIMEOUT_S``, or, the oldest first, past ``max_connections``.
Stateless HTTP (``NEXUS_HTTP_STATELESS``) has no channel back to a handshake-era client: nothing is kept.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["MAX_LISTING_CONNECTIONS", "SEND_TIMEOUT_S", "ToolListAnnouncer", "client_connection"]

log = logging.getLogger("nexus.notifications")

#: Handshake-era connections remembered to be told of tool-list changes (the oldest is forgotten past this).
MAX_LISTING_CONNECTIONS = 1024
#: How long one connection may take to accept the notification before it is forgotten (a stuck client
#: holds no one up for longer).
SEND_TIMEOUT_S = 2.0


class ToolListAnnouncer:
    """Announces tool-list changes on the bus and, once each, to the handshake-era connections that listed tools."""

    def __init__(self, bus: InMemorySubscriptionBus, *, max_connections: int = MAX_LISTING_CONNECTIONS) -> None:
        self.bus = bus
        self._max_connections = max_connections
        self._connections: dict[Any, None] = {}  # the clients' connections (by identity), oldest first

    @property
    def listing_connections(self) -> int:
        """How many handshake-era connections will be told of the next change."""
        return len(self._connections)

    def advertise(self, lowlevel: Any) -> None:
        """Make ``lowlevel``'s ``initialize`` answer say ``tools.listChanged`` (unless told otherwise)."""
        make_options = lowlevel.create_initialization_options

        def initialization_options(notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
            options = notification_options or NotificationOptions(tools_changed=True)
            return make_options(options, *args, **kwargs)

        lowlevel.create_initialization_options = initialization_options

    def remember(self, ctx: Any) -> None:
        """Remember a handshake-era caller's connection (it listed tools, so it may care when they change)."""
        if getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS:
            return  # it hears of changes on its subscriptions/listen stream
        connection = client_connection(ctx)
        if connection is None or connection in self._connections:
            return
        if getattr(connection, "session_id", None) is None and getattr(ctx, "request", None) is not None:
            return  # stateless HTTP: the connection ends with this request and has no channel back
        self._connections[connection] = None
        connection.exit_stack.callback(self._connections.pop, connection, None)  # forgotten when it closes
        while len(self._connections) > self._max_connections:
            self._connections.pop(next(iter(self._connections)))

    async def announce(self) -> None:
        """Tell every client that may hear it (2026 streams, and each remembered connection once)."""
        await self.bus.publish(ToolsListChanged())
        for connection in list(self._connections):
            try:
                with anyio.fail_after(SEND_TIMEOUT_S):
                    await connection.send_tool_list_changed()  # best effort: a closed stream is no error
            except Exception as exc:  # a stuck client
                log.info("forgetting a connection for tool-list changes: it could not be told (%r)", exc)
                self._connections.pop(connection, None)


def client_connection(ctx: Any) -> Any:
    """The client's connection (one per MCP session): ``ctx.session`` is made afresh for each request.

    The SDK keeps it on the request's session (``ServerSession._connection``, no public name in 2.3.0)."""
    session = getattr(ctx, "session", None)
    return getattr(session, "_connection", None) if session is not None else None
