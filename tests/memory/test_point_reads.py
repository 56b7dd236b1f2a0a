"""Point reads (``Database.run_point``): on the event loop when the database is free, never waiting on it."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from memory.database import Database

pytestmark = pytest.mark.anyio


def _which_thread(db: Database) -> tuple[str, int]:
    with db.read() as conn:
        (value,) = conn.execute("SELECT 41 + 1").fetchone()
    return threading.current_thread().name, value


async def test_a_point_read_runs_on_the_loop_when_the_database_is_free(tmp_path: Path) -> None:
    with Database(tmp_path / "n.db") as db:
        thread, value = await db.run_point(_which_thread, db)
    assert (thread, value) == (threading.current_thread().name, 42)


async def test_a_point_read_never_waits_on_the_loop_for_a_write_in_progress(tmp_path: Path) -> None:
    with Database(tmp_path / "n.db") as db:
        holding, release = threading.Event(), threading.Event()

        def long_write() -> None:
            with db.write():
                holding.set()
                release.wait(10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, long_write)
            with anyio.fail_after(10):
                await anyio.to_thread.run_sync(holding.wait)
                reader = anyio.Event()
                answer: list[tuple[str, int]] = []

                async def read() -> None:
                    answer.append(await db.run_point(_which_thread, db))
                    reader.set()

                tg.start_soon(read)
                await anyio.wait_all_tasks_blocked()  # the loop is free: the read waits in a worker thread
                assert not reader.is_set()
                release.set()
                await reader.wait()
    ((thread, value),) = answer
    assert value == 42 and thread != threading.current_thread().name
