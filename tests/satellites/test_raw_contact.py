"""First contact with a 2026-07-28 HTTP satellite without the SDK client (raw_contact): discovery and the tool
list as plain JSON-RPC, the tool-change stream held by Nexus itself, and the SDK client taking over (without
probing again) where it is needed. What a user sees must not change: the same tools, the same errors, and
tool-list changes still reach the pool."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nexus_agent.outbound import OutboundPolicy
from nexus_agent.satellites.change_stream import StreamEnd, hold_tool_stream
from nexus_agent.satellites.relay_http import RelayConnections
from nexus_agent.testing import serve_in_thread
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

pytestmark = pytest.mark.anyio

SUB_KEY = "io.modelcontextprotocol/subscriptionId"


class Scripted:
    """A hand-written 2026-07-28 satellite whose tool-change stream the test drives."""

    def __init__(self, *, list_changed: bool = True, honour: bool = True) -> None:
        self.list_changed, self.honour = list_changed, honour
        self.tools = ["alpha"]
        self.schema: dict[str, Any] = {"type": "object"}
        self.methods: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.streams: list[anyio.abc.ObjectSendStream[dict[str, Any] | None]] = []

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/mcp", self.endpoint, methods=["POST"])])

    async def endpoint(self, request: Request) -> Response:
        body = await request.json()
        method, rid = body["method"], body.get("id")
        self.methods.append(method)
        self.headers.append(dict(request.headers))
        if method == "server/discover":
            caps = {"tools": {"listChanged": self.list_changed}}
            return self.result(
                rid, {"supportedVersions": ["2026-07-28"], "capabilities": caps, "ttlMs": 0, "cacheScope": "private"}
            )
        if method == "tools/list":
            tools = [{"name": n, "inputSchema": self.schema} for n in self.tools]
            return self.result(rid, {"tools": tools, "ttlMs": 0, "cacheScope": "private"})
        if method == "tools/call":
            return self.result(rid, {"content": [{"type": "text", "text": f"called {body['params']['name']}"}]})
        if method == "subscriptions/listen":
            return self.listen(rid)
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no such method"}})

    @staticmethod
    def result(rid: Any, result: dict[str, Any]) -> JSONResponse:
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": {"resultType": "complete", **result}})

    def listen(self, rid: Any) -> Response:
        send, receive = anyio.create_memory_object_stream[dict[str, Any] | None](10)
        self.streams.append(send)
        honoured = {"toolsListChanged": True} if self.honour else {}
        ack = {
            "method": "notifications/subscriptions/acknowledged",
            "params": {"_meta": {SUB_KEY: rid}, "notifications": honoured},
        }

        async def events() -> AsyncIterator[bytes]:
            yield sse({"jsonrpc": "2.0", **ack})
            async with receive:
                async for message in receive:
                    if message is None:  # the satellite ends the subscription gracefully
                        yield sse({"jsonrpc": "2.0", "id": rid, "result": {}})
                        return
                    yield sse({"jsonrpc": "2.0", **message, "params": {"_meta": {SUB_KEY: rid}}})

        return StreamingResponse(events(), media_type="text/event-stream")

    async def announce(self, message: dict[str, Any] | None) -> None:
        for stream in self.streams:
            with contextlib.suppress(anyio.BrokenResourceError):  # a stream Nexus already closed
                await stream.send(message)


def sse(message: dict[str, Any]) -> bytes:
    return f"event: message\ndata: {json.dumps(message)}\n\n".encode()


def record(base: str, slug: str = "scripted") -> AppRecord:
    return AppRecord(
        slug=slug, name=slug.title(), status=AppStatus.active, endpoints=AppEndpoints(mcp_url=f"{base}/mcp")
    )


def names(listing: Any) -> set[str]:
    return {t.qualified_name for t in listing.tools}


CHANGED = {"method": "notifications/tools/list_changed"}


async def test_first_contact_and_fan_out_go_without_the_sdk_client(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "hi"}, slugs=["good"])
            connection = pool.connection("good")
            await connection.raw.wait_listening()
        assert result.items[0].ok and result.items[0].result.text == "hi"
        assert connection.connected and connection.protocol_version == "2026-07-28" and connection.opens == 1
        assert connection._live is None  # no SDK client was opened
    seen = sats.traffic.methods["good"]
    assert seen == {"server/discover": 1, "tools/list": 1, "tools/call": 1, "subscriptions/listen": 1}


async def test_the_sdk_client_takes_over_without_probing_again(sats, make_pool):
    """A call with progress needs the SDK client: it starts from what the first contact learnt."""
    seen = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            result = await pool.call("good__count", {"n": 2}, on_progress=on_progress)
    assert result.structured_content == {"result": 2} and seen == [1, 2]
    assert sats.traffic.count("good", "server/discover") == 1
    assert sats.traffic.count("good", "tools/list") == 1  # the SDK client was told the list, not sent for it


async def test_a_handshake_era_satellite_is_probed_once(sats, make_pool):
    async with make_pool([sats.record("legacy")]) as pool:
        with anyio.fail_after(10):
            result = await pool.fan_out("echo", {"text": "old"}, slugs=["legacy"])
        assert result.items[0].result.text == "legacy old"
        assert pool.connection("legacy").protocol_version == "2025-11-25"
    assert sats.traffic.count("legacy", "server/discover") == 1
    assert sats.traffic.count("legacy", "initialize") == 1


async def test_tool_changes_arrive_on_the_stream_and_a_closed_stream_is_replaced(make_pool):
    scripted = Scripted()
    with serve_in_thread(scripted.app()) as base:
        async with make_pool([record(base)], tools_ttl=3600) as pool:
            with anyio.fail_after(10):
                assert names(await pool.list_tools()) == {"scripted__alpha"}
                contact = pool.connection("scripted").raw
                await contact.wait_listening()
                scripted.tools.append("beta")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pool.wait_tools_changed)
                    await scripted.announce(CHANGED)
                assert names(await pool.list_tools()) == {"scripted__alpha", "scripted__beta"}
                # The satellite ends the stream: what changed meanwhile is unknown, so the list is refetched,
                # and that listing opens a new stream.
                scripted.tools.append("gamma")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pool.wait_tools_changed)
                    await scripted.announce(None)
                assert "scripted__gamma" in names(await pool.list_tools())
                await contact.wait_listening()
    assert scripted.methods.count("subscriptions/listen") == 2
    assert scripted.methods.count("tools/list") == 3
    assert scripted.methods.count("server/discover") == 1


@pytest.mark.parametrize("list_changed, honour", [(False, True), (True, False)])
async def test_no_stream_where_the_satellite_offers_none(make_pool, list_changed, honour):
    scripted = Scripted(list_changed=list_changed, honour=honour)
    with serve_in_thread(scripted.app()) as base:
        async with make_pool([record(base)], tools_ttl=3600) as pool:
            with anyio.fail_after(10):
                for _ in range(3):
                    await pool.fan_out("alpha", {}, slugs=["scripted"])
                await pool.sync_apps([])  # closes it: any stream is over
    # Offered but declined: asked once, never again until the satellite is discovered afresh.
    assert scripted.methods.count("subscriptions/listen") == (1 if list_changed else 0)
    assert scripted.methods.count("tools/list") == 1 and scripted.methods.count("tools/call") == 3


async def test_watching_can_be_switched_off(make_pool):
    scripted = Scripted()
    with serve_in_thread(scripted.app()) as base:
        async with make_pool([record(base)], watch_tool_changes=False) as pool:
            with anyio.fail_after(10):
                await pool.fan_out("alpha", {}, slugs=["scripted"])
    assert "subscriptions/listen" not in scripted.methods


async def test_a_removed_satellite_stops_listening(make_pool):
    scripted = Scripted()
    with serve_in_thread(scripted.app()) as base:
        async with make_pool([record(base)]) as pool:
            with anyio.fail_after(10):
                await pool.list_tools()
                contact = pool.connection("scripted").raw
                await contact.wait_listening()
                await pool.sync_apps([])
                while contact.listening:  # the stream's task ends at its next checkpoint
                    await anyio.lowlevel.checkpoint()
    assert not contact.listening


async def test_a_plain_call_carries_the_headers_the_sdk_client_would_send(make_pool):
    """2026-07-28: arguments marked x-mcp-header are mirrored into Mcp-Param-* headers, the name into Mcp-Name."""
    scripted = Scripted()
    scripted.tools = ["régional"]
    region = {"type": "string", "x-mcp-header": "Region"}
    scripted.schema = {"type": "object", "properties": {"region": region, "note": {"type": "string"}}}
    with serve_in_thread(scripted.app()) as base:
        async with make_pool([record(base)], watch_tool_changes=False) as pool:
            with anyio.fail_after(10):
                result = await pool.fan_out("régional", {"region": "eu-west", "note": "n"}, slugs=["scripted"])
    assert result.items[0].ok, result.items[0].error
    call = scripted.headers[scripted.methods.index("tools/call")]
    assert call["mcp-param-region"] == "eu-west" and "mcp-param-note" not in call
    assert call["mcp-name"].startswith("=?base64?")  # a name that is not plain ASCII, as the SDK encodes it
    assert call["mcp-method"] == "tools/call" and call["mcp-protocol-version"] == "2026-07-28"


def stream_app(chunks: list[bytes], status: int = 200, media_type: str = "text/event-stream") -> Starlette:
    async def endpoint(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return StreamingResponse(body(), status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/mcp", endpoint, methods=["POST"])])


async def hold(base: str, subscription: str = "sub-1") -> tuple[Any, list[str]]:
    heard: list[str] = []
    relay = RelayConnections(OutboundPolicy(), None, connect_timeout=5)
    try:
        with anyio.fail_after(10):
            end = await hold_tool_stream(
                relay,
                f"{base}/mcp",
                None,
                "2026-07-28",
                subscription,
                ack_timeout=5,
                on_acknowledged=lambda: heard.append("ack"),
                on_change=lambda: heard.append("changed"),
            )
    finally:
        await relay.aclose()
    return end, heard


async def test_the_stream_reader_takes_events_however_they_are_cut():
    """Events split across chunks, CRLF line ends, several data lines; another subscription's events are not ours."""
    ack = sse({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
               "params": {"_meta": {SUB_KEY: "sub-1"}, "notifications": {"toolsListChanged": True}}})  # fmt: skip
    ours = json.dumps({"jsonrpc": "2.0", **CHANGED, "params": {"_meta": {SUB_KEY: "sub-1"}}})
    theirs = sse({"jsonrpc": "2.0", **CHANGED, "params": {"_meta": {SUB_KEY: "sub-2"}}})
    cut = ours.index(",") + 1  # two data lines are one payload with a line break, here between JSON tokens
    split = f"event: message\r\ndata: {ours[:cut]}\r\ndata: {ours[cut:]}\r\n\r\n".encode()
    done = sse({"jsonrpc": "2.0", "id": "sub-1", "result": {}})
    with serve_in_thread(stream_app([ack[:7], ack[7:], theirs, split[:31], split[31:], done])) as base:
        end, heard = await hold(base)
    assert heard == ["ack", "changed"] and end is StreamEnd.CLOSED


@pytest.mark.parametrize(
    "chunks, status, media_type",
    [
        ([b'{"jsonrpc":"2.0","id":"sub-1","error":{"code":-32601,"message":"no"}}'], 200, "application/json"),
        ([b"not here"], 404, "text/plain"),
        ([sse({"jsonrpc": "2.0", "id": "sub-1", "result": {}})], 200, "text/event-stream"),  # closed, never acked
    ],
)
async def test_a_stream_the_satellite_does_not_give_is_declined(chunks, status, media_type):
    with serve_in_thread(stream_app(chunks, status, media_type)) as base:
        end, heard = await hold(base)
    assert end is StreamEnd.DECLINED and heard == []
