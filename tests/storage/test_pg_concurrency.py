"""Two processes' worth of stores on one PostgreSQL database: writes stay ordered and single."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import psycopg
import pytest

from memory.pg.database import PgDatabase
from memory.pg.store import _DECISION_LOCK, _WRITE_LOCK, PgMemoryStore, _object_key
from nexus_agent.registry_pg import PgRegistry
from nexus_agent.services_pg import PG_MIGRATIONS
from nexus_agent.wire.errors import Conflict
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


async def test_two_replicas_superseding_one_decision_at_once_leave_one_successor(two_pools: Any) -> None:
    stores = [PgMemoryStore(db) for db in two_pools]
    first = await stores[0].log_decision({"decision": "glaze bay 4 with laminated glass", "decided_by": "owner"})
    outcomes: list[str] = []

    async def supersede(store: PgMemoryStore, i: int) -> None:
        try:
            await store.log_decision(
                {"decision": f"glaze bay 4 with option {i}", "decided_by": "owner", "supersedes": first.id}
            )
            outcomes.append("superseded")
        except Conflict:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(supersede, stores[i % 2], i)
    assert sorted(outcomes) == ["conflict"] * 5 + ["superseded"]
    assert (await stores[1].stats())["decisions"] == 2  # the losers' decisions were rolled back


async def test_steps_appended_to_one_plan_from_two_replicas_take_distinct_seqs(two_pools: Any) -> None:
    stores = [PgMemoryStore(db) for db in two_pools]
    plan = await stores[0].create_plan({"instruction": "re-glaze the showroom"})

    async def append(store: PgMemoryStore, i: int) -> None:
        await store.add_plan_step(plan.id, {"tool": f"glazing__step_{i}"})

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(append, stores[i % 2], i)
    steps = (await stores[1].get_plan(plan.id)).steps
    assert sorted(s.seq for s in steps) == list(range(1, 11))


async def test_a_held_decision_lock_stops_its_supersede_but_not_a_note(two_pools: Any, pg_url: str) -> None:
    store = PgMemoryStore(two_pools[0])
    decision = await store.log_decision({"decision": "order the bronze lintel", "decided_by": "owner"})
    with psycopg.connect(pg_url) as other, psycopg.connect(pg_url, autocommit=True) as watcher:
        # Another replica in the middle of superseding the decision holds what that write holds.
        other.execute(
            "SELECT pg_advisory_xact_lock_shared(%s), pg_advisory_xact_lock(%s)",
            [_WRITE_LOCK, _object_key(_DECISION_LOCK, decision.id)],
        )
        with anyio.fail_after(5):
            await store.add_note({"text": "lintel delivery booked"})  # an insert does not queue behind it
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                store.log_decision,
                {"decision": "order the steel lintel", "decided_by": "owner", "supersedes": decision.id},
            )
            with anyio.fail_after(5):  # bounded wait until the supersede is seen queuing on the lock
                while not watcher.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone():
                    await anyio.sleep(0.02)
            assert (await store.stats())["decisions"] == 1
            other.rollback()  # the other replica's transaction ends: the supersede goes ahead
    assert (await store.stats())["decisions"] == 2
