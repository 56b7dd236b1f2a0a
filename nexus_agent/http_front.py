"""The front door: every HTTP request's checks in one ASGI layer, in the order they were five.

1. ``Host`` is one of Nexus's own names (421; DNS rebinding), as :class:`~nexus_agent.wire.inbound.AllowedHostsOnly`.
2. A browser's ``Origin`` is Nexus's own or an allowed one (403), as :class:`~nexus_agent.wire.inbound.SameOriginOnly`.
3. The request is timed for ``/metrics`` from here on (:func:`~nexus_agent.ops.web.observe_request`), so a 408, 401
   or 403 below is counted with its status.
4. The body arrives within ``NEXUS_BODY_TIMEOUT_S`` (408), as :class:`~nexus_agent.wire.inbound.BodyDeadline`.
5. A bearer credential admits the caller to the route (401/403), as :class:`~nexus_agent.http.BearerTokenGate`,
   which puts the Principal in the scope.
6. Once the answer is out, the access line (:func:`~nexus_agent.http_middleware.log_request`: refusals and errors
   at INFO, the rest at DEBUG) and the timing are written.

Each check is the named class's own code; the door only saves the four layers of wrapped ``receive``/``send``
calls and the repeated header scans that every request, an MCP tool call above all, paid for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from nexus_agent.http_middleware import log_request
from nexus_agent.ops.web import observe_request
from nexus_agent.wire.inbound import BodyTimer, HostRule, SameOriginOnly, headers_once, refuse_host, send_error

if TYPE_CHECKING:
    from nexus_agent.ops.web import OpsWeb

__all__ = ["FrontDoor"]


class Gate(Protocol):
    async def admit(self, scope: Scope, receive: Receive, send: Send) -> bool: ...


class FrontDoor:
    """Pure ASGI middleware running the five checks above; what passes them reaches ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Collection[str],
        origins: Collection[str],
        ops: OpsWeb,
        body_timeout_s: float,
        gate: Callable[[ASGIApp], Gate],
    ) -> None:
        """``hosts``: Host patterns served (``name:*`` for any port); ``origins``: full web origins allowed besides
        Nexus's own; ``gate``: makes the bearer gate around ``app`` (only its ``admit`` is used here)."""
        self.app = app
        self._hosts = HostRule(hosts)
        self._origins = SameOriginOnly(app, allowed=origins)
        self._ops = ops
        self._timeout_s = body_timeout_s
        self._gate = gate(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = headers_once(scope)
        if headers is not None:
            host, origin = headers.get(b"host", b""), headers.get(b"origin", b"")
        else:  # a name given twice: the last copy, as a scan reads it
            host = origin = b""
            for name, value in scope.get("headers", ()):
                if name == b"host":
                    host = value
                elif name == b"origin":
                    origin = value
        if not self._hosts(host.decode("latin-1")):
            await refuse_host(scope, send, host.decode("latin-1"))
            if kind == "http":
                log_request(scope, 421)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._origins.refusal(origin, host, scope)
        if refusal is not None:
            await send_error(send, 403, "forbidden", *refusal)
            log_request(scope, 403)
            return
        observer, started = self._ops.observer, time.perf_counter()
        timer = BodyTimer(receive, send, self._timeout_s)
        try:
            if await self._gate.admit(scope, timer.receive, timer.send):
                await self.app(scope, timer.receive, timer.send)
        finally:  # counted and logged once the answer is out: off the caller's wait
            if observer is not None:
                observe_request(observer, scope, timer.status, time.perf_counter() - started)
            if timer.started:
                log_request(scope, timer.status)
