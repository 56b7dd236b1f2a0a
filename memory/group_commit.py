"""Group commit: one writer thread that commits many concurrent writes with one fsync.

Each write still runs in its own SAVEPOINT (a failing write rolls back alone) and its
caller is answered only after the shared COMMIT, so "returned success" still means
"on disk". With one caller at a time it behaves like a plain transaction per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memory.database import Database

__all__ = ["GroupCommitWriter"]

#: Most writes one commit carries; bounds how long the first caller of a batch waits.
MAX_BATCH = 64


@dataclass
class _Job:
    fn: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


_STOP = object()


class GroupCommitWriter:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self.active = threading.local()
        self._thread = threading.Thread(target=self._serve, name=f"nexus-writer-{database.path.name}", daemon=True)
        self._thread.start()

    def in_group(self) -> bool:
        return bool(getattr(self.active, "flag", False))

    async def submit(self, fn: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(fn, loop, future))
        # The write happens whatever the caller does now; wait for its answer even if cancelled.
        return await asyncio.shield(future)

    def stop(self) -> None:
        self._queue.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._thread.join(10)

    # -- the writer thread ---------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)  # type: ignore[arg-type]
            self._run_batch(batch)
            if stop_after:
                return

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        db = self._db
        with db.lock:
            try:
                db.begin_immediate()
            except BaseException as exc:
                for job in batch:
                    _answer(job, None, exc)
                return
            self.active.flag = True
            try:
                for index, job in enumerate(batch):
                    if not db.conn.in_transaction:
                        # An earlier write's error ended the whole transaction (e.g. disk full): none
                        # of this batch is durable, so every caller gets an error.
                        aborted = RuntimeError("the batch's transaction was aborted by an earlier write's error")
                        for rest in batch[index:]:
                            outcomes.append((rest, None, aborted))
                        for done, _, _ in outcomes:
                            _answer(done, None, outcomes[0][2] or aborted)
                        return
                    db.conn.execute("SAVEPOINT nexus_write")
                    try:
                        result = job.fn()
                    except BaseException as exc:
                        if db.conn.in_transaction:
                            db.conn.execute("ROLLBACK TO nexus_write")
                            db.conn.execute("RELEASE nexus_write")
                        outcomes.append((job, None, exc))
                    else:
                        db.conn.execute("RELEASE nexus_write")
                        outcomes.append((job, result, None))
            finally:
                self.active.flag = False
            try:
                db.commit()
            except BaseException as exc:  # nothing of the batch is durable: every caller hears so
                for job, _, _ in outcomes:
                    _answer(job, None, exc)
                return
        for job, result, error in outcomes:
            _answer(job, result, error)


def _answer(job: _Job, result: Any, error: BaseException | None) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the caller's loop is gone; nobody is waiting
        job.loop.call_soon_threadsafe(settle)
