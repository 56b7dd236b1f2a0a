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
import httpx
from anyio.abc import TaskGroup

from nexus_agent.events.webhook_secrets import WebhookSecrets
from nexus_agent.outbound import OutboundPolicy, httpx_client, ssl_context
from nexus_agent.registry_policy import untrusted_command_error
from nexus_agent.satellites.breaker import CircuitBreaker
from nexus_agent.satellites.connection import SatelliteConnection, copy_error
from nexus_agent.satellites.discovery import Listing, split_qualified, validate_arguments
from nexus_agent.satellites.fanout import ProgressCallback, run_fan_out
from nexus_agent.satellites.health import probe_all
from nexus_agent.satellites.message_handler import MessageHandlerConnection
from nexus_agent.satellites.models import (
    BreakerState,
    FanOutResult,
    HealthState,
    PoolSettings,
    SatelliteCallResult,
    SatelliteHealth,
    SatelliteTool,
    ToolListing,
)
from nexus_agent.satellites.satellite import Satellite
from nexus_agent.satellites.shared_http import OneGetPerUrl, SharedHttpClients
from nexus_agent.wire.errors import ConfigError, Forbidden, NexusError, NotFound, SecretLeakRefused
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import SatelliteSecrets, app_env_prefix, secret_env_problem
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

__all__ = ["SatellitePool"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
_HEALTH_CONCURRENCY = 16  # health probes at once
Sleep = Callable[[float], Awaitable[None]]


def _wiring(
    record: AppRecord,
    token: str | None,
    callable_statuses: frozenset[AppStatus],
    trusted: tuple[str, ...] | None,
    env: Mapping[str, str] | None = None,
) -> tuple[Any, ...]:
    """What a connection depends on: a change in any of it means a new connection."""
    ep = record.endpoints
    url = str(ep.mcp_url) if ep.mcp_url else None
    env_items = tuple(sorted((env or {}).items()))
    live = record.status in callable_statuses
    mcp = (url, tuple(ep.mcp_command or ()), ep.token_env, token, live, trusted, env_items)
    if not is_legacy(record):
        return mcp
    # A legacy app's tools are made from its record: new message types or docs mean a new tool list.
    specs = tuple(s.model_dump_json() for s in record.message_specs)
    legacy = (str(ep.message_handler_url), ep.signature_header, ep.webhook_secret_env, record.name, record.description)
    return (*mcp, *legacy, tuple(record.message_types), specs, tuple(record.business_rules))


def is_legacy(record: AppRecord) -> bool:
    """A legacy app: reached through its message handler (an app with an MCP endpoint is called over MCP)."""
    ep = record.endpoints
    return (
        ep.mcp_url is None
        and not ep.mcp_command
        and ep.message_handler_url is not None
        and bool(record.message_types or record.message_specs)
    )


def _as_satellite_secrets(secrets: Mapping[str, str] | None) -> SatelliteSecrets:
    return secrets if isinstance(secrets, SatelliteSecrets) else SatelliteSecrets(secrets or {})


def _as_commands(commands: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    return {slug: tuple(command) for slug, command in (commands or {}).items()}


class SatellitePool:
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
        self._initial = list(records)
        self._secrets = _as_satellite_secrets(secrets)
        self._outbound = outbound or OutboundPolicy()
        self._commands = _as_commands(commands)
        self._clock = clock
        self._sleep = sleep
        self._records: dict[str, AppRecord] = {}
        self._satellites: dict[str, Satellite] = {}
        self._unset: dict[str, str] = {}  # live app -> the secret variable its calls need and that is not set
        self._tg: TaskGroup | None = None
        self._http: httpx.AsyncClient | None = None
        self._mcp_http = SharedHttpClients(
            self._outbound, self._pool_ssl_context, connect_timeout=self.settings.connect_timeout
        )
        self._breaker_event = anyio.Event()
        self._tools_event = anyio.Event()
        self._ssl_context: ssl.SSLContext | None = None
        #: Told of every call as (slug, tool, outcome ok|error, error kind, seconds): nexus_agent.ops metrics.
        self.observer: Callable[[str, str, str, str, float], None] | None = None
        #: The last health check of each satellite (status page: health and last contact).
        self.last_health: dict[str, SatelliteHealth] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> SatellitePool:
        if self._tg is not None:
            raise RuntimeError("SatellitePool is already open")
        self._ssl_context = ssl_context(self._outbound)  # ~20 ms of CPU: one for health checks and connections
        self._http = httpx_client(self._outbound, ssl_ctx=self._ssl_context, timeout=self.settings.health_timeout)
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

    def _pool_ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl_context(self._outbound)  # ~20 ms of CPU: one for every connection
        return self._ssl_context

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
            self._secrets = _as_satellite_secrets(secrets)
        if commands is not None:
            self._commands = _as_commands(commands)
        by_slug = {r.slug: r for r in records}
        live = self.settings.callable_statuses
        for slug in set(self._satellites) - set(by_slug):
            self._forget(slug)
        self._records = by_slug
        self._unset = unset = {}
        for slug, record in by_slug.items():
            # Only the app's own variables (or allow-listed ones) are read, whatever its record names.
            token = self._secrets.for_app(slug, record.endpoints.token_env, by_slug.values())
            trusted = self._commands.get(slug)
            env, env_refusal = self._stdio_env(record, by_slug.values())
            # A legacy app's wiring changes with its HMAC secret (it has no bearer token).
            secret = self._legacy_secret(record) if is_legacy(record) else token
            if record.status in live and (name := self._unset_secret(record, secret)):
                unset[slug] = name
            wiring = _wiring(record, secret, live, trusted, env)
            current = self._satellites.get(slug)
            if current is not None and current.wiring == wiring:
                current.record = record
                continue
            if current is not None:
                self._forget(slug)
            self._satellites[slug] = sat = self._make_satellite(record, token, trusted, env)
            sat.wiring = wiring
            if sat.blocked is None:
                sat.blocked = self._secrets.refusal(record, by_slug.values()) or env_refusal

    def _unset_secret(self, record: AppRecord, secret: str | None) -> str | None:
        """The variable ``record``'s calls read their secret from when it is not set (None: set, or not needed).
        A variable that is set but refused (not the app's own, too short) is reported by the call's own error."""
        if secret is not None:
            return None
        legacy = is_legacy(record)
        name = WebhookSecrets(self._secrets, [record]).variable(record.slug) if legacy else record.endpoints.token_env
        if not name or self._secrets.get(name) or self._secrets.get(f"{name}_FILE"):
            return None
        return name

    def unset_secret(self, slug: str) -> str | None:
        """The secret variable a live app's calls need that is not set (its token_env, or a legacy app's
        webhook secret), or None. Calls to such an app fail, so the planner does not offer its tools."""
        return self._unset.get(slug)

    def _stdio_env(self, record: AppRecord, others: Iterable[AppRecord]) -> tuple[dict[str, str], Forbidden | None]:
        """``endpoints.mcp_env`` resolved from the app's own (or allow-listed) variables; a name that is not the
        app's to read blocks the satellite (nothing of it is read)."""
        env: dict[str, str] = {}
        others = list(others)
        for child, source in record.endpoints.mcp_env.items():
            problem = secret_env_problem(record.slug, source, self._secrets.allow, others)
            if problem is not None:
                return {}, Forbidden(
                    f"endpoints.mcp_env of '{record.slug}' maps {child} to {source}, which Nexus will not read for "
                    f"it: {problem}",
                    hint=f"Name a variable of its own, e.g. {app_env_prefix(record.slug)}{child}, or ask the owner to "
                    "add the name to NEXUS_SECRET_ENV_ALLOW.",
                    details={"field": "endpoints.mcp_env", "rule": "secret-env"},
                )
            value = self._secrets.get(source)
            if value is not None:
                env[child] = value
        return env, None

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

    def _legacy_secret(self, record: AppRecord) -> str | None:
        try:
            return WebhookSecrets(self._secrets, [record])(record.slug)
        except ConfigError:
            return None

    def _forget(self, slug: str) -> None:
        sat = self._satellites.pop(slug, None)
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

    # -- discovery -----------------------------------------------------------------------------------------------

    async def list_tools(
        self,
        slug: str | None = None,
        *,
        capability: str | None = None,
        text: str | None = None,
        refresh: bool = False,
    ) -> ToolListing:
        """Tools of every callable satellite (or one), named '<slug>__<tool>'; failures are reported per slug."""
        if slug is not None:
            self._get(slug).ready()
            targets = [self._satellites[slug]]
        else:
            targets = [s for s in self._satellites.values() if s.connection is not None]
        if capability is not None:
            wanted = capability.strip().lower()
            targets = [s for s in targets if wanted in {c.lower() for c in s.record.capability_names()}]
        listings: dict[str, Listing] = {}
        errors: dict[str, str] = {}
        limiter = anyio.CapacityLimiter(self.settings.fanout_concurrency)

        async def one(sat: Satellite) -> None:
            async with limiter:
                try:
                    listings[sat.slug] = await sat.tools(refresh=refresh)
                except NexusError as exc:
                    errors[sat.slug] = exc.message

        async with anyio.create_task_group() as tg:
            for sat in targets:
                tg.start_soon(one, sat)
        result = ToolListing(errors=errors)
        needle = text.strip().lower() if text else None
        for sat in targets:
            listing = listings.get(sat.slug)
            if listing is None:
                continue
            if listing.error is not None:
                result.errors[sat.slug] = listing.error.message
                continue
            if listing.warnings:
                result.warnings[sat.slug] = list(listing.warnings)
            for tool in listing.tools:
                haystack = f"{tool.qualified_name} {tool.title or ''} {tool.description or ''}".lower()
                if needle is None or needle in haystack:
                    result.tools.append(tool)
        return result

    async def get_tool(self, target: str | tuple[str, str], *, timeout: float | None = None) -> SatelliteTool:
        """Resolve '<slug>__<tool>' or (slug, tool) to the satellite's tool, fetching its list if needed."""
        if isinstance(target, str):
            slug, _ = split_qualified(target)
        else:
            slug = target[0]
        listing = await self._get(slug).tools(timeout)
        if listing.error is not None:
            raise copy_error(listing.error)
        tool = listing.by_qualified.get(target) if isinstance(target, str) else listing.by_name.get(target[1])
        if tool is None:
            name = target if isinstance(target, str) else target[1]
            known = ", ".join(sorted(listing.by_qualified)[:20]) or "none"
            raise NotFound(
                f"satellite '{slug}' has no tool '{name}'",
                hint=f"Its tools are: {known}.",
                details={"slug": slug, "reason": "unknown_tool"},
            )
        return tool

    # -- calls ---------------------------------------------------------------------------------------------------

    async def call(
        self,
        target: str | tuple[str, str],
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SatelliteCallResult:
        """Call one satellite tool. A tool error comes back as ``is_error``; faults raise UpstreamError.

        ``timeout`` bounds everything: fetching the tool list, connecting, the call and any retries.
        """
        if self.observer is None:
            return await self._call(target, arguments, timeout=timeout, on_progress=on_progress)
        began, outcome, kind = time.perf_counter(), "error", "cancelled"
        try:
            result = await self._call(target, arguments, timeout=timeout, on_progress=on_progress)
            outcome, kind = ("error", "tool_error") if result.is_error else ("ok", "")
            return result
        except NexusError as exc:
            kind = exc.code
            raise
        except Exception:
            kind = "internal"
            raise
        finally:
            slug, _, tool = target.partition("__") if isinstance(target, str) else (target[0], "", target[1])
            self.observer(slug, tool, outcome, kind, time.perf_counter() - began)

    async def _call(
        self,
        target: str | tuple[str, str],
        arguments: Mapping[str, Any] | None,
        *,
        timeout: float | None,
        on_progress: ProgressCallback | None,
    ) -> SatelliteCallResult:
        timeout = timeout or self.settings.call_timeout
        deadline = anyio.current_time() + timeout
        tool = await self.get_tool(target, timeout=timeout)
        args = validate_arguments(tool, arguments if arguments is not None else {})
        sat = self._get(tool.slug)
        result = await sat.call(tool, args, deadline=deadline, timeout=timeout, on_progress=on_progress)
        self._withhold_secrets(result)
        return result

    def guard_answer(self, result: SatelliteCallResult) -> None:
        """The secret guard every satellite answer passes (raises SecretLeakRefused): for relays outside the pool."""
        self._withhold_secrets(result)

    def _withhold_secrets(self, result: SatelliteCallResult) -> None:
        """Refuse an answer that carries a secret; images, audio and blobs are data and pass.

        Checked here, where answers enter Nexus, so a direct call, ``satellite_call``, the planner and
        each satellite of a fan-out (which then fails alone) all get the same verdict.
        """
        answer = {
            "content": [block.model_dump(mode="json") for block in result.content],
            "structured_content": result.structured_content,
        }
        tokens = frozenset(s.token for s in self._satellites.values() if s.token)
        if self._known_with_tokens[0] != tokens:  # satellites come and go: merge again only then
            self._known_with_tokens = (tokens, self.known_secrets.merged(tokens))
        known = self._known_with_tokens[1]
        try:
            ensure_no_secrets(answer, "answer", "pass on", known=known)
        except SecretLeakRefused as exc:
            places = exc.details if isinstance(exc.details, list) else []
            logger.warning(
                "withheld the answer of %s: it carries secrets at %s",
                result.qualified_name,
                ", ".join(f"{d['location']} ({d['kind']})" for d in places) or "?",
            )
            raise SecretLeakRefused(
                f"satellite '{result.slug}' answered {result.tool} with a secret, so Nexus withheld its answer "
                f"({'; '.join(str(d['kind']) + ' at ' + str(d['location']) for d in places[:5])})",
                hint="Nothing was passed on. The satellite must not return credentials: fix the satellite, or call "
                "a tool that does not return them.",
                details={"slug": result.slug, "tool": result.tool, "reason": "secret_in_answer", "findings": places},
            ) from None

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

    # -- health --------------------------------------------------------------------------------------------------

    async def health(self, slug: str | None = None) -> list[SatelliteHealth]:
        """Probe each satellite's health endpoint (default: /api/health on the MCP URL's origin)."""
        if self._http is None:
            raise RuntimeError("SatellitePool must be entered (async with) before use")
        if slug is not None:
            sats = [self._get(slug)]
        else:
            sats = [s for s in self._satellites.values() if s.record.status in self.settings.callable_statuses]
        items = [(s.record, s.token, s.breaker) for s in sats]
        # Health checks are short GETs: a few at a time finish as soon as many at once, and httpx's connection
        # pool scans all its connections for every request (64 at once cost ~1 s of CPU for 500 satellites).
        bounded = min(self.settings.fanout_concurrency, _HEALTH_CONCURRENCY)
        settings = self.settings.model_copy(update={"fanout_concurrency": bounded})
        results = await probe_all(items, OneGetPerUrl(self._http).as_client(), settings)
        results = [await self._probe_over_mcp(r) if r.state is HealthState.unknown else r for r in results]
        self.last_health.update((r.slug, r) for r in results)
        return results

    async def _probe_over_mcp(self, health: SatelliteHealth) -> SatelliteHealth:
        """A satellite with no health URL (stdio) is healthy when it answers tools/list in time."""
        record = self._records.get(health.slug)
        if record is None or not record.endpoints.mcp_command:
            return health
        sat = self._satellites.get(health.slug)
        if sat is not None and sat.blocked is not None:
            return health.model_copy(update={"state": HealthState.down, "detail": sat.blocked.message})
        began = anyio.current_time()
        with anyio.move_on_after(self.settings.health_timeout) as scope:
            listing = await self.list_tools(health.slug, refresh=True)
        latency = (anyio.current_time() - began) * 1000
        if scope.cancelled_caught:
            state, detail = HealthState.down, f"no answer to tools/list within {self.settings.health_timeout:g} s"
        elif health.slug in listing.errors:
            state, detail = HealthState.down, f"tools/list failed: {listing.errors[health.slug]}"
        else:
            state, detail = HealthState.up, "answered tools/list over stdio"
        if state is HealthState.up and health.breaker is not BreakerState.closed:
            state, detail = HealthState.degraded, f"circuit breaker {health.breaker.value}; {detail}"
        return health.model_copy(update={"state": state, "detail": detail, "latency_ms": latency})
