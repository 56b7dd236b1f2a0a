"""Logging every tool call of a process that serves no ``/metrics`` (``nexus serve`` over stdio).

The call log is what ``nexus metrics`` and the status page compute the error rate and
response time from, so calls made by desktop clients over stdio count too. No Prometheus
here (nothing scrapes a stdio process), so its cold start does not load it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from nexus_agent.ops.calllog import CallLog
from nexus_agent.ops.observer import OpsObserver
from nexus_agent.services import NexusServices

if TYPE_CHECKING:
    from nexus_agent.ops.metrics import NexusMetrics

__all__ = ["measuring"]


@contextlib.asynccontextmanager
async def measuring(services: NexusServices, metrics: NexusMetrics | None = None) -> AsyncIterator[OpsObserver]:
    """Hang a call-logging observer on ``services`` (and its satellite pool) while the block runs.

    With ``metrics`` (the HTTP app's) calls are also counted for ``/metrics``.
    """
    from nexus_agent.toolset import ALL_TOOLS

    calllog = CallLog(services.database)
    pool = services.pool
    observer = OpsObserver(
        metrics,
        calllog,
        nexus_tools=[spec.name for spec in ALL_TOOLS],
        known_apps=lambda: frozenset(pool.records) if pool is not None else frozenset(),
    )
    services.observer = observer
    if pool is not None:
        pool.observer = observer.satellite_call
    async with anyio.create_task_group() as tg:
        tg.start_soon(calllog.run)
        try:
            yield observer
        finally:
            tg.cancel_scope.cancel()  # the call log's last flush runs shielded
            services.observer = None
            if pool is not None:
                pool.observer = None
