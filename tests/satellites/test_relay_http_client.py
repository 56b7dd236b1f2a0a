"""The gateway fast path's relay connections against real HTTP servers on 127.0.0.1 (uvicorn, and raw sockets
for the answers a well-behaved server never gives)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

from nexus_agent.outbound import OutboundPolicy
from nexus_agent.satellites import relay_http as gateway_http
from nexus_agent.satellites.relay_http import RelayConnectError, RelayConnections, RelayLost
from nexus_agent.testing import serve_in_thread

pytestmark = pytest.mark.anyio

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def relay(policy: OutboundPolicy | None = None) -> RelayConnections:
    return RelayConnections(policy or OutboundPolicy(), None, connect_timeout=5)


def recording_app(seen: list[tuple[Any, bytes, dict[bytes, bytes]]]) -> Any:
    """Answers JSON at /json and a chunked SSE stream at /sse; records each request's client port, body, headers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append((scope["client"][1], body, dict(scope["headers"])))
        if scope["path"] == "/sse":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            await send({"type": "http.response.body", "body": b"event: message\r\n", "more_body": True})
            await send({"type": "http.response.body", "body": b"data: " + body + b"\r\n\r\n", "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def test_answers_are_read_whole_and_the_connection_is_kept_alive() -> None:
    seen: list[tuple[Any, bytes, dict[bytes, bytes]]] = []
    connections = relay()
    with serve_in_thread(recording_app(seen)) as base:
        with anyio.fail_after(20):
            first = await connections.post(f"{base}/json?x=1", b'{"n": 1}', {"mcp-name": "echo", **HEADERS}, timeout=10)
            second = await connections.post(f"{base}/sse", b'{"n": 2}', HEADERS, timeout=10)
            third = await connections.post(f"{base}/json", b"x" * 200_000, HEADERS, timeout=10)
        await connections.aclose()
    assert (first.status, first.content_type, first.body) == (201, "application/json", b'{"n": 1}')
    assert (second.status, second.content_type) == (200, "text/event-stream")
    assert second.body == b'event: message\r\ndata: {"n": 2}\r\n\r\n'  # chunked on the wire, whole here
    assert third.body == b"x" * 200_000
    ports = {port for port, _, _ in seen}
    assert len(ports) == 1, "every request went over the one kept-alive connection"
    headers = seen[0][2]
    assert headers[b"host"] == base.removeprefix("http://").encode() and headers[b"mcp-name"] == b"echo"
    assert headers[b"content-length"] == b"8"


async def test_an_idle_connection_past_its_age_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, bytes, dict[bytes, bytes]]] = []
    connections = relay()
    with serve_in_thread(recording_app(seen)) as base:
        with anyio.fail_after(20):
            await connections.post(f"{base}/json", b"{}", HEADERS, timeout=10)
            monkeypatch.setattr(gateway_http, "IDLE_S", 0.0)
            await connections.post(f"{base}/json", b"{}", HEADERS, timeout=10)
        await connections.aclose()
    assert len({port for port, _, _ in seen}) == 2


async def test_after_aclose_no_connection_is_kept() -> None:
    seen: list[tuple[Any, bytes, dict[bytes, bytes]]] = []
    connections = relay()
    with serve_in_thread(recording_app(seen)) as base:
        with anyio.fail_after(20):
            await connections.post(f"{base}/json", b"{}", HEADERS, timeout=10)
            await connections.aclose()  # Nexus shutting down: a call still in flight finishes, its connection closes
            await connections.post(f"{base}/json", b"{}", HEADERS, timeout=10)
            await connections.post(f"{base}/json", b"{}", HEADERS, timeout=10)
    assert len({port for port, _, _ in seen}) == 3


@contextlib.asynccontextmanager
async def raw_server(handler: Callable[[SocketStream, int], Awaitable[object]]) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server on 127.0.0.1 running ``handler(stream, n)`` for the n-th connection it accepts."""
    accepted: list[int] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve(stream: SocketStream) -> None:
        accepted.append(len(accepted))
        async with stream:
            await handler(stream, accepted[-1])

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield f"http://127.0.0.1:{port}/mcp", accepted
        tg.cancel_scope.cancel()


async def read_request(stream: SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += await stream.receive()
    return body


async def test_a_connection_the_server_closes_is_not_reused() -> None:
    async def close_after_answer(stream: SocketStream, n: int) -> None:
        while True:
            await read_request(stream)
            await stream.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n")
            await stream.send(b"connection: close\r\n\r\n{}" if n == 0 else b"\r\n{}")
            if n == 0:
                return

    async with raw_server(close_after_answer) as (url, accepted):
        connections = relay()
        with anyio.fail_after(20):
            for _ in range(3):
                assert (await connections.post(url, b"{}", HEADERS, timeout=10)).body == b"{}"
        await connections.aclose()
    assert len(accepted) == 2  # the first said 'connection: close'; the second was kept


async def test_an_answer_cut_short_is_lost_not_truncated() -> None:
    async def cut(stream: SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"jsonrpc"')

    async with raw_server(cut) as (url, _):
        connections = relay()
        with anyio.fail_after(20), pytest.raises(RelayLost, match="before its answer was complete"):
            await connections.post(url, b"{}", HEADERS, timeout=10)
        await connections.aclose()


async def test_an_answer_whose_body_ends_with_the_connection_is_read_whole() -> None:
    """HTTP/1.0 style (no Content-Length, not chunked): the body is everything until the server closes."""

    async def until_close(stream: SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(b'HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"status": ')
        await stream.send(b'"success", "result": {"qty": 42}}')

    async with raw_server(until_close) as (url, accepted):
        connections = relay()
        with anyio.fail_after(20):
            for _ in range(2):
                answer = await connections.post(url, b"{}", HEADERS, timeout=10)
                assert (answer.status, answer.body) == (200, b'{"status": "success", "result": {"qty": 42}}')
        await connections.aclose()
    assert len(accepted) == 2  # never reused: the answer ended with its connection


async def test_an_answer_that_does_not_come_in_time_is_a_timeout_and_the_connection_is_dropped() -> None:
    async def slow(stream: SocketStream, n: int) -> None:
        await read_request(stream)
        if n == 0:
            await anyio.sleep_forever()
        await stream.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        await anyio.sleep_forever()

    async with raw_server(slow) as (url, accepted):
        connections = relay()
        with anyio.fail_after(20):
            with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
                await connections.post(url, b"{}", HEADERS, timeout=0.2)
            assert (await connections.post(url, b"{}", HEADERS, timeout=10)).body == b"{}"
        await connections.aclose()
    assert len(accepted) == 2  # the timed-out connection was not reused


async def test_garbage_is_a_parse_error() -> None:
    async def garbage(stream: SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(b"SMTP READY\r\n\r\n")
        await anyio.sleep_forever()

    async with raw_server(garbage) as (url, _):
        connections = relay()
        with anyio.fail_after(20), pytest.raises(ValueError, match="could not be parsed"):
            await connections.post(url, b"{}", HEADERS, timeout=10)
        await connections.aclose()


async def test_nothing_is_sent_where_the_policy_or_the_network_says_no() -> None:
    async with raw_server(lambda stream, n: read_request(stream)) as (url, accepted):
        refused = relay(OutboundPolicy(allow_loopback=False))
        with anyio.fail_after(20), pytest.raises(RelayConnectError) as caught:
            await refused.post(url, b"{}", HEADERS, timeout=10)
        assert caught.value.refusal is not None and "loopback" in caught.value.refusal.message
        assert accepted == []  # not even a connection
    with anyio.fail_after(20), pytest.raises(RelayConnectError, match="cannot connect"):  # the listener is gone
        await relay().post(url, b"{}", HEADERS, timeout=10)
    with pytest.raises(RelayConnectError, match="not an http"):
        await relay().post("ftp://127.0.0.1/x", b"{}", HEADERS, timeout=10)
