"""Resource subscriptions for handshake-era MCP clients (protocol 2025-11-25 and older).

A 2026-07-28 client hears of a changed resource on its ``subscriptions/listen`` stream (the SDK's
subscription bus). A client that connected with the ``initialize`` handshake has no such stream:
it sends ``resources/subscribe {uri}`` and expects ``notifications/resources/updated {uri}`` on its
session (over streamable HTTP: the session's standalone GET stream). :class:`ResourceSubscriptions`
is the SDK's in-memory bus that also serves those two requests and, for every ``ResourceUpdated``
published on it, sends that notification to the sessions subscribed to the URI; so an event a legacy
app posts to ``/api/webhooks/apps/<slug>`` reaches both kinds of client.

A session may subscribe only to what its role may read (the same check as ``resources/read``), and
so may a 2026-07-28 ``subscriptions/listen`` stream (its URIs are checked before the SDK's handler
serves it); a URI longer than ``MAX_URI_CHARS`` is refused on either. Over
stateless HTTP (``NEXUS_HTTP_STATELESS``) there is no session to tell, so the request is refused.
A session that can no longer be told (closed, or a stateless one with no channel back) is
forgotten at the first failed notification; past ``max_sessions`` the oldest is forgotten (the
caller's own oldest while it holds another, so one credential cannot silence the others).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.lowlevel.server import Server
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated, ServerEvent
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from nexus_agent.auth import Principal
from nexus_agent.auth.policy import RolePolicy
from nexus_agent.wire.errors import Forbidden

__all__ = ["ResourceSubscriptions"]

log = logging.getLogger("nexus.subscriptions")

#: Subscriptions one session may hold (a client that subscribes to every app stays well under this).
MAX_URIS_PER_SESSION = 256
#: The longest resource URI one may subscribe to (each is kept for the session's life; Nexus's are far shorter).
MAX_URI_CHARS = 2048
#: How long one session may take to accept a notification before it is skipped (a stuck client holds no one up).
SEND_TIMEOUT_S = 2.0
_STATELESS = (
    "this Nexus serves stateless HTTP (NEXUS_HTTP_STATELESS), so it has no session to send resource updates on; "
    "read the resource again when you need it, or connect with protocol 2026-07-28 and use subscriptions/listen"
)


class ResourceSubscriptions(InMemorySubscriptionBus):
    """The subscription bus of Nexus's MCP server, heard by 2026 streams and subscribed handshake-era sessions."""

    def __init__(self, *, max_sessions: int = 1024) -> None:
        super().__init__()
        self._max_sessions = max_sessions
        self._policy: RolePolicy | None = None
        self._principal_of: Callable[[Any], Principal] | None = None
        # by id(connection): (the client's connection, its URIs, who); insertion order = oldest first
        self._sessions: dict[int, tuple[Any, set[str], str]] = {}

    @property
    def handshake_sessions(self) -> int:
        """How many handshake-era sessions hold subscriptions."""
        return len(self._sessions)

    def serve(self, lowlevel: Server[Any], policy: RolePolicy, principal_of: Callable[[Any], Principal]) -> None:
        """Answer ``resources/subscribe`` and ``resources/unsubscribe`` on ``lowlevel`` (``initialize`` then says
        ``resources.subscribe``; the 2026-07-28 wire has neither method and keeps using ``subscriptions/listen``)."""
        self._policy, self._principal_of = policy, principal_of
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, self.on_subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self.on_unsubscribe)
        listen = lowlevel.get_request_handler("subscriptions/listen")
        if listen is not None:  # 2026-07-28: the same rule on the URIs a listen stream asks for

            async def on_listen(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
                uris = params.notifications.resource_subscriptions or []
                if len(uris) > MAX_URIS_PER_SESSION:
                    raise MCPError(INVALID_PARAMS, f"one listen stream may ask for {MAX_URIS_PER_SESSION} resources")
                for uri in uris:
                    self._check(ctx, str(uri))
                return await listen.handler(ctx, params)

            lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, on_listen)

    async def publish(self, event: ServerEvent) -> None:
        """To the ``subscriptions/listen`` streams (the SDK's bus), then, for a resource, to subscribed sessions."""
        await super().publish(event)
        if isinstance(event, ResourceUpdated):
            await self.notify_sessions(event.uri)

    async def on_subscribe(self, ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        """``resources/subscribe``: refused (invalid params) for a resource the caller's role may not read."""
        uri = str(params.uri)
        self._check(ctx, uri)
        connection = _connection(ctx)
        if connection is None:
            raise MCPError(INVALID_PARAMS, "resources/subscribe needs a session (connect with the handshake)")
        if getattr(connection, "session_id", None) is None and getattr(ctx, "request", None) is not None:
            raise MCPError(INVALID_REQUEST, _STATELESS)  # HTTP without a session: no channel to tell it on
        who = self._principal_of(ctx).label() if self._principal_of is not None else ""
        _, uris, _ = self._sessions.setdefault(id(connection), (connection, set(), who))
        if uri not in uris and len(uris) >= MAX_URIS_PER_SESSION:
            raise MCPError(
                INVALID_PARAMS,
                f"this session holds {MAX_URIS_PER_SESSION} subscriptions already; unsubscribe from some first",
            )
        uris.add(uri)
        while len(self._sessions) > self._max_sessions:  # the caller's own oldest first: no one silences others
            own = (k for k, held in self._sessions.items() if held[2] == who and k != id(connection))
            self._sessions.pop(next(own, next(iter(self._sessions))))
        return EmptyResult()

    def _check(self, ctx: Any, uri: str) -> None:
        """Refuse (invalid params) an oversized URI, or a resource the caller's role may not read."""
        if self._policy is None or self._principal_of is None:
            raise MCPError(INVALID_PARAMS, "resource subscriptions are not served here")
        if len(uri) > MAX_URI_CHARS:
            raise MCPError(
                INVALID_PARAMS,
                f"a resource URI may be at most {MAX_URI_CHARS} characters (this one has {len(uri)}); "
                "subscribe to a URI that resources/list shows",
            )
        try:
            self._policy.check_resource(self._principal_of(ctx), uri)
        except Forbidden as exc:
            raise MCPError(INVALID_PARAMS, exc.user_message()) from None

    async def on_unsubscribe(self, ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        """``resources/unsubscribe``: always succeeds (unsubscribing from nothing is no error)."""
        connection = _connection(ctx)
        held = self._sessions.get(id(connection)) if connection is not None else None
        if held is not None:
            held[1].discard(str(params.uri))
            if not held[1]:
                self._sessions.pop(id(connection), None)
        return EmptyResult()

    async def notify_sessions(self, uri: str) -> int:
        """Send ``notifications/resources/updated`` to every session subscribed to ``uri``; how many were told.

        All at once, each within its own deadline: a session that stopped reading delays no other."""
        told = 0

        async def tell(key: int, connection: Any) -> None:
            nonlocal told
            try:
                with anyio.fail_after(SEND_TIMEOUT_S):
                    await connection.send_resource_updated(uri)  # on the session's own channel (its GET stream)
                told += 1
            except Exception as exc:  # a closed session, or a stateless one with no channel back
                log.info("forgetting a session's resource subscriptions: it could not be told of %s (%r)", uri, exc)
                self._sessions.pop(key, None)

        async with anyio.create_task_group() as tg:
            for key, (connection, uris, _) in list(self._sessions.items()):
                if uri in uris:
                    tg.start_soon(tell, key, connection)
        return told


def _connection(ctx: Any) -> Any:
    """The client's connection (one per MCP session): ``ctx.session`` is made afresh for each request.

    The SDK keeps it on the request's session (``ServerSession._connection``, no public name in 2.3.0)."""
    return getattr(ctx.session, "_connection", None) if ctx.session is not None else None
