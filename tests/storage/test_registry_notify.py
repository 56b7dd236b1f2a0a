"""LISTEN/NOTIFY: a registry write on one replica reaches the others at once."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from memory.pg.database import PgDatabase
from nexus_agent.registry_pg import PgRegistry
from nexus_agent.services_pg import follow_registry
from nexus_agent.wire.models import AppRecord

pytestmark = pytest.mark.anyio


async def test_a_registration_on_one_replica_is_announced_to_another(pg_database: Any, pg_url: str) -> None:
    heard: list[str] = []
    got_two = anyio.Event()
    listening = anyio.Event()

    async def on_change(slug: str) -> None:
        heard.append(slug)
        if len(heard) == 2:
            got_two.set()

    other_replica = PgDatabase(pg_url)  # its own pool, as another process has
    try:
        registry = PgRegistry(other_replica)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: follow_registry(pg_url, on_change, ready=listening.set))
            with anyio.fail_after(10):
                await listening.wait()
            await registry.register(AppRecord.model_validate({"slug": "glass-racks", "name": "Glass Racks"}), "owner")
            await registry.set_status("glass-racks", "approved", "owner", "reviewed")
            with anyio.fail_after(10):
                await got_two.wait()
            tg.cancel_scope.cancel()
    finally:
        other_replica.close()
    assert heard == ["glass-racks", "glass-racks"]


async def test_a_failed_write_announces_nothing(pg_database: Any, pg_url: str) -> None:
    heard: list[str] = []
    listening, got_one = anyio.Event(), anyio.Event()

    async def on_change(slug: str) -> None:
        heard.append(slug)
        got_one.set()

    registry = PgRegistry(pg_database)
    await registry.register(AppRecord.model_validate({"slug": "glass-racks", "name": "Glass Racks"}), "owner")
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: follow_registry(pg_url, on_change, ready=listening.set))
        with anyio.fail_after(10):
            await listening.wait()
        with pytest.raises(Exception, match="cannot move"):
            await registry.set_status("glass-racks", "degraded", "owner", "not allowed from placeholder")
        await registry.register(AppRecord.model_validate({"slug": "sill-cutter", "name": "Sill Cutter"}), "owner")
        with anyio.fail_after(10):
            await got_one.wait()
        tg.cancel_scope.cancel()
    assert heard == ["sill-cutter"]  # the refused move sent nothing; the next write is heard
