"""Nexus's access log: one line per HTTP request, at INFO when it failed or was refused, else at DEBUG.

uvicorn's own access log writes every request at INFO, so each MCP tool call cost a log record
through the secret-redacting filters and a write to stderr (about a sixth of Nexus's CPU on a
proxied call). This middleware writes uvicorn's line as the ``nexus.access`` logger (through the
same redacting handlers), but a request answered 1xx-3xx only at DEBUG: refusals (401, 403, 421...),
client errors and server errors stay at INFO, and ``NEXUS_LOG_LEVEL=DEBUG`` shows every request as
before. Request counts and durations by route and status are in ``/metrics`` regardless.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger("nexus.access")


class AccessLog:
    """Pure ASGI middleware; run uvicorn with ``access_log=False`` so each request is logged once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                level = logging.INFO if status >= 400 else logging.DEBUG
                if log.isEnabledFor(level):
                    args = (
                        _client(scope),
                        scope.get("method", ""),
                        _path(scope),
                        scope.get("http_version", "1.1"),
                        status,
                    )
                    log.log(level, '%s - "%s %s HTTP/%s" %d', *args)
            await send(message)

        await self.app(scope, receive, sending)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _path(scope: Scope) -> str:
    """As uvicorn writes it: the path quoted, then the raw query string."""
    path = quote(scope.get("root_path", "") + scope["path"])
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('ascii', 'replace')}" if query else path
