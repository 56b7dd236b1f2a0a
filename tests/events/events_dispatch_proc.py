"""A Nexus-side dispatcher in its own process, for the kill test (not a test module).

    python events_dispatch_proc.py DB_PATH LEASE_S TIMEOUT_S

Opens the database, prints ``started``, delivers until no row is pending or in flight, then
prints the totals and exits 0. The webhook secret comes from the environment
(``SATELLITE_<SLUG>_WEBHOOK_SECRET``), as in Nexus.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from memory.database import Database
from nexus_agent.events import EVENTS_MIGRATIONS, Dispatcher, Outbox, WebhookSecrets


async def main(path: str, lease_s: float, timeout_s: float) -> None:
    database = Database(path)
    database.migrate([EVENTS_MIGRATIONS])
    try:
        async with httpx.AsyncClient() as http:
            dispatcher = Dispatcher(
                Outbox(database),
                WebhookSecrets(os.environ),
                http,
                concurrency=16,
                per_target=16,
                timeout_s=timeout_s,
                lease_s=lease_s,
                idle_s=1.0,
            )
            print("started", flush=True)
            await dispatcher.run(until_empty=True)
            print(dispatcher.totals.to_text(), flush=True)
    finally:
        database.close()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
