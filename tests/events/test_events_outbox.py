"""The outbox table: durable enqueue, leases, backoff, dead letters, replay, and what the CLI shows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from events_support import GOOD_URL, FakeClock, open_database

from memory.database import Database
from nexus_agent.events import Outbox, OutboxStatus, RetryPolicy
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound, SecretLeakRefused
from nexus_agent.wire.models import AppRecord

OWNER = "test-dispatcher"


async def queue(outbox: Outbox, n: int = 1, *, target: str = "quote-engine", event: str = "instruction.created"):
    return await outbox.enqueue_many(
        [{"event": event, "target": target, "url": GOOD_URL, "data": {"n": i}} for i in range(n)]
    )


@pytest.mark.anyio
async def test_an_enqueued_event_is_committed_before_enqueue_returns(outbox: Outbox, db_path: Path) -> None:
    entry = await outbox.enqueue("instruction.created", "quote-engine", GOOD_URL, {"instruction_id": 7})

    other = Database(db_path)  # another connection sees it at once: it was committed, not just written
    try:
        row = other.conn.execute("SELECT status, delivery_id, payload FROM outbox WHERE id = ?", [entry.id]).fetchone()
    finally:
        other.close()
    assert row == ("pending", entry.delivery_id, '{"instruction_id":7}')
    assert entry.status is OutboxStatus.pending and entry.attempts == 0


@pytest.mark.anyio
async def test_queued_events_survive_closing_and_reopening_the_database(db_path: Path, clock: FakeClock) -> None:
    database = open_database(db_path)
    entries = await queue(Outbox(database, clock=clock), 3)
    database.close()

    database = open_database(db_path)
    try:
        page = await Outbox(database, clock=clock).list(OutboxStatus.pending)
    finally:
        database.close()
    assert sorted(e.delivery_id for e in page.items) == sorted(e.delivery_id for e in entries)


@pytest.mark.anyio
async def test_enqueue_many_stores_all_or_nothing(outbox: Outbox) -> None:
    good = {"event": "a.b", "target": "quote-engine", "url": GOOD_URL}
    with pytest.raises(InvalidInput) as err:
        await outbox.enqueue_many([good, {**good, "url": "ftp://nowhere/x"}])
    assert "url" in err.value.message
    assert (await outbox.stats()).total == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("field", "value"),
    [("event", "Not An Event"), ("target", "Quote Engine"), ("url", "quote-engine.local/hook")],
)
async def test_a_bad_event_name_target_or_url_is_refused(outbox: Outbox, field: str, value: str) -> None:
    item = {"event": "instruction.created", "target": "quote-engine", "url": GOOD_URL, field: value}
    with pytest.raises(InvalidInput) as err:
        await outbox.enqueue(**item)
    assert field in err.value.message


@pytest.mark.anyio
async def test_data_holding_a_secret_is_refused_and_nothing_is_stored(outbox: Outbox, db_path: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    with pytest.raises(SecretLeakRefused) as err:
        await outbox.enqueue("instruction.created", "quote-engine", GOOD_URL, {"note": f"use {token}"})
    assert token not in str(err.value) and "github_token" in str(err.value)
    with pytest.raises(SecretLeakRefused):
        await outbox.enqueue("x.y", "quote-engine", "https://bot:S3cr3tPassw0rdXyz@hooks.example.com/h")
    assert (await outbox.stats()).total == 0
    assert token.encode() not in b"".join(p.read_bytes() for p in db_path.parent.glob("nexus.db*"))


@pytest.mark.anyio
async def test_the_same_delivery_id_queues_once_and_a_different_event_under_it_conflicts(outbox: Outbox) -> None:
    first = await outbox.enqueue("a.b", "quote-engine", GOOD_URL, {"x": 1}, delivery_id="instr-7.quote-engine")
    again = await outbox.enqueue("a.b", "quote-engine", GOOD_URL, {"x": 1}, delivery_id="instr-7.quote-engine")
    assert again.id == first.id and (await outbox.stats()).pending == 1
    with pytest.raises(Conflict):
        await outbox.enqueue("a.b", "quote-engine", GOOD_URL, {"x": 2}, delivery_id="instr-7.quote-engine")


@pytest.mark.anyio
async def test_publish_queues_for_live_subscribed_apps_with_a_webhook_only(outbox: Outbox) -> None:
    def app(slug: str, status: str = "approved", subs: tuple[str, ...] = ("instruction.created",), url: bool = True):
        endpoints = {"webhook_url": f"http://{slug}.local/api/webhooks/nexus"} if url else {}
        return AppRecord(slug=slug, name=slug, status=status, subscribes_to=list(subs), endpoints=endpoints)

    apps = [
        app("quote-engine"),
        app("wildcard", subs=("instruction.*",)),
        app("everything", subs=("*",)),
        app("other-events", subs=("quote.accepted",)),
        app("planned", status="placeholder"),
        app("no-hook", url=False),
    ]
    entries = await outbox.publish("instruction.created", {"id": 7}, apps, key="instruction-7")
    assert sorted(e.target for e in entries) == ["everything", "quote-engine", "wildcard"]
    assert {e.delivery_id for e in entries} >= {"instruction-7.quote-engine"}
    await outbox.publish("instruction.created", {"id": 7}, apps, key="instruction-7")
    assert (await outbox.stats()).pending == 3


@pytest.mark.anyio
async def test_a_claim_leases_rows_so_a_second_claim_gets_others(outbox: Outbox, db_path: Path, clock) -> None:
    await queue(outbox, 10)
    other_db = open_database(db_path)  # a second connection, as a second Nexus process would have
    try:
        other = Outbox(other_db, clock=clock)
        a = await outbox.claim(6, 30, owner="a")
        b = await other.claim(6, 30, owner="b")
        c = await other.claim(6, 30, owner="c")
    finally:
        other_db.close()
    assert len(a) == 6 and len(b) == 4 and c == []
    assert not {e.id for e in a} & {e.id for e in b}
    assert all(e.status is OutboxStatus.in_flight and e.lease_owner == "a" for e in a)


@pytest.mark.anyio
async def test_an_expired_lease_is_claimed_again_and_its_late_failure_is_ignored(outbox: Outbox, clock) -> None:
    (entry,) = await queue(outbox)
    (held,) = await outbox.claim(1, 30, owner="dead-nexus")
    clock.advance(29)
    assert await outbox.claim(1, 30, owner="new-nexus") == []
    clock.advance(2)
    (taken,) = await outbox.claim(1, 30, owner="new-nexus")
    assert taken.id == entry.id and taken.delivery_id == entry.delivery_id
    assert "expired" in (await outbox.get(entry.id)).last_error

    assert await outbox.mark_failed(held, "late", owner="dead-nexus") is OutboxStatus.in_flight  # not its row now
    await outbox.mark_delivered(taken, owner="new-nexus", status_code=200)
    assert (await outbox.get(entry.id)).status is OutboxStatus.delivered


@pytest.mark.anyio
async def test_per_target_limits_bound_what_one_claim_takes(outbox: Outbox) -> None:
    await queue(outbox, 5, target="slow")
    await queue(outbox, 5, target="fast")
    taken = await outbox.claim(10, 30, owner=OWNER, target_limits={"slow": 1}, default_target_limit=3)
    assert sorted(e.target for e in taken) == ["fast"] * 3 + ["slow"]
    none_of_slow = await outbox.claim(10, 30, owner=OWNER, target_limits={"slow": 0})
    assert {e.target for e in none_of_slow} == {"fast"}


@pytest.mark.anyio
async def test_failures_back_off_exponentially_within_the_jitter_bounds(database: Database) -> None:
    clock = FakeClock()
    policy = RetryPolicy(base_s=2, cap_s=30, max_attempts=10)
    outbox = Outbox(database, clock=clock, policy=policy, rng=random.Random(1))
    (entry,) = await queue(outbox)
    delays = []
    for attempt in range(1, 8):
        (claimed,) = await outbox.claim(1, 60, owner=OWNER)
        assert await outbox.mark_failed(claimed, "HTTP 503", owner=OWNER, status_code=503) is OutboxStatus.pending
        stored = await outbox.get(entry.id)
        delay = stored.next_attempt_at.timestamp() - clock.now
        low, high = policy.bounds_s(attempt)
        assert (low, high) == (min(30, 2 * 2 ** (attempt - 1)) * 0.5, min(30, 2 * 2 ** (attempt - 1)) * 1.5)
        assert low <= delay <= high and stored.attempts == attempt
        assert await outbox.claim(1, 60, owner=OWNER) == []  # not due yet
        delays.append(delay)
        clock.advance(delay + 0.001)  # datetimes keep microseconds
    assert len(set(delays)) == len(delays)  # jittered, not in lockstep


@pytest.mark.anyio
async def test_retry_after_is_honoured_up_to_the_cap(outbox: Outbox, clock: FakeClock) -> None:
    (entry,) = await queue(outbox)
    (claimed,) = await outbox.claim(1, 60, owner=OWNER)
    await outbox.mark_failed(claimed, "HTTP 429", owner=OWNER, status_code=429, retry_after_s=120)
    assert (await outbox.get(entry.id)).next_attempt_at.timestamp() - clock.now >= 120


@pytest.mark.anyio
async def test_a_row_is_dead_after_max_attempts_or_at_once_when_permanent(outbox: Outbox, clock) -> None:
    first, second = await queue(outbox, 2)
    for _ in range(outbox.policy.max_attempts):
        claimed = [e for e in await outbox.claim(2, 60, owner=OWNER) if e.id == first.id]
        for e in claimed:
            status = await outbox.mark_failed(e, "ConnectError: connection refused", owner=OWNER)
        clock.advance(outbox.policy.cap_s * 2)
    assert status is OutboxStatus.dead
    dead = await outbox.get(first.id)
    assert dead.attempts == outbox.policy.max_attempts
    assert dead.last_error.startswith(f"gave up after {outbox.policy.max_attempts} attempts")

    (claimed,) = [e for e in await outbox.claim(2, 60, owner=OWNER) if e.id == second.id]
    await outbox.mark_failed(claimed, "HTTP 400: malformed", owner=OWNER, status_code=400, permanent=True)
    assert (await outbox.get(second.id)).status is OutboxStatus.dead
    assert (await outbox.stats()).dead == 2


@pytest.mark.anyio
async def test_replay_requeues_dead_rows_with_the_same_delivery_id(outbox: Outbox) -> None:
    a, b, c = await queue(outbox, 3)
    for e in await outbox.claim(3, 60, owner=OWNER):
        if e.id == c.id:
            await outbox.mark_delivered(e, owner=OWNER)
        else:
            await outbox.mark_failed(e, "HTTP 401: bad_signature", owner=OWNER, permanent=True)

    result = await outbox.replay([a.id, c.id, 999])
    assert result.replayed == [a.id]
    assert set(result.skipped) == {c.id, 999} and "delivered" in result.skipped[c.id]
    assert "1 event queued again" in result.to_text()
    again = await outbox.get(a.id)
    assert (again.status, again.attempts, again.delivery_id) == (OutboxStatus.pending, 0, a.delivery_id)

    everything = await outbox.replay(all_dead=True)
    assert everything.replayed == [b.id]
    with pytest.raises(InvalidInput):
        await outbox.replay()


@pytest.mark.anyio
async def test_list_get_and_stats_read_well_for_the_cli(outbox: Outbox) -> None:
    entries = await queue(outbox, 3)
    (claimed, *_) = await outbox.claim(1, 60, owner=OWNER)
    await outbox.mark_failed(claimed, "HTTP 400: malformed: bad envelope", owner=OWNER, status_code=400, permanent=True)

    page = await outbox.list(limit=2)
    assert [e.id for e in page.items] == [entries[2].id, entries[1].id] and page.total == 3
    text = page.to_text()
    assert "STATUS" in text and "instruction.created" in text and "1-2 of 3" in text
    assert (await outbox.list("dead")).items[0].id == claimed.id
    with pytest.raises(InvalidInput):
        await outbox.list("lost")

    shown = await outbox.get(str(claimed.id))
    assert shown == await outbox.get(claimed.delivery_id)
    assert "HTTP 400" in shown.to_text() and claimed.delivery_id in shown.to_text()
    with pytest.raises(NotFound):
        await outbox.get(12345)

    stats = await outbox.stats()
    assert (stats.pending, stats.dead, stats.total) == (2, 1, 3)
    assert stats.by_target == {"quote-engine": {"pending": 2, "dead": 1}}
    assert "dead       1" in stats.to_text() and "replay" in stats.to_text()


@pytest.mark.anyio
async def test_delivered_rows_older_than_a_while_can_be_purged(outbox: Outbox, clock: FakeClock) -> None:
    await queue(outbox, 2)
    for e in await outbox.claim(1, 60, owner=OWNER):
        await outbox.mark_delivered(e, owner=OWNER)
    clock.advance(100)
    assert await outbox.purge_delivered(older_than_s=50) == 1
    assert (await outbox.stats()).total == 1
