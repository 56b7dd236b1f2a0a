"""Concurrent writes share commits, yet each one is validated, isolated and durable on return."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from memory.database import Database
from memory.store import MIGRATIONS, SqliteMemoryStore
from nexus_agent.wire.errors import NexusError

pytestmark = pytest.mark.anyio


async def test_concurrent_writers_all_land_and_a_failing_write_fails_alone(tmp_path: Path) -> None:
    database = Database(tmp_path / "m.db")
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)
    ids: list[int] = []
    failures: list[str] = []

    async def write(i: int) -> None:
        if i % 10 == 7:  # supersedes a decision that does not exist: refused, and only this write
            try:
                await store.log_decision({"decision": f"d{i}", "decided_by": "owner", "supersedes": 999_999})
            except NexusError as exc:
                failures.append(exc.code)
            return
        ids.append((await store.add_note({"text": f"glazing note {i}", "author": "owner"})).id)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(write, i)
    assert len(ids) == 180 and len(set(ids)) == 180
    assert failures == ["not_found"] * 20
    assert (await store.stats())["decisions"] == 0
    database.close()

    reopened = Database(tmp_path / "m.db")
    reopened.migrate([MIGRATIONS])
    again = SqliteMemoryStore(reopened)
    assert (await again.stats())["notes"] == 180
    hits = await again.search({"query": "glazing note", "limit": 100})
    assert len(hits.hits) == 100
    reopened.close()
