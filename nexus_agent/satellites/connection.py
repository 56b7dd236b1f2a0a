"""One reusable MCP connection to one satellite, owned by its own task.

The MCP SDK's ``Client`` must be entered and exited by the same task, and
several clients closed out of order fail. So each connection is opened by an
owner task spawned into the pool's task group: it enters the ``Client``,
publishes it, waits until asked to close, and exits it. Callers borrow the
published client with ``async with connection.use() as client`` and send their
requests from their own task, so their own timeouts and cancellations apply
to exactly their request.

The connection opens lazily on first use, is shared by every caller, and is
reopened on the next use after a transport fault (``drop``). A retired
connection closes once its last borrower is done.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.lowlevel
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from nexus_agent import __version__
from nexus_agent.outbound import OutboundPolicy, httpx2_client
from nexus_agent.outbound import ssl_context as outbound_ssl_context
from nexus_agent.registry_policy import untrusted_command_error
from nexus_agent.satellites._faults import DISCONNECTED, TIMEOUT, FaultContext, classify, satellite_error
from nexus_agent.satellites.discovery import compiled_output_validator
from nexus_agent.satellites.models import PoolSettings
from nexus_agent.satellites.raw_contact import RawContact
from nexus_agent.satellites.relay import RelayBoard, detach
from nexus_agent.satellites.relay_http import RelayConnections
from nexus_agent.wire.errors import UpstreamError
from nexus_agent.wire.models import AppRecord

__all__ = ["SatelliteConnection", "SharedHttp", "capture_http_statuses", "failing_status", "record_http_status"]

logger = logging.getLogger(__name__)

# The SDK sends each request's HTTP POST from a task that runs in the *sender's* context, so a mutable box in a
# context variable collects the statuses of exactly the requests one caller made (a shared "last status" would
# race with other callers and with the tool-change stream).
_statuses: ContextVar[list[int] | None] = ContextVar("nexus_satellite_http_statuses", default=None)


@contextmanager
def capture_http_statuses() -> Iterator[list[int]]:
    """Collect the HTTP statuses of the requests this task sends while inside the block."""
    box: list[int] = []
    token = _statuses.set(box)
    try:
        yield box
    finally:
        _statuses.reset(token)


async def record_http_status(response: httpx2.Response) -> None:
    """httpx2 response hook: note the status for the task that sent the request (see capture_http_statuses)."""
    box = _statuses.get()
    if box is not None:
        box.append(response.status_code)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def failing_status(statuses: list[int]) -> int | None:
    return next((s for s in reversed(statuses) if s >= 400), None)


Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
#: The pool's HTTP client this satellite shares with a few others of the same bearer token (the pool owns it).
SharedHttp = Callable[[], httpx2.AsyncClient]


def copy_error(error: UpstreamError) -> UpstreamError:
    """A fresh exception per raise: one instance raised in many tasks would share a traceback."""
    return UpstreamError(error.message, hint=error.hint, details=error.details)


@dataclass(eq=False)
class _Live:
    """One opening of the connection, from handshake to close."""

    settled: anyio.Event = field(default_factory=anyio.Event)
    close_requested: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope | None = None
    client: Client | None = None
    error: UpstreamError | None = None
    dead: bool = False
    retiring: bool = False
    in_flight: int = 0


class SatelliteConnection:
    def __init__(
        self,
        record: AppRecord,
        *,
        token: str | None,
        settings: PoolSettings,
        spawn: Spawn,
        on_tools_changed: Callable[[], None] = lambda: None,
        ssl_context: ssl.SSLContext | None = None,
        outbound: OutboundPolicy | None = None,
        trusted_command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        shared_http: SharedHttp | None = None,
        raw_relay: Callable[[], RelayConnections] | None = None,
        stream_openings: Callable[[], anyio.Semaphore] | None = None,
    ) -> None:
        """``outbound`` decides which addresses may be contacted; ``trusted_command`` is the command the owner
        set for this app (the registry's provenance): a different ``mcp_command`` is never run. ``env``: the
        variables a stdio satellite is started with (``endpoints.mcp_env``, already resolved and checked).
        ``shared_http``: the pool's HTTP client for this satellite, shared with others of the same token, so
        500 satellites do not build 500 clients (None: this connection builds its own). ``raw_relay``: the
        pool's kept-alive connections, on which an HTTP satellite's first contact goes without the SDK client
        (:class:`RawContact`; None: always the SDK client); ``stream_openings``: the pool's bound on
        tool-change streams being opened at once."""
        endpoints = record.endpoints
        if endpoints.mcp_url is None and not endpoints.mcp_command:
            raise ValueError(f"satellite {record.slug!r} has no MCP endpoint")
        self.slug = record.slug
        self._url = str(endpoints.mcp_url) if endpoints.mcp_url is not None else None
        self._command = list(endpoints.mcp_command or [])
        self._token = token
        self._token_env = endpoints.token_env
        self._env = dict(env or {})
        self._shared_http = shared_http
        self._settings = settings
        self._spawn = spawn
        self._on_tools_changed = on_tools_changed
        self._ssl_context = ssl_context
        self._outbound = outbound or OutboundPolicy()
        self._trusted_command = list(trusted_command) if trusted_command is not None else None
        self._live: _Live | None = None
        self._lives: set[_Live] = set()
        self._closing = False
        where = _without_userinfo(self._url) if self._url else f"command '{' '.join(self._command)}'"
        secrets = (*((token,) if token else ()), *self._env.values())
        self.fault_context = FaultContext(slug=self.slug, where=where, token_env=self._token_env, secrets=secrets)
        #: How many times an MCP connection was opened (a new session, in handshake-era terms).
        self.opens = 0
        self.protocol_version: str | None = None
        #: The calls in progress here, to whose clients the satellite's sampling/elicitation/roots requests go.
        self.relay = RelayBoard(self.slug)
        #: An HTTP satellite's discovery, listing and tool-change stream without the SDK client.
        self.raw: RawContact | None = None
        if self._url is not None and raw_relay is not None:
            self.raw = RawContact(
                self.slug,
                self._url,
                token,
                settings=settings,
                spawn=spawn,
                relay=raw_relay,
                stream_openings=stream_openings,
                on_tools_changed=on_tools_changed,
            )

    @property
    def connected(self) -> bool:
        """An SDK client is open, or the satellite was reached at a known 2026-era version (sessionless)."""
        return self._sdk_version() is not None or (self.raw is not None and self.raw.discovered is not None)

    def _sdk_version(self) -> str | None:
        live = self._live
        return live.client.protocol_version if live is not None and live.client is not None and not live.dead else None

    async def raw_tools(self) -> list[types.Tool] | None:
        """The tool list fetched without the SDK client, or None when the SDK client must fetch it."""
        if self.raw is None or self._closing:
            return None
        known = self.raw.discovered
        tools = await self.raw.list_tools(self._sdk_version())
        if self.raw.discovered is not None and self.raw.discovered is not known:
            self.opens += 1  # reached afresh (in handshake-era terms, a new session)
            self.protocol_version = self.raw.version
        live = self._live
        if tools is not None and live is not None and live.client is not None and not live.dead:
            _seed_listing(live.client, tools)
        return tools

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Client]:
        """Borrow the open client, opening it first if needed. Raises UpstreamError if it cannot open."""
        live = await self._ensure_open()
        assert live.client is not None
        live.in_flight += 1
        try:
            yield live.client
        finally:
            live.in_flight -= 1
            if live.retiring and live.in_flight == 0:
                live.close_requested.set()

    def drop(self, client: Client) -> None:
        """Retire the connection that served ``client`` after a transport fault; the next use reopens."""
        if self.raw is not None:
            self.raw.forget()  # what the first contact learnt: the next one discovers afresh
        for live in self._lives:
            if live.client is client:
                self._retire(live)

    def close(self) -> None:
        """Stop for good: close the connection once no request is using it (pool exit, app removed)."""
        self._closing = True
        if self.raw is not None:
            self.raw.close()
        for live in list(self._lives):
            self._retire(live)
            if not live.settled.is_set() and live.scope is not None:
                live.scope.cancel()

    async def wait_closed(self) -> None:
        for live in list(self._lives):
            await live.closed.wait()

    async def _ensure_open(self) -> _Live:
        if self._closing:
            raise satellite_error(
                self.fault_context, DISCONNECTED, f"satellite '{self.slug}' was removed from Nexus's registry"
            )
        live = self._live
        if live is None or live.dead or live.retiring:
            live = _Live()
            self._live = live
            self._lives.add(live)
            self._spawn(lambda: self._own(live))
        await live.settled.wait()
        if live.client is None or live.dead:
            if self._live is live:
                self._live = None
            error = live.error or satellite_error(
                self.fault_context, DISCONNECTED, f"the connection to satellite '{self.slug}' closed"
            )
            raise copy_error(error)
        return live

    def _retire(self, live: _Live) -> None:
        live.retiring = True
        if self._live is live:
            self._live = None
        if live.in_flight == 0:
            live.close_requested.set()

    async def _own(self, live: _Live) -> None:
        """The owner task: open, publish, wait for the close request, close."""
        timeout = self._settings.connect_timeout
        statuses: list[int] = []
        _statuses.set(statuses)  # the owner task's own context copy: the handshake's statuses land here
        detach()  # it serves every caller: a request read here is tied to no caller by inheritance
        try:
            with anyio.CancelScope() as scope:
                live.scope = scope
                scope.deadline = anyio.current_time() + timeout
                async with AsyncExitStack() as stack:
                    client = await self._open(stack)
                    scope.deadline = math.inf
                    live.client = client
                    if not self._adopted(client):
                        self.opens += 1
                    self.protocol_version = client.protocol_version
                    live.settled.set()
                    logger.info("connected to satellite %s (%s)", self.slug, client.protocol_version)
                    async with anyio.create_task_group() as tg:
                        if self.raw is not None:  # an HTTP satellite's stream goes without the SDK client
                            self.raw.watch(client.protocol_version, client.server_capabilities)
                        elif self._settings.watch_tool_changes and self._can_listen(client):
                            tg.start_soon(self._watch_tools, client)
                        await live.close_requested.wait()
                        tg.cancel_scope.cancel()
            if live.client is None and live.error is None and not self._closing:
                live.error = satellite_error(
                    self.fault_context,
                    TIMEOUT,
                    f"satellite '{self.slug}' did not complete the MCP handshake within {timeout:g} s",
                    "The satellite may be overloaded or not an MCP server; check it is up.",
                )
        except Exception as exc:
            error = classify(exc, self.fault_context, "connecting", timeout, failing_status(statuses))
            if live.client is None:
                live.error = error
                logger.warning("cannot connect to satellite %s: %s", self.slug, error.message)
            else:
                logger.info("connection to satellite %s ended: %s", self.slug, error.message)
        finally:
            live.dead = True
            live.settled.set()
            live.closed.set()
            self._lives.discard(live)
            if self._live is live:
                self._live = None

    async def _open(self, stack: AsyncExitStack) -> Client:
        if self._url is not None:
            if self._shared_http is not None:
                http = self._shared_http()
            else:
                http = self._own_http()
                await stack.enter_async_context(http)
            target: object = streamable_http_client(self._url, http_client=http)
        else:
            env = {self._token_env: self._token} if self._token and self._token_env else {}
            env.update(self._env)  # the SDK adds only a safe minimum (PATH, HOME...) to these
            if self._command != self._trusted_command:  # the pool checks too; a command runs on this host
                raise untrusted_command_error(self.slug)
            target = StdioServerParameters(command=self._command[0], args=self._command[1:], env=env or None)
        client = Client(
            target,  # type: ignore[arg-type]
            cache=None,  # the pool caches tool lists itself
            client_info=types.Implementation(name="nexus", version=__version__),
            message_handler=self._on_message,
            **self._negotiation(),
            **self.relay.client_callbacks(),  # sampling, elicitation and roots: relayed to the calling client
        )
        opened = await stack.enter_async_context(client)
        _share_output_validators(opened)
        if self.raw is not None and self.raw.tools is not None:
            _seed_listing(opened, self.raw.tools)
        return opened

    def _negotiation(self) -> dict[str, Any]:
        """What the raw first contact learnt, so the SDK client need not probe again (default: probe)."""
        raw = self.raw
        if raw is not None and raw.discovered is not None and raw.version is not None:
            return {"mode": raw.version, "prior_discover": raw.discovered}
        if raw is not None and raw.legacy:
            return {"mode": "legacy"}  # what the SDK's own probe would settle on after the same answer
        return {}

    def _adopted(self, client: Client) -> bool:
        """Whether ``client`` started from the raw discovery (no handshake of its own)."""
        raw = self.raw
        return raw is not None and raw.discovered is not None and client.session.discover_result is raw.discovered

    def _own_http(self) -> httpx2.AsyncClient:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if self._ssl_context is None:
            self._ssl_context = outbound_ssl_context(self._outbound)  # ~20 ms of CPU: share one per pool
        return httpx2_client(
            self._outbound,
            ssl_ctx=self._ssl_context,
            headers=headers,
            # Reads are bounded per call by the caller's deadline; long tools must not be cut here.
            timeout=httpx2.Timeout(self._settings.connect_timeout, read=None),
            event_hooks={"response": [record_http_status]},
        )

    async def _on_message(self, message: IncomingMessage) -> None:
        # Handshake-era servers push notifications/tools/list_changed spontaneously.
        if isinstance(message, types.ToolListChangedNotification):
            self._on_tools_changed()
        elif isinstance(message, Exception):
            logger.debug("satellite %s sent something unreadable: %s", self.slug, message)
        await anyio.lowlevel.checkpoint()

    @staticmethod
    def _can_listen(client: Client) -> bool:
        caps = client.server_capabilities
        return client.protocol_version in MODERN_PROTOCOL_VERSIONS and bool(caps.tools and caps.tools.list_changed)

    async def _watch_tools(self, client: Client) -> None:
        """On 2026-07-28 connections change events come only through `subscriptions/listen`."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                if not (subscription.honored and subscription.honored.tools_list_changed):
                    return
                async for _event in subscription:
                    logger.info("satellite %s says its tools changed", self.slug)
                    self._on_tools_changed()
        except Exception as exc:  # the TTL still refreshes the list; a lost stream is not an outage
            logger.debug("tool-change stream of satellite %s ended: %s", self.slug, exc)


def _seed_listing(client: Client, tools: list[types.Tool]) -> None:
    """Tell the SDK session the tool list fetched without it, as its own ``list_tools`` would: it checks a
    result against the tool's output schema and mirrors ``x-mcp-header`` arguments from it, and would
    otherwise list the tools again before its first call. Skipped if the SDK's internals differ."""
    absorb = getattr(client.session, "_absorb_tool_listing", None)
    if callable(absorb):
        absorb(types.ListToolsResult(tools=list(tools)), complete=True)


def _share_output_validators(client: Client) -> None:
    """Let the SDK session check tool results with validators compiled once per distinct output schema.

    The SDK compiles a validator per session and tool on the first result (~2.5 ms of CPU); a first fan-out
    to 500 satellites of one kind paid that 500 times for one schema. The session still validates every
    result exactly as before. Falls back to the SDK's own compiling if its internals differ.
    """
    session: Any = client.session
    validators = getattr(session, "_tool_output_validators", None)
    if not isinstance(validators, dict) or not callable(getattr(session, "_output_schema_validator", None)):
        return  # pragma: no cover - another SDK version: its own per-session compiling stays

    def shared(name: str, output_schema: dict[str, Any]) -> Any:
        found = validators.get(name)
        if found is None:
            try:
                found = compiled_output_validator(output_schema)
            except RuntimeError as exc:
                raise RuntimeError(f"Invalid schema for tool {name}: {exc}") from None
            validators[name] = found
        return found

    session._output_schema_validator = shared
