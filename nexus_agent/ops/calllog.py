"""The tool-call log: one row per call, written in batches, pruned by age.

Recording a call is a list append (no I/O on the caller's path); :meth:`CallLog.run`
flushes the buffer every few seconds through the database's group-commit writer and
prunes rows older than the retention once an hour. ``nexus metrics`` and the status
page read the table, so the seed's error rate and response time survive restarts.

With ``NEXUS_DATABASE_URL`` the log is the PostgreSQL database's ``ops_calls`` (migration
``nexus-ops:0001_call_log``, ``nexus_agent.services_pg.OPS_PG_MIGRATIONS``), so every replica's calls count in
the figures any replica shows; the statements are the same on both engines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import anyio

from memory.database import Database
from nexus_agent.wire.errors import NexusError

if TYPE_CHECKING:  # the PostgreSQL database shared by replicas (NEXUS_DATABASE_URL)
    from memory.pg.database import PgDatabase

__all__ = ["DEFAULT_RETENTION_S", "CallLog", "CallRecord"]

log = logging.getLogger("nexus.ops")

#: Eight days: the status page charts seven.
DEFAULT_RETENTION_S = 8 * 86_400
#: Past this many unflushed rows, new ones are dropped (a stuck disk must not eat the memory).
MAX_BUFFER = 100_000


class CallRecord(NamedTuple):
    """One call, buffered until the next flush (a tuple in the table's column order)."""

    at: float
    kind: str
    app: str
    tool: str
    outcome: str
    error_kind: str
    seconds: float


class CallLog:
    def __init__(
        self,
        database: Database | PgDatabase,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.retention_s = retention_s
        self._clock = clock
        self._buffer: list[CallRecord] = []
        self._lock = threading.Lock()
        self.dropped = 0
        self._pruned_at = 0.0

    def record(self, kind: str, app: str, tool: str, outcome: str, seconds: float, error_kind: str = "") -> None:
        row = CallRecord(self._clock(), kind, app, tool, outcome, error_kind, max(0.0, seconds))
        with self._lock:
            if len(self._buffer) >= MAX_BUFFER:
                self.dropped += 1
                return
            self._buffer.append(row)

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    async def flush(self) -> int:
        """Write what is buffered; returns how many rows were written. Prunes once an hour."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if rows:
            try:
                await self.database.run_write(self._insert, rows)
            except BaseException:
                with self._lock:  # keep them for the next flush
                    self._buffer = (rows + self._buffer)[-MAX_BUFFER:]
                raise
        now = self._clock()
        if now - self._pruned_at > 3600:
            self._pruned_at = now
            await self.database.run_write(self._prune, now - self.retention_s)
        return len(rows)

    def _insert(self, rows: list[CallRecord]) -> None:
        sql = "INSERT INTO ops_calls (at, kind, app, tool, outcome, error_kind, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)"
        values = [tuple(r) for r in rows]
        if isinstance(self.database, Database):
            with self.database.write() as db:
                db.conn.executemany(sql, values)
        else:  # PostgreSQL
            with self.database.write() as pg:
                pg.executemany(sql, values)

    def _prune(self, before: float) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM ops_calls WHERE kind IN ('tool', 'satellite', 'planner') AND at < ?", [before])

    async def run(self, interval: float = 5.0) -> None:
        """Flush every ``interval`` seconds until cancelled; a last flush on the way out."""
        try:
            while True:
                await anyio.sleep(interval)
                try:
                    await self.flush()
                except NexusError as exc:
                    log.warning("tool-call log not written (retried): %s", exc.message)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                try:
                    await self.flush()
                except NexusError as exc:
                    log.warning("tool-call log: last flush failed: %s", exc.message)
