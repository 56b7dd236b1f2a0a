"""Satellite health: probing ``/api/health`` and watching for status changes.

A satellite's health combines its health endpoint with its circuit breaker: an
open breaker makes a satellite at least ``degraded`` whatever its endpoint says.
:class:`HealthMonitor` polls on an interval (and as soon as a breaker changes)
and reports each change of the implied registry status to an injected callback,
which the app wires to the registry and memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

from nexus_agent.satellites.breaker import CircuitBreaker
from nexus_agent.satellites.models import BreakerState, HealthState, PoolSettings, SatelliteHealth
from nexus_agent.wire.models import AppRecord, AppStatus, utcnow

if TYPE_CHECKING:
    from nexus_agent.satellites.pool import SatellitePool

__all__ = ["HealthMonitor", "OnStatusChange", "health_url", "probe_all"]

logger = logging.getLogger(__name__)

#: ``on_change(slug, old, new, detail)``, awaited for every change of a satellite's implied registry status.
OnStatusChange = Callable[[str, AppStatus, AppStatus, str], Awaitable[None]]

_UP_WORDS = {"ok", "up", "healthy", "pass", "green", "active", "ready", "alive"}
_DEGRADED_WORDS = {"degraded", "warn", "warning", "yellow", "partial"}
_WATCHED = {AppStatus.active, AppStatus.degraded}


def health_url(record: AppRecord, settings: PoolSettings) -> str | None:
    """The record's health_url, else ``/api/health`` on its MCP (or message handler) URL's origin, else None."""
    ep = record.endpoints
    if ep.health_url is not None:
        return str(ep.health_url)
    base = ep.mcp_url if ep.mcp_url is not None or ep.mcp_command else ep.message_handler_url
    if base is not None:
        parts = urlsplit(str(base))
        return urlunsplit((parts.scheme, parts.netloc, settings.health_path, "", ""))
    return None


def _state_from_body(response: httpx2.Response) -> tuple[HealthState, str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return HealthState.up, f"HTTP {response.status_code}"
    word = str(body.get("status", "")).strip().lower() if isinstance(body, dict) else ""
    if not word or word in _UP_WORDS:
        return HealthState.up, f"HTTP {response.status_code}" + (f", status '{word}'" if word else "")
    if word in _DEGRADED_WORDS:
        return HealthState.degraded, f"health endpoint reports status '{word}'"
    return HealthState.down, f"health endpoint reports status '{word}'"


async def _probe(
    record: AppRecord, token: str | None, breaker: CircuitBreaker, http: httpx2.AsyncClient, settings: PoolSettings
) -> SatelliteHealth:
    url = health_url(record, settings)
    status_code: int | None = None
    latency: float | None = None
    if url is None:
        state, detail = HealthState.unknown, "no health endpoint (stdio satellite)"
    else:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        began = anyio.current_time()
        try:
            with anyio.fail_after(settings.health_timeout):
                response = await http.get(url, headers=headers, timeout=settings.health_timeout)
            latency = (anyio.current_time() - began) * 1000
            status_code = response.status_code
            if response.is_success:
                state, detail = _state_from_body(response)
            else:
                state, detail = HealthState.down, f"health endpoint answered HTTP {status_code}"
        except (TimeoutError, httpx2.TimeoutException):
            state, detail = HealthState.down, f"health endpoint did not answer within {settings.health_timeout:g} s"
        except httpx2.HTTPError as exc:
            state, detail = HealthState.down, f"health endpoint unreachable: {str(exc) or type(exc).__name__}"
    breaker_state = breaker.state
    if breaker_state is not BreakerState.closed and state in (HealthState.up, HealthState.unknown):
        state = HealthState.degraded
        detail = (
            f"circuit breaker {breaker_state.value} after {breaker.consecutive_failures} failure(s)"
            f" (last: {breaker.last_error or 'unknown'}); {detail}"
        )
    if token:
        detail = detail.replace(token, "***")
    return SatelliteHealth(
        slug=record.slug,
        state=state,
        breaker=breaker_state,
        detail=detail,
        http_status=status_code,
        latency_ms=latency,
        url=url,
        checked_at=utcnow(),
    )


async def probe_all(
    items: Iterable[tuple[AppRecord, str | None, CircuitBreaker]],
    http: httpx2.AsyncClient,
    settings: PoolSettings,
    *,
    per_second: float | None = None,
) -> list[SatelliteHealth]:
    """Probe each item (``fanout_concurrency`` at once); ``per_second``: start at most that many probes a second
    (a background sweep spread out, so it never holds the event loop in a burst)."""
    items = list(items)
    results: list[SatelliteHealth | None] = [None] * len(items)
    limiter = anyio.CapacityLimiter(settings.fanout_concurrency)

    async def one(index: int, record: AppRecord, token: str | None, breaker: CircuitBreaker) -> None:
        async with limiter:
            results[index] = await _probe(record, token, breaker, http, settings)

    async with anyio.create_task_group() as tg:
        began = anyio.current_time()
        for index, (record, token, breaker) in enumerate(items):
            if per_second:
                await anyio.sleep(max(0.0, began + index / per_second - anyio.current_time()))
            tg.start_soon(one, index, record, token, breaker)
    return [r for r in results if r is not None]


#: The background sweep's pace: at least this many probes a second...
MIN_PROBES_PER_S = 100.0
#: ...and fast enough to finish within this share of the interval.
SWEEP_SHARE = 0.5


class HealthMonitor:
    """Polls the pool's satellites and reports registry-status changes to ``on_change``.

    Only satellites whose registry status is ``active`` or ``degraded`` are judged: health never promotes a
    placeholder, pending or suspended app. Run it in the app's task group: ``tg.start_soon(monitor.run)``.
    """

    def __init__(self, pool: SatellitePool, on_change: OnStatusChange, *, interval: float | None = None) -> None:
        self._pool = pool
        self._on_change = on_change
        self.interval = interval if interval is not None else pool.settings.health_interval
        self._known: dict[str, AppStatus] = {}

    async def check_once(self) -> list[SatelliteHealth]:
        records = self._pool.records
        self._known = {slug: s for slug, s in self._known.items() if slug in records}
        results = await self._pool.health(per_second=self.pace(len(records)))
        for health in results:
            record = records.get(health.slug)
            new = health.app_status
            if record is None or new is None or record.status not in _WATCHED:
                continue
            old = self._known.get(health.slug, record.status)
            if new is old:
                self._known[health.slug] = new
                continue
            logger.warning("satellite %s: %s -> %s (%s)", health.slug, old.value, new.value, health.detail)
            try:
                await self._on_change(health.slug, old, new, health.detail)
            except Exception:  # recording a change must never stop the monitor; it is retried next round
                logger.exception("recording the status change of satellite %s failed", health.slug)
            else:
                self._known[health.slug] = new
        return results

    def pace(self, apps: int) -> float:
        """Probes started a second: a sweep spreads over at most half the interval, so thousands of apps are
        checked in the background without a burst that holds the event loop while calls wait (5,000 apps
        every 60 s: ~170 a second), and a few apps at once as before (at least ``MIN_PROBES_PER_S``)."""
        return max(MIN_PROBES_PER_S, apps / (self.interval * SWEEP_SHARE))

    async def run(self) -> None:
        """Check now, then every ``interval`` seconds or as soon as a circuit breaker changes state."""
        while True:
            try:
                await self.check_once()
            except Exception:
                logger.exception("health check round failed")
            with anyio.move_on_after(self.interval):
                await self._pool.wait_breaker_change()
