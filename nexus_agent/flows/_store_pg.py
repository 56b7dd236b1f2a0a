"""The instruction tables on PostgreSQL (``NEXUS_DATABASE_URL``): :class:`PgInstructionStore`.

Every replica reads and moves the same instructions, so an instruction created on one
replica can be acknowledged (its notice delivered by another replica's dispatcher),
reported and listed on any. The statements are :class:`~nexus_agent.flows._store.InstructionStore`'s;
a status move reads the row ``FOR UPDATE``, so two replicas moving one instruction at once
are serialised and the second sees the first's move (a ``Conflict``), as ``BEGIN IMMEDIATE``
does on SQLite. Times are stored as the same sortable UTC text as on SQLite.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

from memory.pg.database import PgDatabase, PgMigrations
from nexus_agent.flows._store import InstructionStore

__all__ = ["FLOWS_PG_MIGRATIONS", "PgInstructionStore"]

FLOWS_PG_MIGRATIONS = PgMigrations("nexus-flows")
FLOWS_PG_MIGRATIONS.add(
    "0001_instructions",
    "CREATE TABLE instructions (id TEXT PRIMARY KEY, target TEXT NOT NULL, action TEXT NOT NULL, "
    "status TEXT NOT NULL, deadline TEXT, created_by TEXT NOT NULL, created_at TEXT NOT NULL, "
    "updated_at TEXT NOT NULL, document TEXT NOT NULL, invalid_report_sha TEXT)",
    "CREATE INDEX instructions_target ON instructions (target, created_at)",
    "CREATE INDEX instructions_status ON instructions (status, deadline)",
    "CREATE TABLE instruction_history (id BIGSERIAL PRIMARY KEY, "
    "instruction_id TEXT NOT NULL REFERENCES instructions (id), from_status TEXT, to_status TEXT NOT NULL, "
    "actor TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX instruction_history_by_instruction ON instruction_history (instruction_id, id)",
)


class PgInstructionStore(InstructionStore):
    """Instructions on PostgreSQL; apply :data:`FLOWS_PG_MIGRATIONS` first."""

    _lock_for_update = " FOR UPDATE"

    def __init__(self, database: PgDatabase) -> None:
        super().__init__(database)  # type: ignore[arg-type]  # the same read/write/run surface

    @staticmethod
    def _pending_migrations(database: Any) -> builtins.list[str]:
        pending: builtins.list[str] = database.pending_migrations([FLOWS_PG_MIGRATIONS])
        return pending

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        with self.db.read() as db:  # already one repeatable-read snapshot
            yield db
