"""LISTEN/NOTIFY for the outbox: an event queued on one replica wakes another replica's dispatcher at once."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from memory.pg.database import PgDatabase
from nexus_agent.events import Dispatcher, Outbox
from nexus_agent.events._pg_store import PgOutboxStore
from nexus_agent.services_pg import follow_registry

pytestmark = pytest.mark.anyio

SECRET = "outbox-wake-test-secret-0123456789"


async def _ignore(slug: str) -> None:
    return None


async def test_an_event_queued_on_another_replica_is_sent_without_waiting_for_the_poll(
    pg_database: Any, pg_url: str
) -> None:
    sent = anyio.Event()

    def receive(request: httpx.Request) -> httpx.Response:
        sent.set()
        return httpx.Response(200)

    here = Outbox(pg_database, store_type=PgOutboxStore)
    listening = anyio.Event()
    with PgDatabase(pg_url, max_size=2) as elsewhere:  # another replica's pool and outbox
        there = Outbox(elsewhere, store_type=PgOutboxStore)
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(receive)) as http,
            anyio.create_task_group() as tg,
        ):
            dispatcher = Dispatcher(here, lambda target: SECRET, http, idle_s=600)  # it would poll in 10 minutes
            await tg.start(dispatcher.run)
            tg.start_soon(lambda: follow_registry(pg_url, _ignore, ready=listening.set, on_outbox=here.wake))
            with anyio.fail_after(10):
                await listening.wait()
            await there.enqueue("stock.low", "stock-ledger", "https://stock-ledger.example.test/hook", {"sku": "A1"})
            with anyio.fail_after(10):  # far sooner than the dispatcher's next poll
                await sent.wait()
            tg.cancel_scope.cancel()
    assert (await here.stats()).delivered == 1
