"""Two processes' worth of stores on one PostgreSQL database: writes stay ordered and single."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from memory.pg.database import PgDatabase
from memory.pg.store import PgMemoryStore
from nexus_agent.registry_pg import PgRegistry
from nexus_agent.services_pg import PG_MIGRATIONS
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_pools(pg_url: str) -> Iterator[tuple[PgDatabase, PgDatabase]]:
    """Two connection pools on one database, as two replicas have; both migrate (concurrently safe)."""
    first, second = PgDatabase(pg_url), PgDatabase(pg_url)
    first.migrate(PG_MIGRATIONS)
    assert second.migrate(PG_MIGRATIONS) == []  # already applied: nothing twice
    yield first, second
    first.close()
    second.close()


async def test_concurrent_writes_from_two_pools_keep_ids_in_time_order(two_pools: Any) -> None:
    stores = [PgMemoryStore(db) for db in two_pools]

    async def write(store: PgMemoryStore, who: str) -> None:
        for i in range(25):
            await store.add_note({"text": f"bay {i} inspected by {who}", "author": who})

    async with anyio.create_task_group() as tg:
        tg.start_soon(write, stores[0], "replica-a")
        tg.start_soon(write, stores[1], "replica-b")
    activity = await stores[1].recent_activity(limit=50)
    assert len(activity) == 50
    times = [item.created_at for item in activity]  # newest first: by id and by time alike
    assert times == sorted(times, reverse=True)
    assert (await stores[0].stats())["notes"] == 50


async def test_racing_registrations_of_one_slug_record_one_creation(two_pools: Any) -> None:
    registries = [PgRegistry(db) for db in two_pools]
    record = AppRecord.model_validate({"slug": "glass-racks", "name": "Glass Racks"})
    results: list[str] = []

    async def register(registry: PgRegistry) -> None:
        results.append((await registry.register(record, "owner")).action)

    async with anyio.create_task_group() as tg:
        for registry in registries * 3:
            tg.start_soon(register, registry)
    assert sorted(results) == ["created"] + ["unchanged"] * 5
    assert len(await registries[0].history("glass-racks")) == 1


async def test_migrations_racing_from_two_pools_apply_once(pg_url: str) -> None:
    first, second = PgDatabase(pg_url), PgDatabase(pg_url)
    try:
        applied: list[list[str]] = []

        async def migrate(db: PgDatabase) -> None:
            applied.append(await anyio.to_thread.run_sync(db.migrate, PG_MIGRATIONS))

        async with anyio.create_task_group() as tg:
            tg.start_soon(migrate, first)
            tg.start_soon(migrate, second)
        names = [name for batch in applied for name in batch]
        assert len(names) == len(set(names)) == sum(len(m.steps) for m in PG_MIGRATIONS)
    finally:
        first.close()
        second.close()
