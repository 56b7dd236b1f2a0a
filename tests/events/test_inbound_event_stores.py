"""The inbound events' stores on both engines: what legacy apps and GitHub posted, and their replay guards.

On PostgreSQL the tables are shared by every replica, so a delivery replayed to another replica
is refused there too (the second test opens a second pool, as another replica has).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from events_support import NOW, FakeClock, open_database

from nexus_agent.events import AppEvent, AppEventStore, GitHubDeliveries, GitHubEvent


@pytest.fixture
def events_db(engine: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The database the inbound stores write to, on each engine."""
    if engine == "postgresql":
        yield request.getfixturevalue("pg_database")
        return
    database = open_database(request.getfixturevalue("tmp_path") / "nexus.db")
    yield database
    database.close()


def _event(delivery: str, slug: str = "stock-ledger", **data: Any) -> AppEvent:
    return AppEvent(slug=slug, event="stock.low", delivery_id=delivery, timestamp=int(NOW), received_at=NOW, data=data)


def test_an_app_event_is_kept_once_per_app_and_delivery_id(events_db: Any) -> None:
    store = AppEventStore(events_db)
    first = store.claim(_event("d-1", sku="AL-6063"))
    assert isinstance(first, int)
    assert store.claim(_event("d-1", sku="AL-6063")) is None  # a replay of the same delivery is refused
    assert isinstance(store.claim(_event("d-1", slug="quote-engine")), int)  # another app's id space
    store.set_outcome(first, "stock note written")
    recent = store.recent("stock-ledger")
    assert [(e.delivery_id, e.outcome, e.data) for e in recent] == [("d-1", "stock note written", {"sku": "AL-6063"})]
    assert {e.slug for e in store.recent()} == {"stock-ledger", "quote-engine"}


def test_a_forgotten_app_event_may_be_sent_again_and_secrets_are_not_kept(events_db: Any) -> None:
    store = AppEventStore(events_db)
    row = store.claim(_event("d-2", note="first try"))
    assert row is not None
    store.forget(row)  # its handler failed: the app's retry must be handled
    again = store.claim(_event("d-2", note="token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"))
    assert again is not None and again != row
    with events_db.read() as db:
        stored = db.execute("SELECT data FROM app_events").fetchall()
    assert len(stored) == 1 and "ghp_0123456789" not in stored[0][0]  # redacted before it was written


def test_a_github_delivery_is_handled_once_until_purged(events_db: Any) -> None:
    clock = FakeClock()
    deliveries = GitHubDeliveries(events_db, clock=clock)
    event = GitHubEvent(event="issues", delivery_id="gh-1", action="opened", repository="sfg/truth")
    assert deliveries.claim(event) is True
    assert deliveries.claim(event) is False
    deliveries.forget("gh-1")
    assert deliveries.claim(event) is True
    clock.now += 3600
    assert deliveries.purge(older_than_s=60) == 1
    assert deliveries.claim(event) is True


def test_replicas_share_the_replay_guards_on_postgresql(pg_database: Any, pg_url: str) -> None:
    from memory.pg.database import PgDatabase

    assert AppEventStore(pg_database).claim(_event("d-9")) is not None
    with PgDatabase(pg_url, max_size=2) as other_replica:
        assert AppEventStore(other_replica).claim(_event("d-9")) is None
        assert [e.delivery_id for e in AppEventStore(other_replica).recent()] == ["d-9"]
