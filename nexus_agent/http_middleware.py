"""Nexus's access log: one line per HTTP request, at INFO when it failed or was refused, else at DEBUG.

uvicorn's own access log writes every request at INFO, so each MCP tool call cost a log record
through the secret-redacting filters and a write to stderr (about a sixth of Nexus's CPU on a
proxied call). This middleware writes uvicorn's line as the ``nexus.access`` logger (through the
same redacting handlers), but a request answered 1xx-3xx only at DEBUG: refusals (401, 403, 421...),
client errors and server errors stay at INFO, and ``NEXUS_LOG_LEVEL=DEBUG`` shows every request as
before. Request counts and durations by route and status are in ``/metrics`` regardless. The front door
(``http_front.FrontDoor``) writes it once each answer is out; run uvicorn with ``access_log=False``.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.types import Scope

__all__ = ["log_request"]

log = logging.getLogger("nexus.access")


def log_request(scope: Scope, status: int) -> None:
    """The access line of one answered HTTP request: INFO when it failed or was refused (4xx, 5xx), else DEBUG."""
    level = logging.INFO if status >= 400 else logging.DEBUG
    if log.isEnabledFor(level):
        args = (_client(scope), scope.get("method", ""), _path(scope), scope.get("http_version", "1.1"), status)
        log.log(level, '%s - "%s %s HTTP/%s" %d', *args)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _path(scope: Scope) -> str:
    """As uvicorn writes it: the path quoted, then the raw query string."""
    path = quote(scope.get("root_path", "") + scope["path"])
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('ascii', 'replace')}" if query else path
