"""One satellite as the pool sees it: its connection, breaker, cached tool list, and calls to it.

The pool routes; this module does the per-satellite work: fetch (and cache)
the tool list, call one tool with a deadline and retries, and count every
fault against the satellite's circuit breaker.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

import anyio
from mcp.shared.dispatcher import ProgressFnT

from nexus_agent.satellites._faults import (
    CIRCUIT_OPEN,
    DROP_CONNECTION,
    NOT_A_FAULT,
    REJECTED,
    TIMEOUT,
    TRANSIENT,
    classify,
    reason_of,
    satellite_error,
)
from nexus_agent.satellites.breaker import CircuitBreaker
from nexus_agent.satellites.connection import SatelliteConnection, capture_http_statuses, failing_status
from nexus_agent.satellites.discovery import Listing, build_listing
from nexus_agent.satellites.fanout import ProgressCallback
from nexus_agent.satellites.message_handler import MessageHandlerConnection
from nexus_agent.satellites.models import BreakerState, PoolSettings, SatelliteCallResult, SatelliteTool
from nexus_agent.satellites.relay import without_task_only_tools
from nexus_agent.wire.errors import ConfigError, NexusError, NotFound, UpstreamError
from nexus_agent.wire.models import AppRecord

__all__ = ["Satellite"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_MAX_PAGES = 100


def _on_relay_board(connection: SatelliteConnection | MessageHandlerConnection) -> AbstractContextManager[None]:
    """A call on an MCP connection is registered for the relay of the satellite's requests to its client."""
    return connection.relay.call() if isinstance(connection, SatelliteConnection) else nullcontext()


class Satellite:
    def __init__(
        self,
        record: AppRecord,
        *,
        token: str | None,
        breaker: CircuitBreaker,
        connection: SatelliteConnection | MessageHandlerConnection | None,
        settings: PoolSettings,
        clock: Clock,
        sleep: Sleep,
    ) -> None:
        self.record = record
        self.token = token
        self.breaker = breaker
        self.connection = connection
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self.listing: Listing | None = None
        self.wiring: tuple[Any, ...] = ()  # what the pool built the connection from (a change rebuilds it)
        #: Why Nexus refuses to contact this satellite at all (e.g. a command the owner did not set), if it does.
        self.blocked: NexusError | None = None
        self.generation = 0  # bumped when the satellite says its tools changed
        self._listed_generation = -1
        self._lock = anyio.Lock()

    @property
    def slug(self) -> str:
        return self.record.slug

    def ready(self) -> SatelliteConnection | MessageHandlerConnection:
        """The connection, if Nexus may call this satellite; else a NotFound or ConfigError saying why not."""
        slug, ep = self.slug, self.record.endpoints
        if self.blocked is not None:  # a fresh instance per raise (tasks must not share a traceback)
            blocked = self.blocked
            raise type(blocked)(blocked.message, hint=blocked.hint, details=blocked.details)
        if self.connection is None:
            if ep.mcp_url is None and not ep.mcp_command and ep.message_handler_url is None:
                raise NotFound(
                    f"satellite '{slug}' has no MCP endpoint and no message handler",
                    hint="Register endpoints.mcp_url or endpoints.mcp_command (or, for a legacy app, "
                    "endpoints.message_handler_url with its message_types).",
                )
            if (
                ep.mcp_url is None
                and not ep.mcp_command
                and not (self.record.message_types or self.record.message_specs)
            ):
                raise NotFound(
                    f"app '{slug}' has a message handler but registers no message types, so it has no tools",
                    hint="Add the message types its handler accepts to message_types (e.g. 'query.stock_level').",
                )
            raise NotFound(
                f"satellite '{slug}' is '{self.record.status.value}', so Nexus does not call it",
                hint="Approve or activate it in the registry first.",
            )
        if isinstance(self.connection, MessageHandlerConnection):
            return self.connection  # its tools come from the registry; a call checks the app's secret
        if ep.token_env and not self.token:
            raise ConfigError(
                f"satellite '{slug}' needs a bearer token from the environment variable {ep.token_env}, "
                "which is not set",
                hint=f"Set {ep.token_env} in Nexus's environment and restart it.",
                details={"slug": slug, "reason": "token_missing"},
            )
        return self.connection

    # -- tool list -----------------------------------------------------------------------------------------------

    def _fresh(self) -> bool:
        listing = self.listing
        if listing is None or self._listed_generation != self.generation:
            return False
        if listing.error is not None:
            # Remember a failure briefly, but let an open breaker answer for itself and a half-open one probe.
            if self.breaker.state is not BreakerState.closed:
                return False
            return self._clock() - listing.fetched_at < self._settings.error_ttl
        return self._clock() - listing.fetched_at < self._settings.tools_ttl

    async def tools(self, timeout: float | None = None, *, refresh: bool = False) -> Listing:
        """The cached tool list, refetched when its TTL passed or the satellite announced a change."""
        if not refresh and self._fresh():
            assert self.listing is not None
            return self.listing
        async with self._lock:  # one fetch at a time; waiters reuse its result
            if not refresh and self._fresh():
                assert self.listing is not None
                return self.listing
            return await self._fetch(timeout)

    async def _fetch(self, timeout: float | None) -> Listing:
        connection = self.ready()
        limit = min(timeout or self._settings.list_timeout, self._settings.list_timeout)
        if not self.breaker.allow():
            return Listing(fetched_at=self._clock(), error=self.circuit_open())
        generation = self.generation
        used: Any = None
        statuses: list[int] = []
        try:
            with anyio.fail_after(limit), capture_http_statuses() as statuses:
                # An HTTP satellite's list goes as plain JSON-RPC when it can (raw_contact); else the SDK client's.
                raw = await connection.raw_tools() if isinstance(connection, SatelliteConnection) else None
                if raw is not None:
                    tools = raw
                else:
                    async with connection.use() as client:
                        used = client
                        tools, cursor = [], None
                        for _ in range(_MAX_PAGES):
                            page = await client.list_tools(cursor=cursor)
                            tools.extend(page.tools)
                            cursor = page.next_cursor
                            if not cursor:
                                break
        except Exception as exc:
            error = self._fault(used, exc, "listing its tools", limit, failing_status(statuses))
            listing = Listing(fetched_at=self._clock(), error=error)
        else:
            self.breaker.record_success()
            listing = build_listing(self.slug, without_task_only_tools(self.slug, tools), self._clock())
            if isinstance(connection, MessageHandlerConnection):
                listing.warnings += connection.warnings  # registry entries that are not message types
            for warning in listing.warnings:
                logger.warning("satellite %s: %s", self.slug, warning)
        self.listing, self._listed_generation = listing, generation
        return listing

    # -- calls ---------------------------------------------------------------------------------------------------

    async def _before_retry(
        self, tool: SatelliteTool, error: UpstreamError, attempt: int, attempts: int, deadline: float
    ) -> None:
        """Raise ``error`` unless attempt ``attempt`` of ``attempts`` may be retried; else wait the backoff."""
        reason = reason_of(error)
        if reason == TIMEOUT or reason not in TRANSIENT or attempt >= attempts:
            raise error from None
        delay = self._backoff(attempt)
        if anyio.current_time() + delay >= deadline:
            raise error from None
        logger.info("retrying %s on %s in %.2f s: %s", tool.name, self.slug, delay, error.message)
        await self._sleep(delay)

    async def retry(
        self, tool: SatelliteTool, arguments: dict[str, Any], error: UpstreamError, *, deadline: float, timeout: float
    ) -> SatelliteCallResult:
        """Go on with a call whose first attempt was made outside (the gateway fast path) and failed with
        ``error``: the same verdict, backoff and remaining attempts as :meth:`call`'s own loop, so the
        satellite is sent no more than on the normal path."""
        attempts = self._settings.retry_attempts if tool.retryable else 1
        await self._before_retry(tool, error, 1, attempts, deadline)
        return await self.call(tool, arguments, deadline=deadline, timeout=timeout, first_attempt=2)

    async def call(
        self,
        tool: SatelliteTool,
        arguments: dict[str, Any],
        *,
        deadline: float,
        timeout: float,
        on_progress: ProgressCallback | None = None,
        first_attempt: int = 1,
    ) -> SatelliteCallResult:
        """Call ``tool`` (arguments already validated) before ``deadline``; retry only read-only/idempotent tools.

        ``first_attempt``: the attempt this call starts at (see :meth:`retry`)."""
        connection = self.ready()
        if isinstance(connection, MessageHandlerConnection):
            connection.check_ready()  # the app's HMAC secret must be set: a ConfigError naming its variable
        started = anyio.current_time()
        attempts = self._settings.retry_attempts if tool.retryable else 1
        action = f"calling tool '{tool.name}'"
        for attempt in range(first_attempt, attempts + 1):
            if not self.breaker.allow():
                raise self.circuit_open()
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise classify(TimeoutError(), connection.fault_context, action, timeout)
            used: Any = None
            statuses: list[int] = []
            try:
                with anyio.fail_after(remaining), capture_http_statuses() as statuses:
                    async with connection.use() as client:
                        used = client
                        with _on_relay_board(connection):
                            result = await client.call_tool(
                                tool.name, arguments, progress_callback=cast(ProgressFnT | None, on_progress)
                            )
            except Exception as exc:
                error = self._fault(used, exc, action, timeout, failing_status(statuses))
                await self._before_retry(tool, error, attempt, attempts, deadline)
                continue
            self.breaker.record_success()
            return SatelliteCallResult(
                slug=self.slug,
                tool=tool.name,
                qualified_name=tool.qualified_name,
                is_error=bool(result.is_error),
                content=list(result.content),
                structured_content=result.structured_content,
                attempts=attempt,
                duration_ms=(anyio.current_time() - started) * 1000,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        settings = self._settings
        base = min(settings.retry_max_delay, settings.retry_base_delay * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter, so retries of many callers spread out

    # -- faults --------------------------------------------------------------------------------------------------

    def _fault(
        self, used: Any, exc: BaseException, action: str, timeout: float | None, http_status: int | None
    ) -> UpstreamError:
        """Describe a fault, count it against the breaker, and drop a connection that is no longer usable."""
        assert self.connection is not None
        error = classify(exc, self.connection.fault_context, action, timeout, http_status)
        reason = reason_of(error)
        if used is not None and reason in DROP_CONNECTION:
            self.connection.drop(used)
        if reason == REJECTED:
            self.breaker.record_success()  # it answered: alive
        elif reason not in NOT_A_FAULT:
            self.breaker.record_failure(error.message)
        return error

    def circuit_open(self) -> UpstreamError:
        breaker = self.breaker
        assert self.connection is not None
        return satellite_error(
            self.connection.fault_context,
            CIRCUIT_OPEN,
            f"satellite '{self.slug}' is not being called: its circuit breaker is open after "
            f"{breaker.consecutive_failures} failure(s) in a row (last: {breaker.last_error or 'unknown'})",
            f"Nexus tries it again in {breaker.retry_in():.0f} s; check the satellite's health meanwhile.",
        )
