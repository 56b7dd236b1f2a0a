"""The services one Nexus process runs on, opened and closed by a lifespan.

``open_services(settings)`` opens the database, applies migrations and builds
the memory store and registry. The MCP server, the HTTP app and the CLI all get
their parts from the :class:`NexusServices` it yields; nothing is global.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from memory.database import Database
from memory.schema import MIGRATIONS as MEMORY_MIGRATIONS
from memory.store import MemoryStore, SqliteMemoryStore
from nexus_agent.config import Settings
from nexus_agent.registry import REGISTRY_MIGRATIONS, Registry, SqliteRegistry

__all__ = ["ALL_MIGRATIONS", "NexusServices", "open_database", "open_services", "services_from_database"]

ALL_MIGRATIONS = (MEMORY_MIGRATIONS, REGISTRY_MIGRATIONS)


@dataclass
class NexusServices:
    settings: Settings
    database: Database
    memory: MemoryStore
    registry: Registry
    started_at: float = field(default_factory=time.monotonic)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_at


def open_database(settings: Settings) -> Database:
    database = Database(settings.db_path, sync=settings.db_sync, busy_timeout_ms=settings.busy_timeout_ms)
    try:
        database.migrate(ALL_MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


def services_from_database(settings: Settings, database: Database) -> NexusServices:
    return NexusServices(
        settings=settings,
        database=database,
        memory=SqliteMemoryStore(database),
        registry=SqliteRegistry(database),
    )


@contextlib.contextmanager
def open_services_sync(settings: Settings) -> Iterator[NexusServices]:
    database = open_database(settings)
    try:
        yield services_from_database(settings, database)
    finally:
        database.close()


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[NexusServices]:
    """Lifespan of everything a Nexus process needs; closes in reverse order."""
    with open_services_sync(settings) as services:
        yield services
