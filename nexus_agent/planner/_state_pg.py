"""The planner's run state on PostgreSQL (``NEXUS_DATABASE_URL``): :class:`PgPlanStateStore`.

Replicas share the plans (memory's ``plans`` table is on PostgreSQL), so they must share
who carries each plan out too. Everything but the claim is
:class:`~nexus_agent.planner.state.SqlitePlanStateStore`'s, the same statements run through
:class:`~memory.pg.database.PgDatabase`. A claim locks the plan's row with
``SELECT ... FOR UPDATE SKIP LOCKED`` inside its write transaction: of two replicas claiming
one plan at once, one gets the row and stamps it ``claimed`` with its ``host:pid``; the other
finds the row locked (or, once the first commits, stamped by a live claim) and gets a
:class:`~nexus_agent.wire.errors.Conflict`. A claim whose process is gone (same host) or has
been silent past the stale limit (another host) is taken over, as on SQLite.

    database.migrate([PLANNER_PG_MIGRATIONS])
    states = PgPlanStateStore(database)
"""

from __future__ import annotations

from typing import Any

from memory.pg.database import PgDatabase
from nexus_agent.planner.state import SqlitePlanStateStore
from nexus_agent.services_pg import PLANNER_PG_MIGRATIONS
from nexus_agent.wire.errors import Conflict, StorageError

__all__ = ["PLANNER_PG_MIGRATIONS", "PgPlanStateStore", "open_pg_state_store"]


class PgPlanStateStore(SqlitePlanStateStore):
    """Planner state shared by every replica; apply :data:`PLANNER_PG_MIGRATIONS` first."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database
        if database.pending_migrations([PLANNER_PG_MIGRATIONS]):
            raise StorageError(
                f"the planner tables of {database.path} are not up to date",
                hint="Run `nexus db migrate` (or database.migrate([PLANNER_PG_MIGRATIONS])) first.",
            )

    def _claimable_row(self, db: Any, plan_id: int) -> Any:
        row = db.execute(
            "SELECT status, state, updated_at, claimed_by FROM planner_runs WHERE plan_id = ? FOR UPDATE SKIP LOCKED",
            [plan_id],
        ).fetchone()
        if row is None and db.execute("SELECT 1 FROM planner_runs WHERE plan_id = ?", [plan_id]).fetchone():
            raise Conflict(
                f"plan {plan_id} is being carried out by another Nexus process right now",
                hint="Wait for it to finish, then inspect it with plan_get.",
            )
        return row


def open_pg_state_store(database: PgDatabase) -> PgPlanStateStore:
    """The shared planner state on ``database``, its migrations applied (safe when replicas start together)."""
    database.migrate([PLANNER_PG_MIGRATIONS])
    return PgPlanStateStore(database)
