"""The satellite pool: Nexus's MCP client side.

One :class:`SatellitePool` per Nexus process, owned by the app's lifespan::

    async with SatellitePool(registry_records, secrets=env, settings=PoolSettings()) as pool:
        listing = await pool.list_tools()
        result = await pool.call("quote-engine__get_quote", {"sku": "W-100"})

It holds one lazily opened, reused MCP connection per satellite, caches tool
lists (TTL plus tools/list_changed), validates arguments against each tool's
input schema before sending, retries read-only or idempotent tools on transient
faults, and keeps a circuit breaker per satellite.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import httpx2
from anyio.abc import TaskGroup

from nexus_agent.events.webhook_secrets import WebhookSecrets
from nexus_agent.outbound import OutboundPolicy, httpx2_client, ssl_context
from nexus_agent.registry_policy import untrusted_command_error
from nexus_agent.satellites.breaker import CircuitBreaker
from nexus_agent.satellites.connection import SatelliteConnection
from nexus_agent.satellites.fanout import ProgressCallback, run_fan_out
from nexus_agent.satellites.message_handler import MessageHandlerConnection
from nexus_agent.satellites.models import BreakerState, FanOutResult, PoolSettings, SatelliteHealth
from nexus_agent.satellites.pool_calls import PoolCalls
from nexus_agent.satellites.pool_health import PoolHealth
from nexus_agent.satellites.relay_http import RelayConnections
from nexus_agent.satellites.satellite import Satellite
from nexus_agent.satellites.shared_http import SharedHttpClients
from nexus_agent.satellites.wiring import (
    as_commands,
    as_satellite_secrets,
    connection_wiring,
    is_legacy,
    legacy_secret,
    stdio_env,
    unset_secret,
)
from nexus_agent.wire.errors import NotFound
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import EnvOwners
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["SatellitePool", "is_legacy"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
#: Tool-change streams being opened at once (each is opened after its satellite's first answer, in the
#: background; held ones do not count).
STREAM_OPENINGS = 8


class SatellitePool(PoolCalls, PoolHealth):
    def __init__(
        self,
        records: Iterable[AppRecord] = (),
        *,
        secrets: Mapping[str, str] | None = None,
        settings: PoolSettings | None = None,
        known_secrets: KnownSecrets | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        outbound: OutboundPolicy | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``secrets``: where tokens are read from (each app only its own variables, see SatelliteSecrets);
        ``outbound``: which addresses may be contacted; ``commands``: the owner-set commands
        (``Registry.trusted_commands()``), the only ``mcp_command`` values the pool runs."""
        self.settings = settings or PoolSettings()
        #: Configured secret values no satellite answer may carry (plus the satellites' own tokens).
        self.known_secrets = known_secrets or KnownSecrets()
        self._known_with_tokens: tuple[frozenset[str], KnownSecrets] = (frozenset(), self.known_secrets)
        self._tokens_changed = False  # satellites came or went: the guard merges their tokens again
        self._initial = list(records)
        self._secrets = as_satellite_secrets(secrets)
        self._outbound = outbound or OutboundPolicy()
        self._commands = as_commands(commands)
        self._clock = clock
        self._sleep = sleep
        self._records: dict[str, AppRecord] = {}
        self._satellites: dict[str, Satellite] = {}
        self._unset: dict[str, str] = {}  # live app -> the secret variable its calls need and that is not set
        self._tg: TaskGroup | None = None
        self._http: httpx2.AsyncClient | None = None
        self._mcp_http = SharedHttpClients(
            self._outbound, self._pool_ssl_context, connect_timeout=self.settings.connect_timeout
        )
        self._breaker_event = anyio.Event()
        self._tools_event = anyio.Event()
        self._ssl_context: ssl.SSLContext | None = None
        self._raw: RelayConnections | None = None  # the fan-out's kept-alive connections (raw_call)
        self._stream_openings: anyio.Semaphore | None = None  # tool-change streams being opened at once
        #: Told of every call as (slug, tool, outcome ok|error, error kind, seconds): nexus_agent.ops metrics.
        self.observer: Callable[[str, str, str, str, float], None] | None = None
        #: The last health check of each satellite (status page: health and last contact).
        self.last_health: dict[str, SatelliteHealth] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> SatellitePool:
        if self._tg is not None:
            raise RuntimeError("SatellitePool is already open")
        self._ssl_context = ssl_context(self._outbound)  # ~20 ms of CPU: one for health checks and connections
        self._http = httpx2_client(self._outbound, ssl_ctx=self._ssl_context, timeout=self.settings.health_timeout)
        await self._http.__aenter__()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self.sync_apps(self._initial)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None and self._http is not None
        connections = [s.connection for s in self._satellites.values() if s.connection is not None]
        for connection in connections:
            connection.close()
        try:
            with anyio.move_on_after(self.settings.shutdown_timeout, shield=True):
                for connection in connections:
                    await connection.wait_closed()
            self._tg.cancel_scope.cancel()
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            await self._http.__aexit__(None, None, None)
            await self._mcp_http.aclose()
            if self._raw is not None:
                await self._raw.aclose()
                self._raw = None

    def _pool_ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl_context(self._outbound)  # ~20 ms of CPU: one for every connection
        return self._ssl_context

    def raw_relay(self) -> RelayConnections:
        """The kept-alive connections a fan-out's raw calls go on (the outbound policy on every connect)."""
        if self._raw is None:
            self._raw = RelayConnections(
                self._outbound, self._pool_ssl_context(), connect_timeout=self.settings.connect_timeout
            )
        return self._raw

    def _stream_slots(self) -> anyio.Semaphore:
        if self._stream_openings is None:
            self._stream_openings = anyio.Semaphore(STREAM_OPENINGS)
        return self._stream_openings

    def _spawn(self, func: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._tg is None:
            raise RuntimeError("SatellitePool must be entered (async with) before use")
        self._tg.start_soon(func)

    # -- registry ------------------------------------------------------------------------------------------------

    async def sync_apps(
        self,
        records: Iterable[AppRecord],
        *,
        secrets: Mapping[str, str] | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Make the pool match the registry: add new satellites, rewire changed ones, drop removed ones."""
        if secrets is not None:
            self._secrets = as_satellite_secrets(secrets)
        if commands is not None:
            self._commands = as_commands(commands)
        by_slug = {r.slug: r for r in records}
        live = self.settings.callable_statuses
        for slug in set(self._satellites) - set(by_slug):
            self._forget(slug)
        self._records = by_slug
        self._unset = unset = {}
        owners = EnvOwners(by_slug.values())  # who may own each variable: n lookups, not n x n comparisons
        for slug, record in by_slug.items():
            # Only the app's own variables (or allow-listed ones) are read, whatever its record names.
            rivals = owners.relevant(record)
            token = self._secrets.for_app(slug, record.endpoints.token_env, rivals)
            trusted = self._commands.get(slug)
            env, env_refusal = stdio_env(record, rivals, self._secrets)
            # A legacy app's wiring changes with its HMAC secret (it has no bearer token).
            secret = legacy_secret(record, self._secrets) if is_legacy(record) else token
            if record.status in live and (name := unset_secret(record, secret, self._secrets)):
                unset[slug] = name
            wiring = connection_wiring(record, secret, live, trusted, env)
            current = self._satellites.get(slug)
            if current is not None and current.wiring == wiring:
                current.record = record
                continue
            if current is not None:
                self._forget(slug)
            self._satellites[slug] = sat = self._make_satellite(record, token, trusted, env)
            self._tokens_changed = True
            sat.wiring = wiring
            if sat.blocked is None:
                sat.blocked = self._secrets.refusal(record, rivals) or env_refusal

    def unset_secret(self, slug: str) -> str | None:
        """The secret variable a live app's calls need that is not set (its token_env, or a legacy app's
        webhook secret), or None. Calls to such an app fail, so the planner does not offer its tools."""
        return self._unset.get(slug)

    def _make_satellite(
        self,
        record: AppRecord,
        token: str | None,
        trusted: tuple[str, ...] | None,
        env: Mapping[str, str] | None = None,
    ) -> Satellite:
        slug = record.slug

        def on_breaker_change(old: BreakerState, new: BreakerState) -> None:
            logger.warning("circuit breaker of satellite %s: %s -> %s", slug, old.value, new.value)
            event, self._breaker_event = self._breaker_event, anyio.Event()
            event.set()

        breaker = CircuitBreaker(
            threshold=self.settings.breaker_threshold,
            cooldown=self.settings.breaker_cooldown,
            clock=self._clock,
            on_change=on_breaker_change,
        )
        sat = Satellite(
            record,
            token=token,
            breaker=breaker,
            connection=None,
            settings=self.settings,
            clock=self._clock,
            sleep=self._sleep,
        )
        ep = record.endpoints
        if ep.mcp_url is None and ep.mcp_command and tuple(ep.mcp_command) != trusted:
            # Defence in depth: the registry refuses such a command, but a row may predate that rule.
            sat.blocked = untrusted_command_error(slug)
            logger.warning("satellite %s: its command was not set by the owner locally; not running it", slug)
        elif record.status in self.settings.callable_statuses and (ep.mcp_url is not None or ep.mcp_command):

            def tools_changed() -> None:
                sat.generation += 1
                event, self._tools_event = self._tools_event, anyio.Event()
                event.set()

            if self._ssl_context is None and ep.mcp_url is not None:
                self._ssl_context = ssl_context(self._outbound)  # ~20 ms of CPU each: share one
            sat.connection = SatelliteConnection(
                record,
                token=token,
                settings=self.settings,
                spawn=self._spawn,
                on_tools_changed=tools_changed,
                ssl_context=self._ssl_context,
                outbound=self._outbound,
                trusted_command=trusted,
                env=env,
                shared_http=self._mcp_http.slot(token) if ep.mcp_url is not None else None,
                raw_relay=self.raw_relay if self.settings.raw_fanout else None,
                stream_openings=self._stream_slots,
            )
            sat.connection.relay.known = self.known_secrets  # no configured secret crosses the relay either
        elif record.status in self.settings.callable_statuses and is_legacy(record):
            sat.connection = self._legacy_connection(record)
        return sat

    def _legacy_connection(self, record: AppRecord) -> MessageHandlerConnection:
        secrets = WebhookSecrets(self._secrets, [record])
        if self._ssl_context is None and str(record.endpoints.message_handler_url).startswith("https:"):
            self._ssl_context = ssl_context(self._outbound)
        return MessageHandlerConnection(
            record,
            secret=lambda: secrets(record.slug),
            secret_env=secrets.variable(record.slug),
            settings=self.settings,
            spawn=self._spawn,
            ssl_context=self._ssl_context,
            outbound=self._outbound,
        )

    def _forget(self, slug: str) -> None:
        sat = self._satellites.pop(slug, None)
        self._tokens_changed = True
        if sat is not None and sat.connection is not None:
            sat.connection.close()

    @property
    def records(self) -> dict[str, AppRecord]:
        return dict(self._records)

    def connection(self, slug: str) -> SatelliteConnection | MessageHandlerConnection | None:
        sat = self._satellites.get(slug)
        return sat.connection if sat else None

    def satellite(self, slug: str) -> Satellite | None:
        """One satellite as the pool holds it (the gateway fast path reads its listing, breaker and token)."""
        return self._satellites.get(slug)

    @property
    def outbound(self) -> OutboundPolicy:
        return self._outbound

    @property
    def ssl_ctx(self) -> ssl.SSLContext | None:
        return self._ssl_context

    def breaker(self, slug: str) -> CircuitBreaker:
        return self._get(slug).breaker

    def breaker_state(self, slug: str) -> BreakerState:
        return self._get(slug).breaker.state

    async def wait_breaker_change(self) -> None:
        """Return when any satellite's breaker changes state (the health monitor wakes on it)."""
        await self._breaker_event.wait()

    async def wait_tools_changed(self) -> None:
        """Return when a satellite announces that its tools changed (Nexus can re-announce its own list)."""
        await self._tools_event.wait()

    def announce_tools_changed(self) -> None:
        """Wake :meth:`wait_tools_changed` (another replica changed the registry: the tools may differ)."""
        self.invalidate_tools()
        event, self._tools_event = self._tools_event, anyio.Event()
        event.set()

    def invalidate_tools(self, slug: str | None = None) -> None:
        for sat in self._satellites.values():
            if slug is None or sat.slug == slug:
                sat.generation += 1

    def _get(self, slug: str) -> Satellite:
        sat = self._satellites.get(slug)
        if sat is None:
            raise NotFound(
                f"no satellite '{slug}' is registered",
                hint="List the registry to see the known slugs.",
            )
        return sat

    async def fan_out(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        slugs: Iterable[str] | None = None,
        capability: str | None = None,
        concurrency: int | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FanOutResult:
        """Call ``tool`` (its name on each satellite) on many satellites at once; see :func:`run_fan_out`."""
        return await run_fan_out(
            self,
            tool,
            arguments,
            slugs=slugs,
            capability=capability,
            concurrency=concurrency or self.settings.fanout_concurrency,
            timeout=timeout or self.settings.call_timeout,
            on_progress=on_progress,
        )

    def slugs_with_capability(self, capability: str) -> list[str]:
        wanted = capability.strip().lower()
        return [
            s.slug
            for s in self._satellites.values()
            if s.connection is not None and wanted in {c.lower() for c in s.record.capability_names()}
        ]
