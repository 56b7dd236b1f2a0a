"""Telling Nexus's MCP clients that its tool list changed, on every protocol they may speak.

2026-07-28 clients hear of it on the subscription bus (their ``subscriptions/listen`` stream);
handshake-era clients (2025-11-25 and older) by a notification on their session, so Nexus says
``tools.listChanged`` in ``initialize`` and remembers the sessions that listed tools.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["MAX_LISTING_SESSIONS", "ToolListAnnouncer"]

#: Handshake-era sessions remembered to be told of tool-list changes (the oldest is forgotten past this).
MAX_LISTING_SESSIONS = 1024


class ToolListAnnouncer:
    """Announces tool-list changes on the bus and to the remembered handshake-era sessions."""

    def __init__(self, bus: InMemorySubscriptionBus) -> None:
        self.bus = bus
        self._listing_sessions: dict[int, Any] = {}  # by id, oldest first; a dead one is dropped when told

    def advertise(self, lowlevel: Any) -> None:
        """Make ``lowlevel``'s ``initialize`` answer say ``tools.listChanged`` (unless told otherwise)."""
        make_options = lowlevel.create_initialization_options

        def initialization_options(notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
            options = notification_options or NotificationOptions(tools_changed=True)
            return make_options(options, *args, **kwargs)

        lowlevel.create_initialization_options = initialization_options

    def remember(self, ctx: Any) -> None:
        """Remember a handshake-era caller's session (it listed tools, so it may care when they change)."""
        if getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS or ctx.session is None:
            return
        self._listing_sessions[id(ctx.session)] = ctx.session
        while len(self._listing_sessions) > MAX_LISTING_SESSIONS:
            self._listing_sessions.pop(next(iter(self._listing_sessions)))

    async def announce(self) -> None:
        """Tell every client that may hear it (2026 streams and legacy sessions)."""
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._listing_sessions.items()):
            try:
                with anyio.fail_after(2):  # a stuck client must not hold up the others
                    await session.send_tool_list_changed()
            except Exception:  # a closed session, or a stateless one with no channel back
                self._listing_sessions.pop(key, None)
