"""Nexus's MCP client side: connections to satellite apps, tool discovery, calls, fan-out and health.

Build one :class:`SatellitePool` in the app's lifespan and feed it registry records and the satellite
secrets the CLI resolved (a mapping of variable name to value)::

    async with SatellitePool(records, secrets=satellite_secrets, settings=PoolSettings()) as pool:
        monitor = HealthMonitor(pool, on_change=record_status_change)
        tg.start_soon(monitor.run)
        ...
"""

from nexus_agent.satellites.breaker import CircuitBreaker
from nexus_agent.satellites.connection import SatelliteConnection
from nexus_agent.satellites.discovery import qualify, split_qualified, validate_arguments
from nexus_agent.satellites.fanout import ProgressCallback
from nexus_agent.satellites.health import HealthMonitor, OnStatusChange, health_url
from nexus_agent.satellites.models import (
    BreakerState,
    FanOutItem,
    FanOutResult,
    HealthState,
    PoolSettings,
    SatelliteCallResult,
    SatelliteHealth,
    SatelliteTool,
    ToolListing,
)
from nexus_agent.satellites.pool import SatellitePool

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "FanOutItem",
    "FanOutResult",
    "HealthMonitor",
    "HealthState",
    "OnStatusChange",
    "PoolSettings",
    "ProgressCallback",
    "SatelliteCallResult",
    "SatelliteConnection",
    "SatelliteHealth",
    "SatellitePool",
    "SatelliteTool",
    "ToolListing",
    "health_url",
    "qualify",
    "split_qualified",
    "validate_arguments",
]
