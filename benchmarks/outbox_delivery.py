"""Outbox delivery rate: events/s from the Nexus database to a kit satellite over loopback.

    PYTHONPATH=. python benchmarks/outbox_delivery.py                  # 2,000 events, sync=full and normal
    PYTHONPATH=. python benchmarks/outbox_delivery.py --count 5000 --concurrency 8 32 --rounds 5
    PYTHONPATH=. python benchmarks/outbox_delivery.py --pg             # PostgreSQL: one vs two replicas

The receiver is a satellite built with ``satellite_template`` in its own uvicorn process
on 127.0.0.1: it verifies every signature, timestamp and delivery id and runs a handler
that counts deliveries. Nexus's side runs here: the events are queued first (one
transaction), then a :class:`Dispatcher` delivers until the outbox is empty; the time
from its start to the last recorded outcome is what is measured. Each run checks that
the outbox shows every event delivered and the receiver processed each delivery id once.
A baseline line gives the same number of signed POSTs sent straight from httpx, with no
outbox, at the same concurrency: the ceiling of this machine, client and receiver.

``--pg`` measures the outbox replicas share on PostgreSQL (``NEXUS_DATABASE_URL``; a
throwaway cluster unless ``--pg-url`` names a server that may CREATE DATABASE): the events
are queued in a fresh database, then one or two dispatcher processes (each a replica's
dispatcher, with its own connection pool and the replicas' lease claim, ``FOR UPDATE SKIP
LOCKED``) start together and deliver until the outbox is empty. Measured: from the start
signal to the last dispatcher's last recorded outcome. Everything (PostgreSQL, the
receiver, the dispatchers) shares this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.database import Database
from nexus_agent.events import EVENTS_MIGRATIONS, Dispatcher, Outbox
from nexus_agent.wire.signing import WebhookEnvelope, build_signed_request

SECRET = "benchmark-webhook-secret-0123456789"
EVENT = "bench.event"


# -- the receiver (run with --serve) ------------------------------------------------------------
def serve_receiver(port: int) -> None:
    import uvicorn

    from nexus_agent.wire.signing import InMemoryReplayGuard
    from satellite_template import Satellite, SatelliteSettings

    sat = Satellite("bench-receiver", "Bench Receiver", subscribes_to=[EVENT])
    seen: list[str] = []

    @sat.on_event(EVENT)
    async def handle(envelope: WebhookEnvelope) -> None:
        seen.append(envelope.delivery_id)

    kit = sat.create_app(SatelliteSettings(webhook_secret=SECRET), replay_guard=InMemoryReplayGuard(1_000_000))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/count":
            body = json.dumps({"processed": len(seen), "distinct": len(set(seen))}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await kit(scope, receive, send)

    logging.getLogger("satellite_template").setLevel(logging.WARNING)  # no line per delivery
    print("READY", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")


# -- Nexus's side -------------------------------------------------------------------------------
async def deliver(folder: Path, base_url: str, count: int, sync: Literal["full", "normal"], concurrency: int) -> dict:
    database = Database(folder / f"outbox-{sync}-{concurrency}.db", sync=sync)
    database.migrate([EVENTS_MIGRATIONS])
    outbox = Outbox(database)
    url = f"{base_url}/api/webhooks/nexus"
    items = [{"event": EVENT, "target": "bench-receiver", "url": url, "data": {"n": i}} for i in range(count)]
    began = time.perf_counter()
    await outbox.enqueue_many(items)
    queued_s = time.perf_counter() - began
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as http:
        dispatcher = Dispatcher(
            outbox, lambda target: SECRET, http, concurrency=concurrency, per_target=concurrency, idle_s=1.0
        )
        began = time.perf_counter()
        await dispatcher.run(until_empty=True)
        elapsed = time.perf_counter() - began
    stats = await outbox.stats()
    database.close()
    if stats.delivered != count:
        raise SystemExit(f"expected {count} delivered, the outbox says {stats.to_text()}")
    return {"rate": count / elapsed, "elapsed": elapsed, "queued_rate": count / queued_s}


async def baseline(base_url: str, count: int, concurrency: int) -> float:
    """Signed POSTs straight from httpx, no outbox: the ceiling the outbox is measured against."""
    url = f"{base_url}/api/webhooks/nexus"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = anyio.Semaphore(concurrency)

    async def send(http: httpx.AsyncClient, i: int) -> None:
        async with slots:
            body, headers = build_signed_request(WebhookEnvelope.new(EVENT, {"n": i}, now=time.time()), SECRET)
            response = await http.post(url, content=body, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"baseline delivery answered {response.status_code}: {response.text[:200]}")

    async with httpx.AsyncClient(limits=limits) as http:
        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(send, http, i)
        return count / (time.perf_counter() - began)


async def run_sqlite(args: argparse.Namespace, base_url: str) -> int:
    """sync=full and sync=normal, ``args.rounds`` times each; returns how many events were sent."""
    total = 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for concurrency in args.concurrency:
            for sync in ("full", "normal"):
                runs = []
                for round_ in range(args.rounds):
                    folder = Path(tmp) / f"{sync}-{concurrency}-{round_}"
                    folder.mkdir()
                    runs.append(await deliver(folder, base_url, args.count, sync, concurrency))
                    total += args.count
                rate = statistics.median(r["rate"] for r in runs)
                each = ", ".join(f"{r['rate']:,.0f}" for r in runs)
                queued = statistics.median(r["queued_rate"] for r in runs)
                print(
                    f"sync={sync:<6} concurrency={concurrency:<3} {args.count:,} events: median of {args.rounds} "
                    f"{rate:,.0f} events/s delivered (runs: {each}); "
                    f"queued at {queued:,.0f} events/s"
                )
    return total


# -- PostgreSQL: one vs two replicas' dispatchers (--pg) --------------------------------------------
def dispatch_replica(url: str, concurrency: int) -> None:
    """One replica's dispatcher (run with --dispatch): READY, wait for a line on stdin, deliver, print the time."""
    from memory.pg.database import PgDatabase
    from nexus_agent.events._pg_store import PgOutboxStore

    async def main() -> None:
        with PgDatabase(url, max_size=4) as database:
            outbox = Outbox(database, store_type=PgOutboxStore)
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(limits=limits) as http:
                dispatcher = Dispatcher(
                    outbox, lambda target: SECRET, http, concurrency=concurrency, per_target=concurrency, idle_s=0.2
                )
                print("READY", flush=True)
                await anyio.to_thread.run_sync(sys.stdin.readline)
                await dispatcher.run(until_empty=True)
                print(json.dumps({"done_at": time.time(), "delivered": dispatcher.totals.delivered}), flush=True)

    anyio.run(main)


async def deliver_pg(server: str, name: str, base_url: str, count: int, replicas: int, concurrency: int) -> dict:
    from memory.pg.database import PgDatabase
    from nexus_agent.events._pg_store import EVENTS_PG_MIGRATIONS, PgOutboxStore
    from nexus_agent.testing.postgres import create_database, drop_database

    url = create_database(server, name)
    try:
        with PgDatabase(url) as database:
            database.migrate([EVENTS_PG_MIGRATIONS])
            outbox = Outbox(database, store_type=PgOutboxStore)
            target = f"{base_url}/api/webhooks/nexus"
            await outbox.enqueue_many(
                [{"event": EVENT, "target": "bench-receiver", "url": target, "data": {"n": i}} for i in range(count)]
            )
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "--dispatch", url, "--concurrency", str(concurrency)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(replicas)
            ]
            for proc in procs:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            began = time.time()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1]) for proc in procs]
            stats = await outbox.stats()
        if stats.delivered != count:
            raise SystemExit(f"expected {count} delivered, the outbox says {stats.to_text()}")
        elapsed = max(r["done_at"] for r in results) - began
        return {"rate": count / elapsed, "elapsed": elapsed, "shares": [r["delivered"] for r in results]}
    finally:
        drop_database(server, name)


async def run_pg(args: argparse.Namespace, base_url: str) -> int:
    """One and two replicas, ``args.rounds`` times each, alternating; returns how many events were sent."""
    from nexus_agent.testing.postgres import ThrowawayCluster

    cluster = None if args.pg_url else ThrowawayCluster.start()
    server = args.pg_url or cluster.url  # type: ignore[union-attr]
    total, medians = 0, {}
    try:
        for concurrency in args.concurrency:
            runs: dict[int, list[dict]] = {1: [], 2: []}
            for round_ in range(args.rounds):
                for replicas in (1, 2):
                    name = f"bench_outbox_{replicas}_{concurrency}_{round_}"
                    runs[replicas].append(await deliver_pg(server, name, base_url, args.count, replicas, concurrency))
                    total += args.count
            for replicas, done in runs.items():
                medians[replicas] = statistics.median(r["rate"] for r in done)
                each = ", ".join(f"{r['rate']:,.0f} (split {'/'.join(map(str, r['shares']))})" for r in done)
                print(
                    f"postgresql replicas={replicas} concurrency={concurrency:<3} {args.count:,} events: median of "
                    f"{args.rounds} {medians[replicas]:,.0f} events/s delivered (runs: {each})"
                )
            print(f"postgresql concurrency={concurrency}: two replicas / one = {medians[2] / medians[1]:.2f}x")
    finally:
        if cluster is not None:
            cluster.stop()
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "READY"
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as probe:
            for _ in range(200):  # uvicorn binds just after READY
                try:
                    await probe.get(f"{base_url}/count")
                    break
                except httpx.TransportError:
                    await anyio.sleep(0.05)
        total = 0
        for concurrency in args.concurrency:
            ceiling = statistics.median([await baseline(base_url, args.count, concurrency) for _ in range(args.rounds)])
            total += args.count * args.rounds
            print(f"baseline    concurrency={concurrency:<3} signed POSTs without the outbox: {ceiling:,.0f} req/s")
        total += await run_pg(args, base_url) if args.pg else await run_sqlite(args, base_url)
        async with httpx.AsyncClient() as probe:
            counts = (await probe.get(f"{base_url}/count")).json()
        if counts != {"processed": total, "distinct": total}:
            raise SystemExit(f"the receiver processed {counts}, expected {total} distinct deliveries once each")
        print(f"receiver: {counts['processed']:,} deliveries processed, each delivery id once")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16], help="one run set per value")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="folder for the temporary databases (default: system temp)")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL: one vs two replicas' dispatchers")
    parser.add_argument("--pg-url", help="a PostgreSQL server to create databases on (default: a throwaway cluster)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--dispatch", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pg_url:
        args.pg = True
    if args.serve:
        serve_receiver(args.serve)
    elif args.dispatch:
        dispatch_replica(args.dispatch, args.concurrency[0])
    else:
        anyio.run(run, args)


if __name__ == "__main__":
    main()
