"""Two real `nexus serve --http` replicas dispatching one outbox on PostgreSQL; one is killed with SIGKILL.

(The last test: an instruction made through one replica is acknowledged and reported through the other.)

The receiver is a satellite built with the kit, served on 127.0.0.1: it verifies each signature
and timestamp, refuses a delivery id it already processed (409, which the dispatcher counts as
delivered) and records every delivery its handler processed. 1,000 events are queued in the
shared outbox; both replicas lease rows from it (``FOR UPDATE SKIP LOCKED``). Once the receiver
has processed some, handlers are held (so requests of both replicas are in flight), replica A is
killed, and handlers go on. Replica B takes A's rows over when A's leases run out
(``NEXUS_OUTBOX_LEASE_S``) and sends them again; the receiver must end with every event processed
exactly once.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from memory.pg.database import PgDatabase
from nexus_agent.events import Outbox
from nexus_agent.events._pg_store import PgOutboxStore
from nexus_agent.testing.servers import serve_in_thread
from tests.events.events_support import SECRET, make_receiver
from tests.security.nexus_process import OWNER, NexusProcess, base_env

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

EVENTS = 1_000
KILL_AFTER = 300
LEASE_S = 6  # how long a killed replica's leased events wait before another replica sends them again


def _replica(tmp_path: Path, name: str, pg_url: str) -> NexusProcess:
    home = tmp_path / name
    home.mkdir()
    env = base_env(
        home,
        NEXUS_DATABASE_URL=pg_url,
        NEXUS_BACKUP_DIR="off",
        NEXUS_OUTBOX_LEASE_S=str(LEASE_S),
        SATELLITE_RECEIVER_WEBHOOK_SECRET=SECRET,
    )
    return NexusProcess(home, env)


def _register_receiver(replica: NexusProcess, hook_url: str, event: str = "stock.moved") -> None:
    record = {
        "slug": "receiver",
        "name": "Receiver",
        "description": "counts the events it processes",
        "endpoints": {"webhook_url": hook_url},
        "subscribes_to": [event],
    }
    path = replica.home / "receiver.json"
    path.write_text(json.dumps(record))
    done = replica.cli("registry", "register", str(path))
    assert done.returncode == 0, done.stderr


def _leases(database: PgDatabase) -> dict[str, int]:
    """Rows in flight, by the process id in their lease owner (``host:pid:nonce``)."""
    with database.read() as db:
        rows = db.execute(
            "SELECT lease_owner, count(*) FROM outbox WHERE status = 'in_flight' GROUP BY lease_owner"
        ).fetchall()
    return {str(owner).split(":")[1]: int(n) for owner, n in rows if owner}


def _statuses(database: PgDatabase) -> dict[str, int]:
    with database.read() as db:
        return {str(s): int(n) for s, n in db.execute("SELECT status, count(*) FROM outbox GROUP BY status")}


async def _until(check: Any, seconds: float, what: str) -> None:
    with anyio.fail_after(seconds, shield=False):
        while not check():
            await anyio.sleep(0.1)
    assert check(), what


async def test_a_replica_killed_mid_dispatch_loses_nothing_and_each_event_is_processed_once(
    tmp_path: Path, pg_url: str
) -> None:
    receiver = make_receiver(threshold=KILL_AFTER, event="stock.moved")
    with (
        serve_in_thread(receiver.app()) as base_url,
        PgDatabase(pg_url, max_size=2) as database,
    ):
        a, b = _replica(tmp_path, "a", pg_url), _replica(tmp_path, "b", pg_url)
        _register_receiver(a, f"{base_url}/api/webhooks/nexus")
        with a, b:
            assert a.proc is not None and b.proc is not None
            url = f"{base_url}/api/webhooks/nexus"
            items = [
                {"event": "stock.moved", "target": "receiver", "url": url, "data": {"n": i}} for i in range(EVENTS)
            ]
            queued = {e.delivery_id for e in Outbox(database, store_type=PgOutboxStore).store.enqueue_many(items)}
            assert len(queued) == EVENTS
            began = time.monotonic()

            assert await anyio.to_thread.run_sync(receiver.reached.wait, 60), "the receiver processed too little"
            receiver.hold.set()  # handlers from now on wait: both replicas' requests stay in flight
            await _until(lambda: _leases(database).get(str(a.proc.pid), 0) > 0, 10, "replica A leases nothing")
            held = _leases(database)
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(timeout=10)
            receiver.go_on.set()  # held handlers finish, answering a client that is gone
            at_kill = len(receiver.processed)

            assert a.proc.returncode == -signal.SIGKILL
            assert held.get(str(a.proc.pid), 0) > 0, f"replica A held no leases when killed: {held}"
            assert KILL_AFTER <= at_kill < EVENTS
            await _until(lambda: _statuses(database) == {"delivered": EVENTS}, 120, "B did not finish the outbox")
            elapsed = time.monotonic() - began
            assert b.proc.poll() is None  # B kept serving throughout

    assert len(receiver.processed) == EVENTS  # handler runs: no event processed twice ...
    assert set(receiver.processed) == queued  # ... and none lost
    print(
        f"\n{EVENTS} events, replica A killed holding {held.get(str(a.proc.pid))} leases "
        f"(B held {held.get(str(b.proc.pid), 0)}): all delivered by B in {elapsed:.1f} s"
    )


async def _status(replica: NexusProcess, instruction_id: str) -> str:
    failed, text, got = await replica.call(OWNER, "instruction_get", {"id": instruction_id})
    assert not failed, text
    return str(got["status"])


async def test_an_instruction_made_on_one_replica_is_acknowledged_and_reported_through_the_other(
    tmp_path: Path, pg_url: str
) -> None:
    receiver = make_receiver(event="instruction.created")
    with serve_in_thread(receiver.app()) as base_url:
        a, b = _replica(tmp_path, "a", pg_url), _replica(tmp_path, "b", pg_url)
        _register_receiver(a, f"{base_url}/api/webhooks/nexus", "instruction.created")
        with a, b:
            args = {"targets": ["receiver"], "action": "recount-stock", "description": "bay 4, aluminium bars"}
            failed, text, made = await a.call(OWNER, "instruction_create", args)
            assert not failed, text
            (created,) = made["instructions"]
            with anyio.fail_after(60):  # a dispatcher of either replica sends the notice; the kit acknowledges it
                while await _status(b, created["id"]) != "acknowledged":
                    await anyio.sleep(0.2)
            assert receiver.processed == [created["id"]]
            report = {"id": created["id"], "status": "completed", "result_summary": "recounted: 412 bars"}
            failed, text, _ = await b.call(OWNER, "instruction_report", report)
            assert not failed, text
            assert await _status(a, created["id"]) == "completed"
            failed, text, listed = await a.call(OWNER, "instruction_list", {"target": "receiver"})
            assert not failed and [i["status"] for i in listed["items"]] == ["completed"], text
