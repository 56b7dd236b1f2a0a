"""The dispatcher: signed sends, what each answer means, isolation between targets, leases, no leaked secrets."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import anyio
import httpx
import pytest
from events_support import GOOD_URL, SECRET, FakeClock, Targets, make_dispatcher, open_database

from memory.database import Database
from nexus_agent.events import Outbox, OutboxStatus, WebhookSecrets, dispatching
from nexus_agent.wire.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_body


def url(host: str) -> str:
    return f"http://{host}/api/webhooks/nexus"


async def queue(outbox: Outbox, host: str, n: int = 1, *, target: str | None = None) -> list:
    target = target or host.split(".")[0]
    items = [{"event": "instruction.created", "target": target, "url": url(host), "data": {"n": i}} for i in range(n)]
    return await outbox.enqueue_many(items)


@pytest.mark.anyio
async def test_an_event_is_sent_signed_and_the_kit_rules_accept_it(outbox, http, targets, clock) -> None:
    entry = await outbox.enqueue("instruction.created", "good", GOOD_URL, {"instruction_id": 7})
    report = await make_dispatcher(outbox, http, clock).dispatch_once()

    assert (report.sent, report.delivered) == (1, 1)
    ((_, envelope, headers),) = targets.received
    assert (envelope.delivery_id, envelope.event, envelope.data) == (
        entry.delivery_id,
        "instruction.created",
        entry.data,
    )
    assert headers[DELIVERY_HEADER.lower()] == entry.delivery_id and headers[EVENT_HEADER.lower()] == entry.event
    assert headers[TIMESTAMP_HEADER.lower()] == str(int(clock.now))
    assert headers[SIGNATURE_HEADER.lower()] == sign_body(envelope.model_dump_json().encode(), SECRET)
    stored = await outbox.get(entry.id)
    assert (stored.status, stored.attempts, stored.last_status) == (OutboxStatus.delivered, 1, 200)


@pytest.mark.anyio
async def test_a_resend_of_a_processed_delivery_gets_409_and_counts_as_delivered(
    outbox, http, targets, clock, database: Database
) -> None:
    (entry,) = await queue(outbox, "good.test")
    dispatcher = make_dispatcher(outbox, http, clock)
    await dispatcher.dispatch_once()
    with database.write() as db:  # as if Nexus died after the receiver processed it but before recording it
        db.execute("UPDATE outbox SET status = 'pending' WHERE id = ?", [entry.id])

    report = await dispatcher.dispatch_once()
    assert report.delivered == 1
    stored = await outbox.get(entry.id)
    assert (stored.status, stored.last_status) == (OutboxStatus.delivered, 409)
    assert targets.processed_by("good.test") == [entry.delivery_id]  # processed once


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "expected"),
    [(400, "HTTP 400: scripted: scripted 400"), (404, "HTTP 404"), (302, "update the app's webhook_url")],
)
async def test_an_answer_that_cannot_improve_kills_the_row_at_once_with_the_reason(
    outbox, http, targets, clock, answer, expected
) -> None:
    targets.behaviour["wrong.test"] = answer
    (entry,) = await queue(outbox, "wrong.test")
    report = await make_dispatcher(outbox, http, clock).dispatch_once()
    stored = await outbox.get(entry.id)
    assert report.dead == 1 and stored.status is OutboxStatus.dead and stored.attempts == 1
    assert stored.last_error.startswith("permanent failure: ") and expected in stored.last_error


@pytest.mark.anyio
@pytest.mark.parametrize("trouble", [503, 500, 408, "timeout", "down", "flood"])
async def test_a_temporary_failure_is_retried_later_with_the_same_delivery_id_and_a_fresh_timestamp(
    outbox, http, targets, clock, trouble
) -> None:
    targets.behaviour["flaky.test"] = trouble
    (entry,) = await queue(outbox, "flaky.test")
    dispatcher = make_dispatcher(outbox, http, clock)
    report = await dispatcher.dispatch_once()
    stored = await outbox.get(entry.id)
    assert report.retrying == 1 and stored.status is OutboxStatus.pending and stored.attempts == 1
    assert stored.next_attempt_at.timestamp() > clock.now and len(stored.last_error) <= 500
    assert (await dispatcher.dispatch_once()).sent == 0  # not due yet

    targets.behaviour["flaky.test"] = 200
    clock.advance(outbox.policy.cap_s * 2)
    assert (await dispatcher.dispatch_once()).delivered == 1
    sent = [env for host, env, _ in targets.received if host == "flaky.test"]
    assert {env.delivery_id for env in sent} == {entry.delivery_id}
    assert sent[-1].timestamp == int(clock.now)  # signed when sent, so a late retry is not stale


@pytest.mark.anyio
async def test_429_waits_at_least_as_long_as_retry_after_says(outbox, http, targets, clock) -> None:
    targets.behaviour["busy.test"] = 429
    (entry,) = await queue(outbox, "busy.test")
    await make_dispatcher(outbox, http, clock).dispatch_once()
    stored = await outbox.get(entry.id)
    assert stored.status is OutboxStatus.pending and stored.next_attempt_at.timestamp() - clock.now >= 120


@pytest.mark.anyio
async def test_without_a_webhook_secret_nothing_is_sent_and_the_row_says_which_variable_to_set(
    outbox, http, targets, clock
) -> None:
    (entry,) = await queue(outbox, "quote-engine.test")
    dispatcher = make_dispatcher(outbox, http, clock, secrets=WebhookSecrets({}))
    report = await dispatcher.dispatch_once()
    assert (report.sent, report.not_sent) == (0, 1) and targets.received == []
    stored = await outbox.get(entry.id)
    assert stored.status is OutboxStatus.pending and stored.attempts == 1
    assert "SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET" in stored.last_error and stored.last_error.startswith("not sent")

    dispatcher = make_dispatcher(outbox, http, clock, secrets=lambda target: None)
    clock.advance(3600)
    await dispatcher.dispatch_once()
    assert "no webhook secret" in (await outbox.get(entry.id)).last_error


@pytest.mark.anyio
async def test_a_down_and_a_hanging_target_do_not_hold_up_a_good_one(outbox, http, targets, clock) -> None:
    targets.behaviour.update({"hang.test": "hang", "down.test": "down"})
    await queue(outbox, "hang.test", 10)  # queued first, so claimed first
    await queue(outbox, "down.test", 10)
    good = await queue(outbox, "good.test", 10)
    all_good = targets.when_processed("good.test", 10)
    dispatcher = make_dispatcher(outbox, http, clock, concurrency=6, per_target=2, timeout_s=30, lease_s=60)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(dispatcher.run)
            await all_good.wait()
            assert targets.hanging == 2  # the hanging target holds at most per_target slots
            tg.cancel_scope.cancel()

    assert sorted(targets.processed_by("good.test")) == sorted(e.delivery_id for e in good)
    page = await outbox.list(target="hang", limit=100)
    assert {e.status for e in page.items} == {OutboxStatus.pending}  # its leases were given back on shutdown
    assert all(e.attempts <= 1 for e in (await outbox.list(target="down", limit=100)).items)


@pytest.mark.anyio
async def test_a_target_failing_again_and_again_is_paused_without_spending_attempts(outbox, http, targets, clock):
    targets.behaviour["down.test"] = "down"
    await queue(outbox, "down.test", 10)
    dispatcher = make_dispatcher(
        outbox, http, clock, concurrency=1, per_target=1, circuit_failures=3, circuit_cooldown_s=60
    )
    for _ in range(3):
        assert (await dispatcher.dispatch_once()).retrying == 1
    assert set(dispatcher.open_circuits()) == {"down"}
    clock.advance(30)  # past the rows' backoff, within the cooldown
    assert (await dispatcher.dispatch_once()).sent == 0
    assert (await outbox.stats()).by_target["down"] == {"pending": 10}
    assert sum(e.attempts for e in (await outbox.list(target="down")).items) == 3

    targets.behaviour["down.test"] = 200
    clock.advance(31)  # cooldown over: one probe, and it succeeds
    assert (await dispatcher.dispatch_once()).delivered == 1
    assert dispatcher.open_circuits() == {}
    report = await dispatcher.drain()
    assert report.delivered == 9 and (await outbox.stats()).delivered == 10


@pytest.mark.anyio
async def test_run_wakes_up_when_an_event_is_queued_instead_of_polling(outbox, http, targets, clock) -> None:
    dispatcher = make_dispatcher(outbox, http, clock, idle_s=60)
    delivered = targets.when_processed("good.test", 1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(dispatcher.run)
            await queue(outbox, "good.test")
            await delivered.wait()
            tg.cancel_scope.cancel()
    assert dispatcher.totals.delivered == 1


@pytest.mark.anyio
async def test_two_dispatchers_on_one_database_never_send_a_row_twice(
    outbox, http, targets, clock, db_path: Path
) -> None:
    entries = await queue(outbox, "good.test", 300)
    other_db = open_database(db_path)
    try:
        first = make_dispatcher(outbox, http, clock, concurrency=8, idle_s=0.05)
        second = make_dispatcher(Outbox(other_db, clock=clock), http, clock, concurrency=8, idle_s=0.05)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(first.run, until_empty=True))
                tg.start_soon(functools.partial(second.run, until_empty=True))
    finally:
        other_db.close()
    assert len(targets.received) == 300  # no resend, not even one answered 409
    assert sorted(targets.processed_by("good.test")) == sorted(e.delivery_id for e in entries)
    assert first.totals.delivered > 0 and second.totals.delivered > 0
    assert first.totals.delivered + second.totals.delivered == 300


@pytest.mark.anyio
async def test_the_webhook_secret_is_never_stored_logged_or_put_in_an_error(
    outbox, http, targets, clock, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    targets.behaviour.update({"echo.test": "echo", "down.test": "down", "wrong.test": 401})
    for host in ("good.test", "echo.test", "down.test", "wrong.test"):
        await queue(outbox, host, 3)
    dispatcher = make_dispatcher(outbox, http, clock)
    await dispatcher.drain()
    await make_dispatcher(outbox, http, clock, secrets=WebhookSecrets({"X": SECRET})).drain()

    echoed = await outbox.list(target="echo")
    assert all(e.status is OutboxStatus.dead and "[REDACTED" in e.last_error for e in echoed.items)
    texts = [caplog.text, *(e.model_dump_json() for e in (await outbox.list(limit=100)).items)]
    texts.append((await outbox.stats()).to_text())
    assert not any(SECRET in text for text in texts)
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob("nexus.db*"))
    assert SECRET.encode() not in stored


@pytest.mark.anyio
async def test_the_lease_must_outlast_the_request_timeout(outbox, http, clock) -> None:
    with pytest.raises(ValueError, match="lease_s"):
        make_dispatcher(outbox, http, clock, timeout_s=30, lease_s=30)


@pytest.mark.anyio
async def test_a_bad_url_scheme_at_send_time_is_permanent(outbox, clock, database: Database) -> None:
    (entry,) = await queue(outbox, "good.test")
    with database.write() as db:
        db.execute("UPDATE outbox SET url = 'gopher://good.test/x' WHERE id = ?", [entry.id])
    async with httpx.AsyncClient() as client:
        await make_dispatcher(outbox, client, clock).dispatch_once()
    assert (await outbox.get(entry.id)).status is OutboxStatus.dead


def test_the_fake_clock_is_what_signs(clock: FakeClock, targets: Targets) -> None:
    assert targets.clock is clock


@pytest.mark.anyio
async def test_dispatching_runs_the_dispatcher_for_a_block_and_gives_rows_back_on_exit(
    outbox, http, targets, clock
) -> None:
    targets.behaviour["hang.test"] = "hang"
    delivered = targets.when_processed("good.test", 1)
    with anyio.fail_after(5):
        async with dispatching(outbox, lambda target: SECRET, http=http, clock=clock, timeout_s=30, lease_s=60) as d:
            await queue(outbox, "hang.test")
            await queue(outbox, "good.test")
            await delivered.wait()
            assert d.in_flight == 1  # the hanging one
    assert (await outbox.stats()).model_dump(include={"pending", "in_flight", "delivered"}) == {
        "pending": 1, "in_flight": 0, "delivered": 1,
    }  # fmt: skip
