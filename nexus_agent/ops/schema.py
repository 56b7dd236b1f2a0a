"""Tables of the operations package, as named sqlite-utils migrations.

``ops_calls`` is the tool-call log the seed's figures are computed from (error
rate, response time), so they survive restarts; rows older than the retention
are pruned. ``ops_backups`` records every backup Nexus took (when, where, size,
outcome), for health, the status page and ``nexus metrics``.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["CALL_KINDS", "OPS_MIGRATIONS"]

OPS_MIGRATIONS = Migrations("nexus-ops")

#: ``tool``: a call to Nexus's MCP server; ``satellite``: Nexus calling a satellite; ``planner``: a planner step.
CALL_KINDS = ("tool", "satellite", "planner")


@OPS_MIGRATIONS(name="0001_call_log")
def _call_log(db: sqlite_utils.Database) -> None:
    kinds = ", ".join(f"'{k}'" for k in CALL_KINDS)
    db.execute(
        f"""CREATE TABLE ops_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            app TEXT NOT NULL,
            tool TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
            error_kind TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX ops_calls_by_time ON ops_calls (kind, at)")


@OPS_MIGRATIONS(name="0002_backups")
def _backups(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE ops_backups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            ok INTEGER NOT NULL,
            trigger TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            bytes INTEGER NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX ops_backups_by_time ON ops_backups (finished_at)")


@OPS_MIGRATIONS(name="0003_call_log_covering_index")
def _covering_index(db: sqlite_utils.Database) -> None:
    # Figures over a day of calls read only this index (counts, errors, a latency sample): no table lookups.
    db.execute("CREATE INDEX ops_calls_covering ON ops_calls (kind, at, seconds, outcome)")
    db.execute("DROP INDEX ops_calls_by_time")
