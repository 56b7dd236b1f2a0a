"""A 2026-07-28 HTTP satellite's discovery and tool list as plain JSON-RPC, without the SDK client's stack.

The SDK client's first contact with a satellite (``server/discover``, then ``tools/list``) cost ~3.5 ms of
Nexus's CPU per satellite: a client, a transport, a dispatcher and their task groups built for two
requests. A first fan-out to 500 satellites paid that 500 times. Here each request is one ``POST`` of one
JSON-RPC body on the pool's kept-alive connections
(:class:`~nexus_agent.satellites.relay_http.RelayConnections`: the outbound URL policy on every new
connection, the satellite's bearer token), stamped as the SDK client stamps it (protocol version, client
info, and the client capabilities Nexus's SDK client declares, so a satellite sees the same client
either way), and read as the SDK reads it (``ttlMs`` floored, the result validated by the MCP types).

Only the plain success is handled here. Anything else raises :class:`RawUnavailable` and the SDK client
does the work instead, with its own negotiation, error reading and fault accounting: a satellite that
does not speak 2026-07-28 (``legacy`` says whether the SDK's own probe would settle on the handshake, so
it need not probe again), an HTTP or JSON-RPC error, an answer that is not the MCP schema. Both requests
are safe to resend. A ``TimeoutError`` is not swallowed: the caller's deadline covers both paths.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mcp_types as types
from mcp.shared.inbound import find_invalid_x_mcp_header
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types import methods as mcp_methods
from mcp_types.version import LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS

from nexus_agent import __version__
from nexus_agent.satellites.relay_answers import answer_of
from nexus_agent.satellites.relay_http import RelayConnections

__all__ = ["CLIENT_CAPABILITIES", "RawUnavailable", "raw_discover", "raw_list_tools", "stamped_request"]

logger = logging.getLogger(__name__)

MAX_PAGES = 100
_CLIENT_INFO = {"name": "nexus", "version": __version__}
#: What Nexus's SDK client declares (SatelliteConnection relays sampling, elicitation and roots to the caller).
CLIENT_CAPABILITIES: dict[str, Any] = types.ClientCapabilities(
    sampling=types.SamplingCapability(),
    elicitation=types.ElicitationCapability(
        form=types.FormElicitationCapability(), url=types.UrlElicitationCapability()
    ),
    roots=types.RootsCapability(list_changed=True),
).model_dump(by_alias=True, mode="json", exclude_none=True)


class RawUnavailable(Exception):
    """Not a plain 2026-07-28 success: the SDK client makes the request instead.

    ``legacy``: the satellite answered discovery in a way the SDK's own probe reads as "use the handshake"
    (a JSON-RPC error other than -32022, or no 2026-era version offered)."""

    def __init__(self, why: str, *, legacy: bool = False) -> None:
        super().__init__(why)
        self.legacy = legacy


def stamped_request(request_id: int | str, method: str, params: dict[str, Any], version: str) -> bytes:
    """A JSON-RPC request body with the 2026-07-28 ``_meta`` the SDK client stamps on every request."""
    meta = {
        types.PROTOCOL_VERSION_META_KEY: version,
        types.CLIENT_INFO_META_KEY: _CLIENT_INFO,
        types.CLIENT_CAPABILITIES_META_KEY: CLIENT_CAPABILITIES,
    }
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}
    return json.dumps(body, separators=(",", ":")).encode()


def _headers(token: str | None, method: str, version: str) -> dict[str, str]:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": version,
        "mcp-method": method,
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


async def _ask(
    relay: RelayConnections, url: str, token: str | None, method: str, params: dict[str, Any], version: str
) -> dict[str, Any]:
    """The JSON-RPC message answering one request (``result`` or ``error``); RawUnavailable if there is none."""
    try:
        answer = await relay.post(
            url, stamped_request(1, method, params, version), _headers(token, method, version), timeout=3600
        )
    except TimeoutError:
        raise
    except Exception as exc:  # not reached, or lost mid-answer: the SDK path connects again and reports
        raise RawUnavailable(f"{method}: {type(exc).__name__}: {exc}") from None
    try:
        message = answer_of(answer, 1)
    except Exception:
        raise RawUnavailable(f"{method}: HTTP {answer.status} {answer.content_type}, not JSON-RPC") from None
    if "error" not in message and (answer.status >= 400 or not isinstance(message.get("result"), dict)):
        raise RawUnavailable(f"{method}: HTTP {answer.status} without a result")
    return message


def _floor_ttl(result: dict[str, Any]) -> None:
    """As the SDK client does: a negative ``ttlMs`` is floored to 0 before validation."""
    ttl = result.get("ttlMs")
    if isinstance(ttl, int | float) and not isinstance(ttl, bool) and ttl < 0:
        result["ttlMs"] = 0


async def raw_discover(relay: RelayConnections, url: str, token: str | None) -> tuple[types.DiscoverResult, str]:
    """``server/discover`` at the newest 2026-era version: the satellite's answer and the version to speak."""
    message = await _ask(relay, url, token, "server/discover", {}, LATEST_MODERN_VERSION)
    if "error" in message:
        error = message["error"]
        code = error.get("code") if isinstance(error, dict) else None
        # -32022 names the versions it speaks: the SDK's probe retries or refuses; anything else means handshake.
        # (Only the code is kept: the satellite's own words reach users through the SDK path's error reading.)
        raise RawUnavailable(f"server/discover refused ({code})", legacy=code != UNSUPPORTED_PROTOCOL_VERSION)
    result = message["result"]
    _floor_ttl(result)
    try:
        discovered = types.DiscoverResult.model_validate(result)
    except ValueError:
        raise RawUnavailable("server/discover: not a DiscoverResult", legacy=True) from None
    mutual = [v for v in MODERN_PROTOCOL_VERSIONS if v in discovered.supported_versions]
    if not mutual:
        raise RawUnavailable("server/discover: no 2026-era version offered", legacy=True)
    return discovered, mutual[-1]


async def raw_list_tools(relay: RelayConnections, url: str, token: str | None, version: str) -> list[types.Tool]:
    """Every page of ``tools/list``, validated as the SDK client validates it."""
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = {"cursor": cursor} if cursor else {}
        message = await _ask(relay, url, token, "tools/list", params, version)
        if "error" in message:
            error = message["error"]
            raise RawUnavailable(f"tools/list refused ({error.get('code') if isinstance(error, dict) else '?'})")
        result = message["result"]
        if result.get("resultType", "complete") != "complete":
            raise RawUnavailable(f"tools/list answered with resultType {result.get('resultType')!r}")
        _floor_ttl(result)
        try:
            mcp_methods.validate_server_result("tools/list", version, result)  # the version's own schema first
            page = types.ListToolsResult.model_validate(result)
        except (ValueError, KeyError):
            raise RawUnavailable("tools/list: not a ListToolsResult") from None
        for tool in page.tools:
            # 2026-07-28: a client MUST drop a tool whose x-mcp-header annotations are invalid (the SDK does).
            if (reason := find_invalid_x_mcp_header(tool.input_schema)) is not None:
                logger.warning("dropping tool %r: invalid x-mcp-header (%s)", tool.name, reason)
            else:
                tools.append(tool)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools
