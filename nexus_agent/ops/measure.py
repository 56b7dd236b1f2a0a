"""How a Nexus process measures itself: the ops observer and the call log it writes.

The call log is what ``nexus metrics`` and the status page compute the error rate and
response time from, so calls made by desktop clients over stdio count too. The edge
gives :func:`measurement` to the runtime (``open_services(..., measure=measurement())``);
the runtime builds the :class:`ServiceMeasurement` with its other parts and runs it
while it is open. A stdio server passes no metrics (nothing scrapes it, so its cold
start does not load Prometheus); the HTTP app passes its ``/metrics`` registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from nexus_agent.ops.calllog import CallLog
from nexus_agent.ops.observer import OpsObserver
from nexus_agent.runtime import MeasurementFactory, NexusRuntime

if TYPE_CHECKING:
    from nexus_agent.ops.metrics import NexusMetrics

__all__ = ["ServiceMeasurement", "measurement"]


class ServiceMeasurement:
    """The observer of one runtime (its MCP server, satellite pool and planner report to it) and its call log."""

    def __init__(self, runtime: NexusRuntime, metrics: NexusMetrics | None = None) -> None:
        from nexus_agent.toolset import ALL_TOOLS

        pool = runtime.pool
        self.calllog = CallLog(runtime.shared.database if runtime.shared else runtime.database)  # PostgreSQL: shared
        self._observer = OpsObserver(
            metrics,
            self.calllog,
            nexus_tools=[spec.name for spec in ALL_TOOLS],
            known_apps=lambda: frozenset(pool.records) if pool is not None else frozenset(),
        )

    @property
    def observer(self) -> OpsObserver:
        return self._observer

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[OpsObserver]:
        """Write the call log in the background while the block runs (its last flush runs shielded)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.calllog.run)
            try:
                yield self._observer
            finally:
                tg.cancel_scope.cancel()


def measurement(metrics: NexusMetrics | None = None) -> MeasurementFactory:
    """The factory the edge gives the runtime; ``metrics``: the HTTP app's (calls are counted for ``/metrics``)."""

    def build(runtime: NexusRuntime) -> ServiceMeasurement:
        return ServiceMeasurement(runtime, metrics)

    return build
