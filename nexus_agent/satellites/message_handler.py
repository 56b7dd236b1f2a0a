"""The message-handler transport: calling a legacy app's tools by signed HTTP messages.

The pool treats a legacy app exactly like an MCP satellite; only the transport differs.
:class:`MessageHandlerConnection` offers what :class:`~nexus_agent.satellites.connection.SatelliteConnection`
offers (``use()`` lends a client with ``list_tools`` and ``call_tool``, ``drop``, ``close``), so
the satellite's breaker, retries, deadlines, fan-out and health apply unchanged.

A call is one request::

    POST <message_handler_url>
    X-Nexus-Signature: <hex HMAC-SHA256 of the raw body under the app's secret>
    {"type": "query.stock_level", "params": {...}, "request_id": "<fresh>", "timestamp": "<ISO 8601 UTC>"}

and the app answers ``{"request_id", "status": "success" | "error", "result", "timestamp"}``.
The header is the one the registration names (``endpoints.signature_header``); the secret
comes from ``endpoints.webhook_secret_env`` (default ``SATELLITE_<SLUG>_WEBHOOK_SECRET``).
Every failure is an :class:`UpstreamError` naming the app, with ``details.reason``:

    unreachable      cannot connect                         (retried for read-only types)
    timeout          no answer before the deadline
    http_error       HTTP 5xx, 408 or 429                   (retried for read-only types)
    token_rejected   HTTP 401/403: the app refused the signature
    protocol         HTTP 404, not JSON, not the answer shape, or another request's request_id
    rejected         the app answered ``status: error`` (it is up; the breaker does not count it)
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import mcp_types as types

from nexus_agent import __version__
from nexus_agent.outbound import OutboundPolicy
from nexus_agent.satellites._faults import (
    DISCONNECTED,
    HTTP_ERROR,
    PROTOCOL,
    REJECTED,
    TIMEOUT,
    TOKEN_REJECTED,
    UNREACHABLE,
    FaultContext,
    satellite_error,
)
from nexus_agent.satellites.legacy_tools import LegacyTool, legacy_tools, not_message_types
from nexus_agent.satellites.models import PoolSettings
from nexus_agent.satellites.relay_http import RelayConnectError, RelayConnections, RelayLost, RelayTooLarge
from nexus_agent.wire import json_codec
from nexus_agent.wire.errors import NotFound
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_guard import redact
from nexus_agent.wire.signing import TIMESTAMP_HEADER, sign_body

__all__ = [
    "DEFAULT_SIGNATURE_HEADER",
    "MAX_ANSWER_BYTES",
    "REQUEST_ID_HEADER",
    "MessageHandlerConnection",
    "build_message",
    "new_http_client",
]

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE_HEADER = "X-Nexus-Signature"
REQUEST_ID_HEADER = "X-Nexus-Request-Id"
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_RETRYABLE_STATUS = frozenset({408, 429})
_USER_AGENT = f"nexus/{__version__}"

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
#: ``secret()`` -> the app's HMAC secret, or raises ConfigError naming the variable to set.
SecretLookup = Callable[[], str]


def new_http_client(
    settings: PoolSettings, ssl_context: ssl.SSLContext | None, outbound: OutboundPolicy | None = None
) -> RelayConnections:
    """The one place a message-handler HTTP client is made (reads are bounded by each call's deadline).

    Every new connection obeys the outbound URL policy, checked on every resolved address; ``https`` is
    verified with ``ssl_context`` (the pool's). Redirects are never followed. It is the narrow kept-alive
    client of :mod:`~nexus_agent.satellites.relay_http` (one POST at a time per connection, the answer parsed
    by httptools): a general client's request and response layers cost more CPU per message than the rest of
    the bridge together, and a message is exactly one POST and one answer.
    """
    return RelayConnections(outbound or OutboundPolicy(), ssl_context, connect_timeout=settings.connect_timeout)


#: ``json.dumps`` of a message's body and of an answer's result as text, their encoders made once.
_message_json = json_codec.encoder(separators=(",", ":"), ensure_ascii=False)
_text_json = json_codec.encoder(ensure_ascii=False, default=str)


def build_message(message_type: str, params: dict[str, Any], *, request_id: str, now: datetime) -> bytes:
    """The exact body bytes of one message (these bytes are what is signed)."""
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    message = {"type": message_type, "params": params, "request_id": request_id, "timestamp": stamp}
    return _message_json(message).encode("utf-8")


def _where(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment=""))


class MessageHandlerConnection:
    """One legacy app's message handler: its tools (from the registry record) and a lazily opened HTTP client."""

    def __init__(
        self,
        record: AppRecord,
        *,
        secret: SecretLookup,
        secret_env: str,
        settings: PoolSettings,
        spawn: Spawn,
        ssl_context: ssl.SSLContext | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        url = record.endpoints.message_handler_url
        if url is None:
            raise ValueError(f"app {record.slug!r} has no message handler URL")
        self.slug = record.slug
        self.name = record.name
        self.url = str(url)
        self.signature_header = record.endpoints.signature_header or DEFAULT_SIGNATURE_HEADER
        self.secret_env = secret_env
        self._secret = secret
        self._settings = settings
        self.call_timeout = settings.call_timeout
        self._spawn = spawn
        self._ssl_context = ssl_context
        self._outbound = outbound
        self.tools = {t.tool.name: t for t in legacy_tools(record)}
        self.warnings = not_message_types(record)
        self._http: RelayConnections | None = None
        self._closed = anyio.Event()
        self._closing = False
        self.fault_context = FaultContext(slug=self.slug, where=_where(self.url), token_env=secret_env)
        #: How many HTTP clients were opened (1 while the connection is reused).
        self.opens = 0
        self.protocol_version = "message-handler"

    @property
    def connected(self) -> bool:
        return self._http is not None

    def secret(self) -> str:
        """The app's secret; a ConfigError naming the variable when it is not set."""
        value = self._secret()
        self.fault_context.secrets = (value,)
        return value

    def check_ready(self) -> None:
        self.secret()

    @asynccontextmanager
    async def use(self) -> AsyncIterator[MessageClient]:
        self._client()  # opened here, so a removed app fails before the call
        yield MessageClient(self)

    def _client(self) -> RelayConnections:
        if self._closing:
            raise satellite_error(
                self.fault_context, DISCONNECTED, f"app '{self.slug}' was removed from Nexus's registry"
            )
        if self._http is None:
            self._http = new_http_client(self._settings, self._ssl_context, self._outbound)
            self.opens += 1
        return self._http

    async def send(self, tool: LegacyTool, arguments: dict[str, Any]) -> tuple[Any, str]:
        """One signed message (``arguments`` already validated): the app's ``result`` and its JSON text.

        One attempt, no retry (the satellite's ``call`` retries); every failure is an UpstreamError naming the
        app and the reason. The caller's deadline bounds the wait (a cancel scope); the call timeout is the
        backstop of a caller without one.
        """
        http = self._client()
        request_id, now = _request_id(), _now()
        body = build_message(tool.message_type, tool.params(arguments), request_id=request_id, now=now)
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": _USER_AGENT,
            self.signature_header: sign_body(body, self.secret()),
            TIMESTAMP_HEADER: str(int(now.timestamp())),
            REQUEST_ID_HEADER: request_id,
        }
        status, raw, content_type = await _post(self, http, tool, body, headers)
        result = _judge(self, tool, status, raw, content_type, request_id)
        return result, _text_json(result)

    def drop(self, client: object) -> None:
        """Nothing to reopen: the HTTP client discards a broken connection by itself."""

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        http, self._http = self._http, None
        if http is None:
            self._closed.set()
            return

        async def shut() -> None:
            try:
                with anyio.CancelScope(shield=True):
                    await http.aclose()
            finally:
                self._closed.set()

        try:
            self._spawn(shut)
        except RuntimeError:  # the pool is gone already: nothing left to close it with
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()


class MessageClient:
    """What ``MessageHandlerConnection.use()`` lends: the two MCP client calls the satellite makes."""

    def __init__(self, connection: MessageHandlerConnection) -> None:
        self._conn = connection

    async def list_tools(self, cursor: str | None = None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[t.tool for t in self._conn.tools.values()])

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, progress_callback: Any = None
    ) -> types.CallToolResult:
        conn = self._conn
        tool = conn.tools.get(name)
        if tool is None:
            raise NotFound(f"app '{conn.slug}' has no message type for tool '{name}'")
        result, text = await conn.send(tool, arguments or {})
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured(result))


def structured(result: Any) -> dict[str, Any]:
    """A message's ``result`` as a tool's structured content (an object; anything else under ``result``)."""
    return result if isinstance(result, dict) else {"result": result}


async def _post(
    conn: MessageHandlerConnection, http: RelayConnections, tool: LegacyTool, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, str]:
    """POST the message; the answer's status, body and content type. The caller's deadline bounds the wait
    (a cancel scope); the call timeout here is the backstop of a caller without one."""
    ctx = conn.fault_context
    try:
        answer = await http.post(conn.url, body, headers, timeout=conn.call_timeout, max_bytes=MAX_ANSWER_BYTES)
    except RelayConnectError as exc:
        if exc.refusal is not None:  # the outbound URL policy: nothing was contacted
            raise exc.refusal from None
        raise satellite_error(
            ctx,
            UNREACHABLE,
            f"app '{conn.slug}' is unreachable at {ctx.where}: {exc}",
            "Check that the app is running and that endpoints.message_handler_url is right.",
        ) from None
    except TimeoutError:
        raise satellite_error(
            ctx, TIMEOUT, f"app '{conn.slug}' did not answer '{tool.message_type}' in time at {ctx.where}"
        ) from None
    except RelayTooLarge:
        raise satellite_error(
            ctx,
            PROTOCOL,
            f"app '{conn.slug}' answered '{tool.message_type}' with more than {MAX_ANSWER_BYTES} bytes; "
            "Nexus stopped reading",
            "Have the message type return less (a page, or a reference).",
        ) from None
    except (RelayLost, ValueError, OSError) as exc:
        raise satellite_error(
            ctx,
            DISCONNECTED,
            f"lost the connection to app '{conn.slug}' while sending '{tool.message_type}': "
            f"{str(exc) or type(exc).__name__}",
        ) from None
    return answer.status, answer.body, answer.content_type


def _request_id() -> str:
    """A random (version 4) UUID's 32 hex digits, as ``uuid.uuid4().hex`` gives, without a UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


def _now() -> datetime:
    return datetime.now(UTC)


def _excerpt(raw: bytes, secrets: tuple[str, ...]) -> str:
    text = " ".join(raw[:2000].decode("utf-8", errors="replace").split())[:300]
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact(text)[:200] or "(empty)"


def _app_error(answer: dict[str, Any]) -> str:
    """The app's own words for an error answer."""
    for holder in (answer.get("result"), answer):
        if isinstance(holder, dict):
            for key in ("error", "message", "detail", "reason"):
                value = holder.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
                if isinstance(value, dict) and isinstance(value.get("message"), str):
                    return str(value["message"]).strip()
        elif isinstance(holder, str) and holder.strip():
            return holder.strip()
    return "no reason given"


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        text = raw.decode()  # UTF-8, one leading BOM dropped (as "utf-8-sig" reads it, without its Python codec)
        answer = json_codec.loads(text[1:] if text.startswith("\ufeff") else text)
    except (UnicodeDecodeError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _judge(
    conn: MessageHandlerConnection, tool: LegacyTool, status: int, raw: bytes, content_type: str, request_id: str
) -> Any:
    """The ``result`` of a success answer; an UpstreamError saying what is wrong with any other."""
    ctx, slug, what = conn.fault_context, conn.slug, tool.message_type
    answer = _parse(raw)
    if status in (401, 403):
        raise satellite_error(
            ctx,
            TOKEN_REJECTED,
            f"app '{slug}' refused Nexus's signature on '{what}' (HTTP {status}): {_excerpt(raw, ctx.secrets)}",
            f"Check that {conn.secret_env} holds the secret the app verifies with, and that the app reads the "
            f"signature from the {conn.signature_header} header (endpoints.signature_header).",
        )
    if status in (404, 405):
        raise satellite_error(
            ctx,
            PROTOCOL,
            f"app '{slug}' has no message handler at {ctx.where} (HTTP {status})",
            "Check endpoints.message_handler_url in the registry.",
        )
    if status >= 500 or status in _RETRYABLE_STATUS:
        raise satellite_error(
            ctx,
            HTTP_ERROR,
            f"app '{slug}' answered HTTP {status} to '{what}': {_excerpt(raw, ctx.secrets)}",
            "The app is failing; check its logs.",
        )
    if answer is None:
        kind = content_type.split(";")[0].strip() or "no content type"
        raise satellite_error(
            ctx,
            PROTOCOL,
            f"app '{slug}' answered '{what}' with something that is not a JSON object (HTTP {status}, {kind}): "
            f"{_excerpt(raw, ctx.secrets)}",
            'A message handler must answer {"request_id", "status", "result", "timestamp"}.',
        )
    if answer.get("status") == "error" or status >= 300:
        raise satellite_error(
            ctx,
            REJECTED,
            f"app '{slug}' answered '{what}' with an error: {redact(_app_error(answer))[:500]}",
            "Read the app's reason; correct the parameters, or ask the app's owner.",
        )
    if answer.get("status") != "success":
        raise satellite_error(
            ctx,
            PROTOCOL,
            f"app '{slug}' answered '{what}' without status 'success' or 'error'",
            'A message handler must answer {"request_id", "status", "result", "timestamp"}.',
        )
    if answer.get("request_id") != request_id:
        named = answer.get("request_id")
        shown = f"'{named}'" if isinstance(named, str) and len(named) <= 100 else "none"
        raise satellite_error(
            ctx,
            PROTOCOL,
            f"app '{slug}' answered '{what}' for request_id {shown}, not '{request_id}': the answer is not to this "
            "message, so Nexus does not use it",
            "The app must echo the request_id of each message in its answer.",
        )
    return answer.get("result")
