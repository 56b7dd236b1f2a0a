"""The services one Nexus process runs on: a frozen core and a runtime, opened by a lifespan.

``open_services(settings)`` opens the core (:mod:`nexus_agent.core`: database, memory,
registry, truth, outbox, instructions) and, over it, the runtime
(:mod:`nexus_agent.runtime`: satellite pool, health monitor, dispatcher, ops observer,
planner), every part built up front and opened in order. The MCP server, the HTTP app
and the CLI all get their parts from the :class:`NexusServices` it yields (the runtime);
nothing is global and nothing is assigned after it opens.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping

from memory.database import Database
from nexus_agent.config import Settings
from nexus_agent.core import ALL_MIGRATIONS, NexusCore, core_over, open_core, open_database, outbox_notify
from nexus_agent.flows import Notify
from nexus_agent.runtime import (
    HEALTH_ACTOR,
    INSTRUCTION_EVENT,
    REGISTRY_RECHECK_S,
    MeasurementFactory,
    NexusRuntime,
    PlannerFactory,
)
from nexus_agent.satellites import PoolSettings
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = [
    "ALL_MIGRATIONS",
    "HEALTH_ACTOR",
    "INSTRUCTION_EVENT",
    "REGISTRY_RECHECK_S",
    "NexusCore",
    "NexusRuntime",
    "NexusServices",
    "open_database",
    "open_services",
    "open_services_sync",
    "outbox_notify",
    "pool_settings_from",
    "services_from_database",
]

#: The type every layer above takes: the runtime (the core's parts and the live ones, read-only).
NexusServices = NexusRuntime


def services_from_database(
    settings: Settings, database: Database, *, known: KnownSecrets | None = None
) -> NexusServices:
    """A runtime without live parts over an open ``database`` (the caller closes it and ``shared``)."""
    return NexusRuntime(core_over(settings, database, known=known), satellites=False)


@contextlib.contextmanager
def open_services_sync(
    settings: Settings, *, known: KnownSecrets | None = None, notify: Notify | None = None
) -> Iterator[NexusServices]:
    """Database, memory, registry, truth and outbox only (CLI commands, tests): no live part to open.

    ``notify``: how instruction notices leave (default: the event outbox).
    """
    with open_core(settings, known=known, notify=notify) as core:
        yield NexusRuntime(core, satellites=False)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    secrets: Mapping[str, str] | None = None,
    satellites: bool = True,
    monitor: bool = False,
    pool_settings: PoolSettings | None = None,
    measure: MeasurementFactory | None = None,
    planner: PlannerFactory | None = None,
) -> AsyncIterator[NexusServices]:
    """Lifespan of everything a Nexus process needs; closes in reverse order.

    ``secrets`` is the mapping satellite tokens are read from (``endpoints.token_env``); the CLI
    passes the variables it resolved. ``monitor`` runs a server's parts (health monitor, outbox
    dispatcher). ``measure`` and ``planner`` build the ops measurement and the planner over the
    runtime (``nexus_agent.ops.measure.measurement``, ``nexus_agent.planner.build.planner_from_settings``).
    """
    with open_core(settings, secrets=secrets) as core:
        runtime = NexusRuntime(
            core,
            satellites=satellites,
            monitor=monitor,
            pool_settings=pool_settings,
            measure=measure,
            planner=planner,
        )
        async with runtime:
            yield runtime


def pool_settings_from(settings: Settings) -> PoolSettings:
    """The satellite pool's tuning: ``Settings.pool`` (listing and call deadlines are independent)."""
    return settings.pool
