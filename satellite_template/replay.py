"""A :class:`~nexus_agent.wire.signing.ReplayGuard` in SQLite, so delivery ids survive a restart.

The in-memory guard forgets every id when the satellite restarts, which re-opens
the replay window for deliveries seen just before. This one keeps them in a
small SQLite file (``SATELLITE_REPLAY_DB``). Its methods block: call them from a
worker thread (the kit does).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.signing import WebhookRejected

__all__ = ["SqliteReplayGuard"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_expiry ON webhook_deliveries (expires_at);
"""


class SqliteReplayGuard:
    """Thread-safe, bounded; fails closed (``guard_full``) rather than forget unexpired ids."""

    def __init__(self, path: Path, *, max_entries: int = 1_000_000) -> None:
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the replay database {path}: {exc}",
                hint="Point SATELLITE_REPLAY_DB at a writable file, or unset it to keep delivery ids in memory.",
            ) from None

    def claim(self, delivery_id: str, *, now: int, expires_at: int) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM webhook_deliveries WHERE expires_at <= ?", (now,))
                held = self._db.execute(
                    "SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?", (delivery_id,)
                ).fetchone()
                if held:
                    return False
                (count,) = self._db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
                if count >= self.max_entries:
                    raise WebhookRejected(
                        "guard_full",
                        f"too many recent deliveries ({self.max_entries}) to guard against replays",
                        hint="Retry the delivery later.",
                    )
                self._db.execute(
                    "INSERT INTO webhook_deliveries (delivery_id, expires_at) VALUES (?, ?)", (delivery_id, expires_at)
                )
                return True
            finally:
                self._db.execute("COMMIT")

    def release(self, delivery_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM webhook_deliveries WHERE delivery_id = ?", (delivery_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
