"""A 2026-07-28 satellite's tool-change stream (``subscriptions/listen``) held without the SDK client.

Through the SDK client each stream cost ~1.6 ms of Nexus's CPU to open (a client session, a transport, an
``httpx`` stream and their task groups), and 500 satellites held 500 of them. Here the stream is one ``POST``
on a connection of its own (:meth:`RelayConnections.open_stream`: the outbound URL policy, the satellite's
bearer token), its SSE answer parsed by ``httptools`` as it arrives:

- ``notifications/subscriptions/acknowledged`` for this subscription: the satellite honoured (or declined)
  the tool-list filter;
- ``notifications/tools/list_changed`` stamped with this subscription's id: its tools changed;
- the JSON-RPC response to the request: the satellite closed the subscription gracefully.

As the SDK's ``listen`` reads it: events of other subscriptions are ignored, and there is no replay, so a
listener that loses its stream must refetch what it depends on (:func:`hold_tool_stream` says how it ended).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any, cast

import anyio
import httptools
import mcp_types as types
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY

from nexus_agent.satellites.raw_discovery import stamped_request
from nexus_agent.satellites.relay_http import RelayConnections

__all__ = ["StreamEnd", "hold_tool_stream"]

logger = logging.getLogger(__name__)

_MAX_EVENT = 1 << 20  # an SSE event larger than this ends the stream (a listener's events are tiny)


class StreamEnd(StrEnum):
    DECLINED = "declined"  # never acknowledged with tools: the satellite does not offer the stream
    CLOSED = "closed"  # acknowledged, then closed by the satellite (gracefully or not): refetch and re-listen


class _Events(asyncio.Protocol):
    """Reads one ``subscriptions/listen`` answer: the HTTP head, then SSE events, each handed to ``on_message``."""

    def __init__(self, on_message: Callable[[dict[str, Any]], None], news: anyio.Event) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.ended: str | None = None  # why, once the answer is over
        self.news = news  # set when acknowledged or ended
        self._on_message = on_message
        self._parser = httptools.HttpResponseParser(self)
        self._buffer = ""
        self._type = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(f"unreadable HTTP: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("connection closed")

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._type = value.decode("latin-1").split(";")[0].strip().lower()

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status != 200 or self._type not in ("text/event-stream", "application/json"):
            self._end(f"HTTP {status} {self._type or 'without a type'}")

    def on_body(self, body: bytes) -> None:
        if self._type == "application/json":  # one JSON-RPC answer (an error): no stream
            self._buffer += body.decode("utf-8", "replace")
        else:
            self._buffer += body.decode("utf-8", "replace").replace("\r\n", "\n")
            while "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
                if data:
                    self._deliver(data)
        if len(self._buffer) > _MAX_EVENT:
            self._end("an answer or event too large")

    def on_message_complete(self) -> None:
        if self._type == "application/json" and self._buffer:
            self._deliver(self._buffer)
        self._end("answer complete")

    def _deliver(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if isinstance(message, dict):
            self._on_message(message)

    def _end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
            self.news.set()
        if self.transport is not None:
            self.transport.close()


async def hold_tool_stream(
    relay: RelayConnections,
    url: str,
    token: str | None,
    version: str,
    subscription_id: str,
    *,
    ack_timeout: float,
    on_acknowledged: Callable[[], None],
    on_change: Callable[[], None],
) -> StreamEnd:
    """Open the stream and hold it until the satellite ends it (or the caller is cancelled: it is closed).

    ``on_acknowledged`` is called once the satellite has honoured the tool-list filter, ``on_change`` for each
    change it announces. Raises what connecting raises (RelayConnectError) and TimeoutError when no
    acknowledgement came within ``ack_timeout``."""
    news, ended = anyio.Event(), anyio.Event()
    state: dict[str, Any] = {"honored": False, "acked": False}

    def on_message(message: dict[str, Any]) -> None:
        if "method" not in message:
            return  # the response to the request: the stream ends with it
        params: dict[str, Any] = message["params"] if isinstance(message.get("params"), dict) else {}
        meta: dict[str, Any] = params["_meta"] if isinstance(params.get("_meta"), dict) else {}
        if meta.get(SUBSCRIPTION_ID_META_KEY) != subscription_id:
            return
        method = message.get("method")
        if method == "notifications/subscriptions/acknowledged" and not state["acked"]:
            notifications = params.get("notifications")
            state["honored"] = isinstance(notifications, dict) and notifications.get("toolsListChanged") is True
            state["acked"] = True
            news.set()
            if state["honored"]:
                on_acknowledged()
        elif method == "notifications/tools/list_changed" and state["honored"]:
            on_change()

    params = {"notifications": types.SubscriptionFilter(tools_list_changed=True).model_dump(by_alias=True)}
    params["notifications"] = {k: v for k, v in params["notifications"].items() if v is not None}
    body = stamped_request(subscription_id, "subscriptions/listen", params, version)
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": version,
        "mcp-method": "subscriptions/listen",
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    stream = await relay.open_stream(url, body, headers, lambda: _Events(on_message, news))
    try:
        with anyio.fail_after(ack_timeout):
            await news.wait()  # acknowledged, or ended first
        if not state["honored"]:
            return StreamEnd.DECLINED
        stream.news = ended
        if stream.ended is None:
            await ended.wait()
        logger.info("tool-change stream ended: %s", stream.ended)
        return StreamEnd.CLOSED
    finally:
        cast(asyncio.Transport, stream.transport).close()
