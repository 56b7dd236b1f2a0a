"""The daily backup ``nexus serve`` takes (``NEXUS_BACKUP_DIR``, keep ``NEXUS_BACKUP_KEEP``).

A backup is due when the newest good one recorded in ``ops_backups`` (or found in the
folder) is a day old. The first check waits ``first_delay`` seconds after start, so a
short-lived server (a test, a demo) never pays for one. Each attempt is logged and
recorded (``nexus_backups_total{outcome}``); a failure is retried an hour later and
shows as an alert in health and on the status page until a backup succeeds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from memory.database import Database
from nexus_agent.config import Settings
from nexus_agent.ops.backup import create_backup, list_backups, prune_backups, record_backup
from nexus_agent.wire.errors import NexusError

__all__ = ["BackupScheduler", "LastBackup", "last_backup"]

log = logging.getLogger("nexus.ops.backup")

DAY = 86_400.0
RETRY_S = 3600.0


@dataclass(frozen=True)
class LastBackup:
    finished_at: float
    ok: bool
    path: str
    bytes: int
    error: str
    last_ok_at: float | None


def last_backup(database: Database) -> LastBackup | None:
    """The newest recorded backup attempt, with when the last good one finished."""
    with database.read() as db:
        row = db.conn.execute(
            "SELECT finished_at, ok, path, bytes, error FROM ops_backups ORDER BY id DESC LIMIT 1"
        ).fetchone()
        good = db.conn.execute("SELECT max(finished_at) FROM ops_backups WHERE ok = 1").fetchone()
    if row is None:
        return None
    return LastBackup(float(row[0]), bool(row[1]), row[2], int(row[3]), row[4], good[0])


class BackupScheduler:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        folder: Path,
        keep: int,
        first_delay: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.database = database
        self.folder = folder
        self.keep = keep
        self.first_delay = first_delay
        self._clock = clock

    def due_in(self) -> float:
        """Seconds until the next backup is due (0: now)."""
        last = last_backup(self.database)
        newest = last.last_ok_at if last is not None else None
        if newest is None:
            files = list_backups(self.folder)
            newest = files[-1].stat().st_mtime if files else None
        if last is not None and not last.ok:  # a failure: try again an hour after it, not in a loop
            return max(0.0, RETRY_S - (self._clock() - last.finished_at))
        return self._due(newest)

    def _due(self, newest: float | None) -> float:
        return 0.0 if newest is None else max(0.0, newest + DAY - self._clock())

    async def take(self) -> bool:
        """One backup now, recorded; old ones pruned. Never raises a NexusError."""
        started = self._clock()
        try:
            result = await anyio.to_thread.run_sync(
                lambda: create_backup(self.settings, self.folder, clock=self._clock)
            )
        except (NexusError, OSError) as exc:
            message = exc.message if isinstance(exc, NexusError) else str(exc)
            log.error("daily backup FAILED: %s", message)
            await self.database.run(
                lambda: record_backup(
                    self.database, started=started, ok=False, trigger="daily", error=message, finished=self._clock()
                )
            )
            return False
        log.info("daily backup written: %s (%d bytes, %.1f s)", result.path, result.bytes, result.seconds)
        await self.database.run(
            lambda: record_backup(
                self.database,
                started=started,
                ok=True,
                trigger="daily",
                path=result.path,
                size=result.bytes,
                finished=self._clock(),
            )
        )
        removed = await anyio.to_thread.run_sync(prune_backups, self.folder, self.keep)
        if removed:
            log.info("removed %d old backup(s), keeping the last %d", len(removed), self.keep)
        return True

    async def run(self) -> None:
        await anyio.sleep(self.first_delay)
        while True:
            wait = await self.database.run(self.due_in)
            if wait > 0:
                await anyio.sleep(min(wait, RETRY_S))
                continue
            await self.take()
