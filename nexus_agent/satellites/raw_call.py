"""A fan-out's ``tools/call`` sent as plain JSON-RPC, without the SDK client's stack.

A satellite already reached over HTTP on protocol 2026-07-28 is sessionless: one ``POST`` with one
JSON-RPC body is the whole call. The SDK client spends ~2 ms of CPU per request on it; a fan-out to 500
satellites paid that 500 times. :func:`raw_call` posts the body on a kept-alive connection
(:class:`~nexus_agent.satellites.relay_http.RelayConnections`: the outbound URL policy on every new connection,
the satellite's bearer token, httptools parsing the answer) and reads the answer as the SDK would: the
content blocks, the structured content checked against the tool's output schema, faults counted
against the breaker and described as the SDK path describes them.

The caller (:meth:`PoolCalls._call`) keeps everything else: the argument check against the cached
schema, the per-call deadline, the secret guard on the answer and the observer. Anything unusual goes
the SDK path (:class:`UseSdk`): a satellite not (yet) reached on 2026-07-28, stdio and legacy apps, a
breaker that is not closed, nothing sent (the connection could not be made), a satellite that wants to
ask the client (-32021, ``input_required``), or any fault on a tool that is safe to resend (the SDK
path retries it). A fault after the request went out, on a tool that may have acted, is never resent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import encode_header_value, mcp_param_headers, x_mcp_header_map
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter

from nexus_agent import __version__
from nexus_agent.satellites._faults import classify
from nexus_agent.satellites.connection import SatelliteConnection
from nexus_agent.satellites.discovery import compiled_output_validator
from nexus_agent.satellites.models import BreakerState, SatelliteCallResult, SatelliteTool
from nexus_agent.satellites.relay_answers import answer_of, is_capability_refusal, refused_as_asking
from nexus_agent.satellites.relay_http import RelayConnectError, RelayConnections
from nexus_agent.satellites.satellite import Satellite

__all__ = ["UseSdk", "raw_call", "raw_eligible"]

logger = logging.getLogger(__name__)
_CONTENT = TypeAdapter(list[types.ContentBlock])
_CLIENT_INFO = {"name": "nexus", "version": __version__}


class UseSdk(Exception):
    """Nothing reached the satellite, or the tool is safe to resend: the SDK path makes (or redoes) the call."""


def raw_eligible(sat: Satellite) -> str | None:
    """The satellite's MCP URL if a call may go raw now, else None (the SDK path)."""
    connection, url = sat.connection, sat.record.endpoints.mcp_url
    if (
        url is None
        or sat.blocked is not None
        or not isinstance(connection, SatelliteConnection)
        or not connection.connected
        or connection.protocol_version not in MODERN_PROTOCOL_VERSIONS
        or (sat.record.endpoints.token_env and not sat.token)
        or sat.breaker.state is not BreakerState.closed  # a half-open trial: the SDK path's own accounting
    ):
        return None
    return str(url)


def _request(request_id: int, tool: SatelliteTool, arguments: dict[str, Any], version: str) -> bytes:
    meta = {
        types.PROTOCOL_VERSION_META_KEY: version,
        types.CLIENT_INFO_META_KEY: _CLIENT_INFO,
        types.CLIENT_CAPABILITIES_META_KEY: {},  # none: a satellite that wants to ask refuses; the SDK path asks
    }
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool.name, "arguments": arguments, "_meta": meta},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _headers(sat: Satellite, tool: SatelliteTool, arguments: dict[str, Any], version: str) -> dict[str, str]:
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": version,
        "mcp-method": "tools/call",
        "mcp-name": encode_header_value(tool.name),
    }
    if sat.token:
        headers["authorization"] = f"Bearer {sat.token}"
    # As the SDK client does on 2026-07-28: arguments the tool's schema marks with x-mcp-header go as headers too.
    headers.update(mcp_param_headers(x_mcp_header_map(tool.input_schema), arguments))
    return headers


def _check_output(tool: SatelliteTool, is_error: bool, answer: dict[str, Any]) -> None:
    """The SDK client's check of a result against the tool's output schema, with the same messages."""
    if tool.output_schema is None or is_error:
        return
    if "structuredContent" not in answer:
        raise RuntimeError(f"Tool {tool.name} has an output schema but did not return structured content")
    from jsonschema import exceptions as jsonschema_exceptions

    validator = compiled_output_validator(tool.output_schema)
    error = jsonschema_exceptions.best_match(validator.iter_errors(answer["structuredContent"]))
    if error is not None:
        raise RuntimeError(f"Invalid structured content returned by tool {tool.name}: {error}")


async def raw_call(
    relay: RelayConnections,
    sat: Satellite,
    url: str,
    tool: SatelliteTool,
    arguments: dict[str, Any],
    *,
    deadline: float,
    timeout: float,
) -> SatelliteCallResult:
    """Call ``tool`` (arguments already validated) with one POST; raises :class:`UseSdk` or an UpstreamError."""
    connection = sat.connection
    assert isinstance(connection, SatelliteConnection) and connection.protocol_version is not None
    version, action = connection.protocol_version, f"calling tool '{tool.name}'"
    started = anyio.current_time()
    remaining = deadline - started
    if remaining <= 0:
        raise classify(TimeoutError(), connection.fault_context, action, timeout)
    try:
        answer = await relay.post(
            url, _request(1, tool, arguments, version), _headers(sat, tool, arguments, version), timeout=remaining
        )
    except Exception as exc:
        if isinstance(exc, RelayConnectError) or (tool.retryable and not isinstance(exc, TimeoutError)):
            raise UseSdk from None  # nothing sent, or safe to resend: the SDK path connects, retries and reports
        raise sat._fault(None, exc, action, timeout, None) from None
    if refused_as_asking(answer, 1):
        raise UseSdk  # it ran nothing and wants to ask the client: the SDK path relays that
    if answer.status >= 400:
        if tool.retryable:
            raise UseSdk
        raise sat._fault(None, RuntimeError("HTTP error"), action, timeout, answer.status)
    try:
        message = answer_of(answer, 1)
        if "error" in message:
            error = message["error"]
            if is_capability_refusal(error):
                raise UseSdk
            raise MCPError(int(error["code"]), str(error["message"]), error.get("data"))  # as the SDK raises it
        result = message["result"]
        kind = result.get("resultType", "complete")
        if kind == "input_required":
            raise UseSdk  # the protocol resends the call with the answers: the SDK path asks and resends
        if kind != "complete":
            raise ValueError(f"the satellite answered with resultType {kind!r}")
        is_error = bool(result.get("isError", False))
        content = _CONTENT.validate_python(result.get("content", []))
        _check_output(tool, is_error, result)
    except UseSdk:
        raise
    except Exception as exc:
        raise sat._fault(None, exc, action, timeout, None) from None
    sat.breaker.record_success()
    return SatelliteCallResult(
        slug=sat.slug,
        tool=tool.name,
        qualified_name=tool.qualified_name,
        is_error=is_error,
        content=content,
        structured_content=result.get("structuredContent"),
        duration_ms=(anyio.current_time() - started) * 1000,
    )
