"""The gateway fast path's message-handler branch: a legacy app's read-only message, without the SDK's stacks.

:mod:`nexus_agent.gateway_fastpath` answers a sessionless (2026-07-28) ``tools/call`` of ``<app>__<tool>``
itself. For an MCP satellite it relays the JSON-RPC call; for a legacy app (a message handler) this module
makes the call: the app's connection
(:meth:`~nexus_agent.satellites.message_handler.MessageHandlerConnection.send`) turns the validated arguments
into the signed ``POST {"type", "params", "request_id", "timestamp"}`` on its kept-alive connection and judges
the answer: that is the call's first attempt. The satellite's breaker counts the outcome, and a fault the
satellite would retry goes on in :meth:`~nexus_agent.satellites.satellite.Satellite.retry` (the pool's remaining
attempts, backoff and deadline: the app is sent no more messages than on the normal path), so every per-app
error (``unreachable``, ``timeout``, ``rejected``, ``protocol``...) reads as on the normal path. The answer
then passes the pool's secret guard. The fast path itself has already applied the role rule,
``NEXUS_MAX_INPUT_BYTES`` and the argument schema, and counts the call in the metrics.

Only a read-only message takes this branch (``query.*`` and ``test.ping``: read-only and
idempotent, no approval): an ``action.*`` or any other type, a blocked app, an app whose secret
is not set and an app whose breaker is not closed all go the normal way, which answers as it
always did.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio

from nexus_agent.satellites.legacy_tools import is_read_only_message
from nexus_agent.satellites.message_handler import MessageHandlerConnection, structured
from nexus_agent.satellites.models import BreakerState, SatelliteCallResult, SatelliteTool
from nexus_agent.satellites.pool import SatellitePool
from nexus_agent.satellites.satellite import Satellite
from nexus_agent.wire.errors import NexusError

__all__ = ["legacy_relay_allowed", "relay_legacy_call"]

log = logging.getLogger("nexus.gateway")


def legacy_relay_allowed(sat: Satellite, tool: SatelliteTool) -> bool:
    """Whether the fast path may make this call: a legacy app's read-only message, ready to be sent.

    Read-only twice over: the tool is annotated so, and its message type is ``query.*`` or ``test.ping``
    (what ``legacy_tools`` derives the annotation from), so no message that needs approval slips through.
    """
    connection = sat.connection
    if not isinstance(connection, MessageHandlerConnection) or sat.blocked is not None:
        return False
    legacy = connection.tools.get(tool.name)
    if legacy is None or not tool.read_only or not is_read_only_message(legacy.message_type):
        return False
    if sat.breaker.state is not BreakerState.closed:  # open: the normal path says so; half-open: its trial
        return False
    try:
        connection.check_ready()  # the app's secret is set (else the normal path names the variable to set)
    except NexusError:
        return False
    return True


async def relay_legacy_call(
    pool: SatellitePool, sat: Satellite, tool: SatelliteTool, arguments: dict[str, Any]
) -> dict[str, Any]:
    """Send the message (``arguments`` already validated) and answer the MCP result as JSON.

    One attempt straight on the app's connection (:meth:`MessageHandlerConnection.send`), its outcome counted by
    the satellite's breaker as :meth:`Satellite.call` counts it: the call's first attempt. A fault that the
    satellite's call would retry (unreachable, a lost connection, HTTP 5xx/408/429) goes on in
    :meth:`Satellite.retry` with the pool's remaining attempts, backoff and deadline; any other fault, or the last
    attempt's, is raised as the normal path raises it. Raises the pool's
    :class:`~nexus_agent.wire.errors.NexusError` (an ``UpstreamError`` naming the app and the reason, or
    ``SecretLeakRefused``), which the fast path turns into a tool error as the MCP server does.
    """
    timeout, began = pool.settings.call_timeout, time.perf_counter()
    connection = sat.connection
    assert isinstance(connection, MessageHandlerConnection)  # legacy_relay_allowed said so
    log.debug("sending %s to legacy app %s on the fast path", tool.name, sat.slug)
    try:  # the connection's own timer bounds the wait (the call timeout), cheaper than a cancel scope
        result, text = await connection.send(connection.tools[tool.name], arguments)
    except Exception as exc:
        error = sat._fault(None, exc, f"calling tool '{tool.name}'", timeout, None)
        deadline = anyio.current_time() + timeout - (time.perf_counter() - began)  # the call's, from its start
        answer = await sat.retry(tool, arguments, error, deadline=deadline, timeout=timeout)  # or raises error
        pool.guard_answer(answer)
        return _as_json(answer)
    sat.breaker.record_success()
    content = [{"type": "text", "text": text}]
    structured_content = structured(result)
    # The secret guard every satellite answer passes, on the answer's JSON parts (no model built for it).
    pool.guard_parts(sat.slug, tool.name, tool.qualified_name, content, structured_content)
    return {"content": content, "isError": False, "structuredContent": structured_content}


def _as_json(result: SatelliteCallResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "content": [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content],
        "isError": result.is_error,
    }
    if result.structured_content is not None:
        out["structuredContent"] = result.structured_content
    return out
