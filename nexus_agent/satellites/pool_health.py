"""Health checks through the satellite pool: probing each satellite's health endpoint, or tools/list for a
stdio satellite. A part of :class:`~nexus_agent.satellites.pool.SatellitePool`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx2

from nexus_agent.satellites.health import probe_all
from nexus_agent.satellites.models import BreakerState, HealthState, PoolSettings, SatelliteHealth, ToolListing
from nexus_agent.satellites.shared_http import OneGetPerUrl
from nexus_agent.wire.models import AppRecord

if TYPE_CHECKING:
    from nexus_agent.satellites.satellite import Satellite

__all__ = ["PoolHealth"]

_HEALTH_CONCURRENCY = 16  # health probes at once


class PoolHealth:
    """The pool's health methods (mixed into SatellitePool, which owns the state below)."""

    settings: PoolSettings
    last_health: dict[str, SatelliteHealth]
    _http: httpx2.AsyncClient | None
    _records: dict[str, AppRecord]
    _satellites: dict[str, Satellite]

    if TYPE_CHECKING:

        def _get(self, slug: str) -> Satellite: ...

        async def list_tools(
            self,
            slug: str | None = None,
            *,
            capability: str | None = None,
            text: str | None = None,
            refresh: bool = False,
        ) -> ToolListing: ...

    async def health(self, slug: str | None = None, *, per_second: float | None = None) -> list[SatelliteHealth]:
        """Probe each satellite's health endpoint (default: /api/health on the MCP URL's origin).

        ``per_second``: start at most that many probes a second (the background monitor's paced sweep); a
        caller asking now (``satellite_health``, ``recover``) gets every probe at once."""
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
        results = await probe_all(items, OneGetPerUrl(self._http).as_client(), settings, per_second=per_second)
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
