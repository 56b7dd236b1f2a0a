"""The issue's done-when: Nexus killed during a dispatch of 1,000 events loses nothing and duplicates nothing.

A real receiver (a satellite built with the kit, served by uvicorn on 127.0.0.1, verifying
signatures, timestamps and replayed delivery ids) counts every delivery its handler
processes. A dispatcher runs in its own process on a database holding 1,000 queued events.
Once the receiver has processed some of them, further handlers are held (so requests are in
flight, some processed but not yet answered) and the dispatcher is SIGKILLed. A new
dispatcher process then finishes the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from events_support import SECRET, Receiver, make_receiver, open_database

from memory.database import Database
from nexus_agent.events import Outbox, OutboxStatus, default_secret_env
from nexus_agent.testing.servers import serve_in_thread

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
EVENTS = 1_000
KILL_AFTER = 300
LEASE_S, TIMEOUT_S = 3.0, 1.5


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start_dispatcher(procs: list[subprocess.Popen[str]], db_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, default_secret_env("receiver"): SECRET}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "events_dispatch_proc.py"), str(db_path), str(LEASE_S), str(TIMEOUT_S)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    return proc


def statuses(database: Database) -> dict[str, int]:
    with database.read() as db:
        return dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())


def test_a_dispatcher_killed_mid_dispatch_resumes_and_each_delivery_is_processed_once(
    db_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    receiver: Receiver = make_receiver(threshold=KILL_AFTER)
    database = open_database(db_path)
    try:
        with serve_in_thread(receiver.app()) as base_url:
            url = f"{base_url}/api/webhooks/nexus"
            items = [
                {"event": "outbox.test", "target": "receiver", "url": url, "data": {"n": i}} for i in range(EVENTS)
            ]
            queued = {e.delivery_id for e in Outbox(database).store.enqueue_many(items)}
            assert len(queued) == EVENTS

            began = time.monotonic()
            first = start_dispatcher(procs, db_path)
            assert receiver.reached.wait(timeout=15), "the receiver processed nothing in 15 s"
            receiver.hold.set()  # handlers from now on wait: requests stay in flight
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert first.returncode == -signal.SIGKILL
            processed_at_kill = len(receiver.processed)
            at_kill = statuses(database)
            receiver.go_on.set()  # held handlers finish, answering a client that is gone

            assert KILL_AFTER <= processed_at_kill < EVENTS
            assert at_kill.get("delivered", 0) < EVENTS
            assert at_kill.get("in_flight", 0) > 0  # it died holding leases

            second = start_dispatcher(procs, db_path)
            out, _ = second.communicate(timeout=25)
            assert second.returncode == 0, out
            elapsed = time.monotonic() - began
    finally:
        final = statuses(database)
        database.close()

    assert final == {OutboxStatus.delivered.value: EVENTS}  # nothing pending, in flight or dead
    assert len(receiver.processed) == EVENTS  # handler invocations
    assert set(receiver.processed) == queued  # each delivery id exactly once
    print(f"\n{EVENTS} events across a SIGKILL and a restart in {elapsed:.1f} s: {EVENTS / elapsed:.0f} events/s")
