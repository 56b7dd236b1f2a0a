"""The planner's side of the one plan store on PostgreSQL (``NEXUS_DATABASE_URL``): :class:`PgPlanStateStore`.

Replicas share the plans (memory's ``plans`` table is on PostgreSQL), and with them who carries each
plan out. Everything but the claim is :class:`~nexus_agent.planner.state.PlanStore`'s, the same
statements run through :class:`~memory.pg.database.PgDatabase`. A claim locks the plan's row with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside its write transaction: of two replicas claiming one
plan at once, one gets the row and stamps it with its ``host:pid``; the other finds the row locked
(or, once the first commits, stamped by a live claim) and gets a
:class:`~nexus_agent.wire.errors.Conflict`. A claim whose process is gone (same host) or has been
silent past the stale limit (another host) is taken over, as on SQLite.

    database.migrate(PG_MIGRATIONS)   # memory's set makes the plans table (nexus_agent.services_pg)
    states = PgPlanStateStore(database)
"""

from __future__ import annotations

from typing import Any

from memory.pg.database import PgDatabase
from memory.pg.schema import MEMORY_PG_MIGRATIONS
from nexus_agent.planner.state import PlanStore
from nexus_agent.wire.errors import Conflict, StorageError

__all__ = ["PgPlanStateStore", "open_pg_state_store"]


class PgPlanStateStore(PlanStore):
    """The plan store shared by every replica; apply ``nexus_agent.services_pg.PG_MIGRATIONS`` first."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database
        if database.pending_migrations([MEMORY_PG_MIGRATIONS]):
            raise StorageError(
                f"the plans table of {database.path} is not up to date",
                hint="Run `nexus db migrate` (or database.migrate(PG_MIGRATIONS)) first.",
            )

    def _claimable_row(self, db: Any, plan_id: int) -> Any:
        row = db.execute(
            "SELECT run, updated_at, claimed_by FROM plans WHERE id = ? FOR UPDATE SKIP LOCKED", [plan_id]
        ).fetchone()
        if row is None and db.execute("SELECT 1 FROM plans WHERE id = ?", [plan_id]).fetchone():
            raise Conflict(
                f"plan {plan_id} is being carried out by another Nexus process right now",
                hint="Wait for it to finish, then inspect it with plan_get.",
            )
        return row


def open_pg_state_store(database: PgDatabase) -> PgPlanStateStore:
    """The shared plan store on ``database``, its migrations applied (safe when replicas start together)."""
    from nexus_agent.services_pg import PG_MIGRATIONS

    database.migrate(PG_MIGRATIONS)
    return PgPlanStateStore(database)
