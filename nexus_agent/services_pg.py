"""The shared PostgreSQL stores a Nexus process uses when ``NEXUS_DATABASE_URL`` is set.

With a URL, memory and the registry live in PostgreSQL, so several ``nexus serve --http``
replicas share them; every other store (event outbox, flows and instructions, planner
state, ops call log and backups, API keys) still lives in the local SQLite file of each
replica's ``NEXUS_HOME``. Without a URL nothing here is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from memory.pg.database import PgDatabase
from memory.pg.schema import MEMORY_PG_MIGRATIONS, TEXT_PG_MIGRATIONS
from memory.pg.store import PgMemoryStore
from nexus_agent.config import Settings
from nexus_agent.registry_pg import REGISTRY_PG_MIGRATIONS, PgRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["PG_MIGRATIONS", "SHARED_STORES", "SharedStores", "open_pg_database", "open_shared_stores"]

#: Every PostgreSQL migration set, in the order they apply.
PG_MIGRATIONS = (TEXT_PG_MIGRATIONS, MEMORY_PG_MIGRATIONS, REGISTRY_PG_MIGRATIONS)
#: What lives in PostgreSQL when NEXUS_DATABASE_URL is set (everything else stays in the local SQLite file).
SHARED_STORES = ("memory", "registry")


@dataclass
class SharedStores:
    database: PgDatabase
    memory: PgMemoryStore
    registry: PgRegistry

    def close(self) -> None:
        self.database.close()


def open_pg_database(url: str, *, migrate: bool = True) -> PgDatabase:
    database = PgDatabase(url)
    try:
        if migrate:
            database.migrate(PG_MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


def open_shared_stores(settings: Settings, known: KnownSecrets) -> SharedStores | None:
    """Memory and registry on PostgreSQL (migrated), or None when no NEXUS_DATABASE_URL is set."""
    if settings.database_url is None:
        return None
    database = open_pg_database(settings.database_url.get_secret_value())
    try:
        return SharedStores(
            database=database,
            memory=PgMemoryStore(database, known_secrets=known),
            registry=PgRegistry(database, policy=EndpointPolicy.from_settings(settings), known_secrets=known),
        )
    except BaseException:
        database.close()
        raise
