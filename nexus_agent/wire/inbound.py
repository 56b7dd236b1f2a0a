"""Inbound HTTP hygiene shared by Nexus and the satellite kit: body deadlines and same-origin checks.

Both are pure ASGI middleware (they wrap ``receive``/``send``; nothing is buffered):

- :class:`BodyDeadline` — a request body must arrive in full within ``timeout_s`` of the
  request's start. A client that trickles its body is answered ``408`` with a JSON error and
  ``Connection: close``; the application sees the client as gone (``http.disconnect``), so
  no worker waits on it any longer.
- :func:`tls13_server_context` — the TLS context both servers hand to uvicorn: TLS 1.3 only.
- :class:`SameOriginOnly` — a browser request whose ``Origin`` is not this server's own
  origin (scheme-independent host *and port*, compared in full) or an explicitly allowed one is
  refused with ``403``. Requests without an ``Origin`` (non-browser clients) pass.
- :class:`PlainErrorsAsJson` — a wrapped application's plain-text error answers (the MCP SDK's
  ``413 Request body too large``, ``400 Invalid Content-Type header``) become the JSON error shape.
- :class:`ClientDisconnectFilter` — a client that went away mid-request is an INFO line, not an
  ERROR traceback (the MCP SDK logs ``ClientDisconnect`` with ``logger.exception``).
- :class:`AllowedHostsOnly` — a request whose ``Host`` is not one of the server's own names is
  refused with ``421`` (DNS rebinding: a page on ``evil.example`` resolving to 127.0.0.1 gets nothing).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Collection, Generator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_agent.wire.errors import ConfigError

__all__ = [
    "HEADERS_SCOPE_KEY",
    "AllowedHostsOnly",
    "BodyDeadline",
    "BodyTimer",
    "ClientDisconnectFilter",
    "DrainUnreadBody",
    "HostRule",
    "PlainErrorsAsJson",
    "SameOriginOnly",
    "headers_once",
    "origin_netloc",
    "refuse_host",
    "send_error",
    "tls13_server_context",
]


async def send_error(send: Send, status: int, code: str, message: str, hint: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "hint": hint}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Resumed:
    """Await the rest of a coroutine already stepped once (``step``, which yielded ``waiting_on``): what the event
    loop sends or throws in (a cancellation included) goes to it, as ``await`` would have done all along.

    :meth:`expire` is the body deadline: the future the coroutine waits on is cancelled (at once, or as soon as it
    waits on one), so the coroutine raises ``CancelledError`` there. Only that future is cancelled, never the task:
    nothing is left pending for the request's later awaits."""

    __slots__ = ("_step", "expired", "waiting_on")

    def __init__(self, step: Generator[Any, Any, Any], waiting_on: Any) -> None:
        self._step, self.waiting_on, self.expired = step, waiting_on, False

    def expire(self) -> None:
        self.expired = True
        if isinstance(self.waiting_on, asyncio.Future):
            self.waiting_on.cancel()  # already done (the message came first): nothing happens, it is read

    def __await__(self) -> Generator[Any, Any, Any]:
        step = self._step
        while True:
            try:
                sent = yield self.waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # a cancellation or error thrown in: the coroutine's own to handle
                try:
                    waiting_on = step.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = step.send(sent)
                except StopIteration as done:
                    return done.value
            self.waiting_on = waiting_on
            if self.expired and isinstance(waiting_on, asyncio.Future):
                waiting_on.cancel()


class BodyTimer:
    """One request's body deadline: :meth:`receive` and :meth:`send` wrap the server's (see :class:`BodyDeadline`).

    ``status`` is the answer's status once it started (500 until then; 408 when the deadline cut the body off).
    """

    __slots__ = ("_began", "_receive", "_send", "body_done", "started", "status", "timed_out", "timeout_s")

    def __init__(self, receive: Receive, send: Send, timeout_s: float) -> None:
        self._receive, self._send, self.timeout_s = receive, send, timeout_s
        self._began = time.perf_counter()  # the deadline is timeout_s from here (worked out only if a receive waits)
        self.body_done = self.timed_out = self.started = False
        self.status = 500

    async def receive(self) -> Message:
        if self.body_done or self.timed_out:
            return await self._receive() if not self.timed_out else {"type": "http.disconnect"}
        # The server's receive is started here, outside the deadline: when the message is already in (a small
        # body arrives with its headers) it returns without waiting, and no deadline is armed for it. Only a
        # receive that has to wait goes on under the deadline, the same call resumed (_Resumed).
        step = self._receive().__await__()
        try:
            waiting_on = step.send(None)
        except StopIteration as done:
            return self._took(done.value)
        resumed = _Resumed(step, waiting_on)
        remaining = max(0.0, self.timeout_s - (time.perf_counter() - self._began))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): anyio's cancel scope
            with anyio.move_on_after(remaining):
                return self._took(await resumed)
            return await self._cut_off()
        # On asyncio a timer handle, not a cancel scope (a fraction of its cost, on most requests: a client's
        # body often arrives after its headers).
        handle = loop.call_later(remaining, resumed.expire)
        try:
            return self._took(await resumed)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not resumed.expired or task is None or task.cancelling():
                raise  # cancelled from outside (the client went away, a shutdown): passed on
        finally:
            handle.cancel()
        return await self._cut_off()

    async def _cut_off(self) -> Message:
        """The deadline passed: 408 (unless the answer started), and the app hears that the client went away."""
        self.timed_out = True
        if not self.started:
            self.started, self.status = True, 408
            await send_error(
                self._send,
                408,
                "request_timeout",
                f"the request body did not arrive within {self.timeout_s:g} s",
                "Send the whole body at once; a client that trickles it is cut off.",
            )
        return {"type": "http.disconnect"}

    def _took(self, message: Message) -> Message:
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return  # the 408 went out; whatever the application answers now is dropped
        if message["type"] == "http.response.start":
            self.started, self.status = True, int(message["status"])
        await self._send(message)


class BodyDeadline:
    """Cut off a request whose body has not fully arrived ``timeout_s`` after the request began (408)."""

    def __init__(self, app: ASGIApp, timeout_s: float = 10.0) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timer = BodyTimer(receive, send, self.timeout_s)
        await self.app(scope, timer.receive, timer.send)


def origin_netloc(origin: str) -> str | None:
    """``https://Nexus.example.com`` -> ``nexus.example.com:443`` (default ports spelled out), None if malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _own_netlocs(host: str, scheme: str) -> set[str]:
    """The netlocs a ``Host`` header stands for: with its port, or either default port when it names none
    (behind a TLS-terminating proxy the request's scheme is not the browser's)."""
    if not host:
        return set()
    try:
        explicit = urlsplit(f"//{host}").port is not None
    except ValueError:
        return set()
    if explicit:
        found = origin_netloc(f"{scheme}://{host}")
        return {found} if found else set()
    return {n for n in (origin_netloc(f"http://{host}"), origin_netloc(f"https://{host}")) if n}


class SameOriginOnly:
    """Refuse (403) a request whose ``Origin`` is neither this server's own origin nor in ``allowed``.

    "Own origin" is the request's ``Host`` with its port (the default port of the request's scheme when
    the header has none), compared in full: ``http://127.0.0.1:9999`` is not the origin of a server on
    ``127.0.0.1:8765``. ``allowed`` lists extra full origins such as ``https://console.example.com``.
    """

    def __init__(self, app: ASGIApp, allowed: Collection[str] = ()) -> None:
        self.app = app
        self.allowed = {n for n in (origin_netloc(o) for o in allowed) if n}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        refusal = self.refusal(headers.get(b"origin", b""), headers.get(b"host", b""), scope)
        if refusal is not None:
            await send_error(send, 403, "forbidden", *refusal)
            return
        await self.app(scope, receive, send)

    def refusal(self, origin_header: bytes, host_header: bytes, scope: Scope) -> tuple[str, str] | None:
        """(message, hint) of the 403 for this ``Origin``, or None when the request may go on."""
        origin = origin_header.decode("latin-1").strip()
        if origin == "null":
            return "requests from an opaque ('null') origin are not accepted", "Call from the server's own origin."
        if not origin:
            return None
        wanted = origin_netloc(origin)
        own = _own_netlocs(host_header.decode("latin-1").strip(), str(scope.get("scheme", "http")))
        if wanted is None or (wanted not in own and wanted not in self.allowed):
            return (
                f"requests from the web origin {origin[:200]} are not accepted",
                "Call from the server's own origin (host and port), or without an Origin header.",
            )
        return None


class PlainErrorsAsJson:
    """Rewrite the wrapped app's plain-text (or untyped) error answers into ``{"error": {code, message, hint}}``.

    ``errors`` maps a status to ``(code, message, hint)``; an empty message keeps the app's own text.
    Other answers (JSON-RPC errors, streams, successes) pass through untouched.
    """

    def __init__(self, app: ASGIApp, errors: Mapping[int, tuple[str, str, str]]) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def rewriting(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctype = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] in self.errors and (not ctype or ctype.startswith(b"text/plain")):
                    held.update(status=message["status"], text=b"")
                    return
            elif message["type"] == "http.response.body" and "status" in held:
                held["text"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                code, text, hint = self.errors[held["status"]]
                text = text or held["text"].decode("utf-8", "replace").strip()
                await send_error(send, held["status"], code, text, hint)
                return
            await send(message)

        await self.app(scope, receive, rewriting)


class DrainUnreadBody:
    """When the wrapped app answers without reading the whole request body (the SDK's 413 for a body over its
    limit), read and drop the rest, up to ``limit`` bytes, before the answer's last part goes out.

    A server that closes a connection with unread bytes in its socket makes the kernel reset it, and a reset
    discards what the client had not read yet: the client would see "connection reset" or a body cut short
    instead of the answer it was sent. The rest is read before the answer completes (the server hands the app
    no more of the body after that). Reading stops at ``limit``, at the end of the body, or when the receive
    says the client is gone (:class:`BodyDeadline`, outside this, bounds the time it may take).
    """

    def __init__(self, app: ASGIApp, limit: int = 16 * 1024 * 1024) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"done": False}

        async def tracked() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["done"] = True
            return message

        async def draining(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                drained = 0
                while not state["done"] and drained <= self.limit:
                    drained += len((await tracked()).get("body", b""))
            await send(message)

        await self.app(scope, tracked, draining)


class ClientDisconnectFilter(logging.Filter):
    """Turn an ERROR record carrying a ``ClientDisconnect`` into an INFO line without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ClientDisconnect):
            record.msg, record.args = "%s: the client went away before its request was read", (record.getMessage(),)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


#: Where the front door keeps a request's headers by name (a dict), when no name is given twice: the layers behind
#: it read a header with one lookup instead of a scan each (with a repeated name they scan, in order, as before).
HEADERS_SCOPE_KEY = "nexus.headers"


def headers_once(scope: Scope) -> dict[bytes, bytes] | None:
    """The request's headers by (lower-case) name, kept in the scope for the layers behind; None when a name is
    given twice (then a reader scans them in order and decides which copy counts, or refuses)."""
    raw = scope.get("headers") or []
    headers = dict(raw)
    if len(headers) != len(raw):
        return None
    scope[HEADERS_SCOPE_KEY] = headers
    return headers


def host_allowed(host: str, allowed: Collection[str]) -> bool:
    """``host`` (a ``Host`` header) matches ``allowed``: exactly, or ``name:*`` for ``name`` with any port.

    The same rule as the MCP SDK's transport security, so every route agrees with ``/mcp``.
    """
    return HostRule(allowed)(host)


class HostRule:
    """:func:`host_allowed` for one set of allowed names, prepared once: a set and a tuple of prefixes."""

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, allowed: Collection[str]) -> None:
        self._exact = frozenset(a.lower() for a in allowed)
        self._prefixes = tuple(a[:-2].lower() + ":" for a in allowed if a.endswith(":*"))

    def __call__(self, host: str) -> bool:
        host = host.strip().lower()
        return bool(host) and (host in self._exact or host.startswith(self._prefixes))


class AllowedHostsOnly:
    """Refuse (421 JSON) a request whose ``Host`` header is not one of ``allowed`` (DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: Collection[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed)
        self._rule = HostRule(self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        if not self._rule(host):
            await refuse_host(scope, send, host)
            return
        await self.app(scope, receive, send)


async def refuse_host(scope: Scope, send: Send, host: str) -> None:
    """:class:`AllowedHostsOnly`'s answer to a ``Host`` it does not serve: 421 JSON (a websocket: closed, 1008)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send_error(
        send,
        421,
        "misdirected_request",
        f"this server does not answer for the host {host.strip()[:200]!r}",
        "Address Nexus by a name it serves: 127.0.0.1, localhost, [::1] or the host it binds (--host).",
    )


def tls13_server_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server TLS context that refuses every protocol older than TLS 1.3 (a ConfigError if unreadable)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ConfigError(
            f"cannot load the TLS certificate {cert}" + (f" with key {key}" if key else "") + f": {reason}",
            hint="Point --tls-cert at the PEM certificate chain and --tls-key at its PEM private key.",
        ) from None
    return ctx
