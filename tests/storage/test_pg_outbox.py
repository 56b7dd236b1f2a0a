"""The outbox on PostgreSQL: several dispatchers lease disjoint rows (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from memory.pg.database import PgDatabase
from nexus_agent.events._pg_store import EVENTS_PG_MIGRATIONS, PgOutboxStore
from nexus_agent.events.store import DeliveryOutcome

URL = "https://quote-engine.example.test/hooks"


@pytest.fixture
def outbox_db(pg_url: str) -> Iterator[PgDatabase]:
    database = PgDatabase(pg_url)
    database.migrate([EVENTS_PG_MIGRATIONS])
    yield database
    database.close()


def _queue(store: PgOutboxStore, n: int, target: str = "quote-engine") -> None:
    store.enqueue_many([{"event": "job.done", "target": target, "url": URL, "data": {"n": i}} for i in range(n)])


def test_enqueue_is_idempotent_by_delivery_id_and_claims_lease_oldest_first(outbox_db: PgDatabase) -> None:
    store = PgOutboxStore(outbox_db)
    first = store.enqueue_many([{"event": "a.b", "target": "t", "url": URL, "delivery_id": "d-1", "data": {}}])
    again = store.enqueue_many([{"event": "a.b", "target": "t", "url": URL, "delivery_id": "d-1", "data": {}}])
    assert [e.id for e in again] == [e.id for e in first]
    _queue(store, 3)
    claimed = store.claim(2, 30, owner="replica-a")
    assert claimed[0].delivery_id == "d-1"
    assert all(e.lease_owner == "replica-a" for e in claimed)
    assert store.stats().in_flight == 2


def test_many_dispatchers_on_separate_pools_deliver_each_event_once(outbox_db: PgDatabase, pg_url: str) -> None:
    _queue(PgOutboxStore(outbox_db), 1000)
    delivered: Counter[int] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def dispatcher(name: str) -> None:
        database = PgDatabase(pg_url, max_size=2)  # its own pool, as another replica has
        try:
            store = PgOutboxStore(database)
            while batch := store.claim(25, 60, owner=name):
                with lock:
                    delivered.update(e.id for e in batch)
                store.complete([DeliveryOutcome(entry=e, delivered=True, status_code=200) for e in batch], owner=name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=dispatcher, args=(f"replica-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(delivered) == 1000 and set(delivered.values()) == {1}  # every event, each once
    assert PgOutboxStore(outbox_db).stats().delivered == 1000


def test_a_lease_that_expired_is_taken_over_by_another_dispatcher(outbox_db: PgDatabase) -> None:
    now = [1_000_000.0]
    store = PgOutboxStore(outbox_db, clock=lambda: now[0])
    _queue(store, 1)
    (held,) = store.claim(5, 30, owner="replica-a")  # replica A is killed while holding it
    assert store.claim(5, 30, owner="replica-b") == []
    now[0] += 31
    (taken,) = store.claim(5, 30, owner="replica-b")
    assert taken.id == held.id and "expired" in (store.get(taken.id).last_error or "")
    late: Any = store.complete([DeliveryOutcome(entry=held, delivered=False, error="timeout")], owner="replica-a")
    assert late == [store.get(held.id).status]  # A's late failure does not override B's lease
    assert store.get(held.id).lease_owner == "replica-b"
