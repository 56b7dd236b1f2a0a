"""Kept-alive HTTP/1.1 connections for Nexus's one-request exchanges: one ``POST`` at a time per connection.

The gateway fast path (:mod:`nexus_agent.gateway_fastpath`) and the pool's raw calls and discovery send a
satellite one JSON-RPC body and read one answer back; a legacy app's message
(:mod:`~nexus_agent.satellites.message_handler`) is one signed POST and one answer. A general client's
stack (request and response models, auth, redirect and cookie layers, a log line per request, a
pure-Python HTTP parser) cost more than the relay itself, so this is the narrow client they need: asyncio
connections kept per origin and reused while the other side keeps them open, the request written in one
piece, the answer parsed by ``httptools`` (the C parser uvicorn serves HTTP with). What it keeps of the
answer is its status, its content type and its body.

Every new connection obeys the outbound URL policy the same way ``nexus_agent.outbound``'s clients do
(the host resolved, *every* address checked, a connection made only to an allowed one), and ``https``
uses the satellite pool's verifying TLS context with the URL's host name. A failure before anything
was sent is a :class:`RelayConnectError` (the caller may let another path make the call); after, a
:class:`RelayLost` or a parse error (the request may have reached the satellite).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import httptools

from nexus_agent.outbound import OutboundPolicy, ssl_context
from nexus_agent.wire.errors import Forbidden

__all__ = ["RelayAnswer", "RelayConnectError", "RelayConnections", "RelayLost", "RelayTooLarge"]


class _Streaming(Protocol):
    transport: asyncio.BaseTransport | None


_P = TypeVar("_P", bound=_Streaming)

#: An idle connection older than this is closed rather than reused (uvicorn closes idle ones after 5 s).
IDLE_S = 4.0
#: Idle connections kept per origin (more in flight at once are opened, and closed when done).
MAX_IDLE = 32


class RelayConnectError(ConnectionError):
    """Nothing was sent: the satellite could not be reached (or the outbound policy refused it)."""

    def __init__(self, message: str, refusal: Forbidden | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal


class RelayLost(EOFError):
    """The connection closed before the whole answer arrived (the request may have been handled)."""


class RelayTooLarge(ValueError):
    """The answer's body grew past the caller's ``max_bytes``; reading stopped and the connection was closed."""


class RelayAnswer(NamedTuple):
    status: int
    content_type: str  # lower case, without parameters ("" when the answer names none)
    body: bytes


class _Origin(NamedTuple):
    scheme: str
    host: str
    port: int
    netloc: str  # host[:port] as the Host header names it (the port only when it is not the scheme's own)


@functools.lru_cache(maxsize=4096)  # parsed once per URL: a legacy app's handler URL is posted to on every call
def _target(url: str) -> tuple[_Origin, str]:
    """The URL's origin and the head of a POST to it (request line and Host header, CRLF-terminated)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RelayConnectError(f"not an http(s) URL: {url}")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port == default else f"{host}:{port}"
    return _Origin(scheme, parts.hostname, port, netloc), f"POST {path} HTTP/1.1\r\nhost: {netloc}\r\n"


def _request(head: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The whole request: ``head`` (from :func:`_target`), Content-Length, ``headers`` (lower-case names), body."""
    lines = "".join(map("{0[0]}: {0[1]}\r\n".format, headers.items()))  # one C call per header
    return f"{head}content-length: {len(body)}\r\n{lines}\r\n".encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; ``exchange`` writes a request and waits for the whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._parser: httptools.HttpResponseParser | None = None
        self._done: asyncio.Future[None] | None = None
        self._header = b""
        self._type = ""
        self._body: list[bytes] = []
        self._size = 0
        self._max_bytes: int | None = None
        self._keep_alive = False
        self._framed = False  # the answer says where its body ends (Content-Length or chunked)
        self._in_body = False  # its headers are in: an unframed body ends when the connection does

    # -- asyncio.Protocol ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self._done is None or self._done.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted with the next request
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(ValueError(f"the satellite's HTTP answer could not be parsed: {exc}"))

    def eof_received(self) -> bool:
        self.closed = True
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._done is not None and not self._done.done():
            if exc is None and self._in_body and not self._framed:  # HTTP/1.0 style: the body ends at EOF
                self._finish(None)
                return
            self._finish(RelayLost("the satellite closed the connection before its answer was complete"))

    # -- httptools callbacks ------------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self._type = value.decode("latin-1").split(";")[0].strip().lower()
        elif name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._keep_alive = self._parser.should_keep_alive()  # read here: the parser forgets it once complete
        self._in_body = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._size += len(body)
        if self._max_bytes is not None and self._size > self._max_bytes:
            self._finish(RelayTooLarge(f"the answer is larger than {self._max_bytes} bytes"))

    def on_message_complete(self) -> None:
        self._finish(None)

    # -- use ----------------------------------------------------------------------------------------------------

    async def exchange(self, request: bytes, timeout: float, max_bytes: int | None = None) -> RelayAnswer:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self._done = loop.create_future()
        self._type, self._body, self._size, self._keep_alive = "", [], 0, False
        self._framed = self._in_body = False
        self._max_bytes = max_bytes
        self.transport.write(request)
        # A timer handle, not a cancel scope: a fraction of the cost, on every call.
        timer = loop.call_later(timeout, self._finish, TimeoutError(f"no whole answer within {timeout:g} s"))
        try:
            await self._done
        except BaseException:
            self.close()  # cancelled, timed out or failed mid-answer: never reuse it
            raise
        finally:
            timer.cancel()
        status = self._parser.get_status_code()
        if not self._keep_alive:
            self.close()
        self._parser, self._done = None, None
        self.idle_since = time.monotonic()
        return RelayAnswer(status, self._type, b"".join(self._body))

    def reusable(self, now: float) -> bool:
        transport = self.transport
        return (
            not self.closed and transport is not None and not transport.is_closing() and now - self.idle_since < IDLE_S
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self, exc: BaseException | None) -> None:
        if self._done is None or self._done.done():
            return
        if exc is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(exc)


class RelayConnections:
    """Kept-alive connections per origin; :meth:`post` sends one request on an idle one (or a new one)."""

    def __init__(self, policy: OutboundPolicy, ssl_ctx: ssl.SSLContext | None, *, connect_timeout: float) -> None:
        """``ssl_ctx``: the verifying TLS context for https satellites (made from ``policy`` when None)."""
        self._policy = policy
        self._ssl = ssl_ctx
        self._connect_timeout = connect_timeout
        self._idle: dict[_Origin, deque[_Connection]] = {}
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float, max_bytes: int | None = None
    ) -> RelayAnswer:
        """POST ``body`` to ``url`` (``headers`` lower-case names; Host and Content-Length are added).

        ``timeout``: for the whole answer once sent (``TimeoutError``); connecting has its own.
        ``max_bytes``: a longer answer body is a :class:`RelayTooLarge` (the rest is never read).
        """
        origin, head = _target(url)
        connection = self._take(origin) or await self._open(origin)
        answer = await connection.exchange(_request(head, body, headers), timeout, max_bytes)
        self._give_back(origin, connection)
        return answer

    async def open_stream(self, url: str, body: bytes, headers: dict[str, str], protocol: Callable[[], _P]) -> _P:
        """POST ``body`` on a connection of its own (never pooled) whose answer ``protocol`` reads: for an answer
        that stays open, such as a subscription's event stream. ``protocol`` is an ``asyncio.Protocol`` that
        keeps its transport as ``transport``; the caller closes it. Raises RelayConnectError as :meth:`post`."""
        origin, head = _target(url)
        stream: _P = await self._open(origin, protocol)
        cast(asyncio.Transport, stream.transport).write(_request(head, body, headers))
        return stream

    async def aclose(self) -> None:
        """Close the idle connections; one still in use is closed when its answer is in."""
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()

    def _take(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be alive
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    def _give_back(self, origin: _Origin, connection: _Connection) -> None:
        if connection.closed:
            return
        idle = self._idle.setdefault(origin, deque())
        if self._closed or len(idle) >= MAX_IDLE:
            connection.close()
            return
        idle.append(connection)

    async def _open(self, origin: _Origin, protocol: Callable[[], Any] = _Connection) -> Any:
        loop = asyncio.get_running_loop()
        tls: dict[str, Any] = {}
        if origin.scheme == "https":
            self._ssl = self._ssl or ssl_context(self._policy)
            tls = {"ssl": self._ssl, "server_hostname": origin.host}
        try:
            with anyio.fail_after(self._connect_timeout):
                addresses = await self._policy.allowed_addresses(origin.host, origin.port)
                last: Exception | None = None
                for address in addresses:
                    try:
                        _, connection = await loop.create_connection(protocol, address, origin.port, **tls)
                        return connection
                    except OSError as exc:
                        last = exc
        except Forbidden as refusal:
            raise RelayConnectError(refusal.message, refusal) from None
        except TimeoutError:
            took = f"connecting to {origin.netloc} took longer than {self._connect_timeout:g} s"
            raise RelayConnectError(took) from None
        except OSError as exc:
            raise RelayConnectError(f"cannot connect to {origin.netloc}: {exc.strerror or exc}") from None
        raise RelayConnectError(f"cannot connect to {origin.netloc}: {last}")
