"""What the gateway fast path reads of a request before it decides: its headers, in one pass, and its body.

:mod:`nexus_agent.gateway_fastpath` takes only a sessionless (2026-07-28) ``POST /mcp`` whose headers name a
``tools/call`` of a satellite's tool (``<app>__<tool>``) or of one of Nexus's own read-only tools; everything
else goes on untouched. The body it reads is kept, so the normal path can take the request over as it came.
"""

from __future__ import annotations

import operator

from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import Message, Receive, Scope

from nexus_agent.gateway_own import OwnTools
from nexus_agent.wire.inbound import HEADERS_SCOPE_KEY

__all__ = ["candidate", "read_body", "replay"]

MAX_BODY = 4 * 1024 * 1024  # the SDK's own request body limit; a larger body goes the normal way (413)


#: The headers the fast path reads; any of them given twice sends the request the normal way (the routing ones
#: because first-copy and last-copy readers would disagree, as the SDK's ``find_duplicated_routing_header`` says).
_READ = frozenset({b"mcp-method", b"mcp-name", b"mcp-protocol-version", b"content-type", b"accept"})
_IS_PARAM = operator.methodcaller("startswith", b"mcp-param-")


def routing_headers(scope: Scope) -> dict[str, str] | None:
    """The headers the fast path reads (lower-case names), in one pass; None if one is duplicated or the
    request has a session or ``Mcp-Param-*`` headers (the normal path's cases)."""
    by_name = scope.get(HEADERS_SCOPE_KEY)
    if by_name is not None:  # the front door's: no name is given twice
        if b"mcp-session-id" in by_name or any(map(_IS_PARAM, by_name)):
            return None
        get = by_name.get  # a header not given reads as empty: candidate() needs all five, none of them empty
        return {
            "mcp-method": get(b"mcp-method", b"").decode("latin-1"),
            "mcp-name": get(b"mcp-name", b"").decode("latin-1"),
            "mcp-protocol-version": get(b"mcp-protocol-version", b"").decode("latin-1"),
            "content-type": get(b"content-type", b"").decode("latin-1"),
            "accept": get(b"accept", b"").decode("latin-1"),
        }
    found: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key in _READ:
            name = key.decode("latin-1")
            if name in found:
                return None
            found[name] = value.decode("latin-1")
        elif key == b"mcp-session-id" or key.startswith(b"mcp-param-"):
            return None
    return found


def candidate(scope: Scope, own: OwnTools) -> dict[str, str] | None:
    """Cheap checks on the headers alone (the body is read only for these): the headers read, or None."""
    if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != "/mcp":
        return None
    headers = routing_headers(scope)
    if headers is None:
        return None
    name = headers.get("mcp-name", "")
    if headers.get("mcp-method") != "tools/call" or ("__" not in name and name not in own):
        return None
    if headers.get("mcp-protocol-version") not in MODERN_PROTOCOL_VERSIONS:
        return None
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" or "application/json" not in headers.get("accept", ""):
        return None
    return headers


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in (replayed to the normal path if it takes over)."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):  # the whole body at once
        return message.get("body", b""), [message]
    messages: list[Message] = [message]
    size = 0
    while True:
        if message["type"] != "http.request":
            return b"", messages
        size += len(message.get("body", b""))
        if size > MAX_BODY or not message.get("more_body", False):
            break
        message = await receive()
        messages.append(message)
    return b"".join(m.get("body", b"") for m in messages), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
