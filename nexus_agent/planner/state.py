"""The planner's durable state, kept in the one plan store: memory's ``plans`` table.

Each plan is one row of ``plans`` (one table per engine): memory writes its instruction,
conversation, steps and search entry; the planner keeps there, in the same row, the plan's
status (the one vocabulary, :data:`memory.models.PlanStatus`), its run state (model transcript,
budget used, per-call statuses; ``run``, one JSON document) and who carries it out right now
(``claimed_by``). The table's migrations are memory's (``nexus-memory``, in ``ALL_MIGRATIONS``;
``0005_one_plan_store`` moved the old ``planner_runs`` rows in). Every save is one durable write.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from pydantic import BaseModel, Field

from memory.database import Database
from memory.schema import MIGRATIONS as MEMORY_MIGRATIONS
from nexus_agent.auth import Principal
from nexus_agent.planner.models import Budget, BudgetUsage, PlannedCall, PlanResult, PlanStatus
from nexus_agent.planner.roles import plan_principal
from nexus_agent.wire.errors import Conflict, NotFound, StorageError
from nexus_agent.wire.secret_guard import redact_data

__all__ = ["CLAIMED", "PLANNER_MIGRATIONS", "PlanStore", "RunState", "SqlitePlanStateStore"]

#: The migrations the plan store needs: memory's, which create and keep the ``plans`` table (they are in
#: ``nexus_agent.services.ALL_MIGRATIONS``, so health and doctor see them). Kept under this name for callers.
PLANNER_MIGRATIONS = MEMORY_MIGRATIONS


class RunState(BaseModel):
    """Everything about one plan run; ``view()`` is what callers see."""

    plan_id: int
    conversation_id: int | None = None
    instruction: str
    actor: str = "owner"
    #: Who gave the instruction: the plan's calls run as them, whoever approves (``nexus_agent.planner.roles``).
    started_by: str = "owner"
    started_by_role: str = "owner"
    started_by_app: str | None = None
    status: PlanStatus = "running"
    dry_run: bool = False
    budget: Budget = Field(default_factory=Budget)
    usage: BudgetUsage = Field(default_factory=BudgetUsage)
    backend: str = ""
    offered: list[str] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    contributions: dict[str, dict[str, float]] = Field(default_factory=dict, description="Per tool: score by term.")
    system: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    calls: list[PlannedCall] = Field(default_factory=list)
    open_turn: int | None = Field(None, description="The turn whose calls are not all settled yet.")
    answer: str = ""
    model_text: str = ""
    next_action: str = ""
    question: str = ""
    unmet: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="What the planner left out and why (caps).")

    def principal(self) -> Principal:
        return plan_principal(self.started_by, self.started_by_role, self.started_by_app)

    def view(self, *, status: PlanStatus | None = None) -> PlanResult:
        return PlanResult(
            plan_id=self.plan_id,
            started_by=self.started_by,
            started_by_role=self.started_by_role,
            conversation_id=self.conversation_id,
            instruction=self.instruction,
            status=status or self.status,
            dry_run=self.dry_run,
            answer=self.answer,
            calls=[c.model_copy(update={"arguments": redact_data(c.arguments)}) for c in self.calls],
            tools_offered=list(self.offered),
            usage=self.usage.model_copy(),
            budget=self.budget,
            backend=self.backend,
            next_action=self.next_action,
            question=self.question,
            unmet=list(self.unmet),
        )

    def call(self, call_id: str) -> PlannedCall:
        for c in self.calls:
            if c.id == call_id:
                return c
        raise KeyError(call_id)

    def turn_calls(self, turn: int) -> list[PlannedCall]:
        return [c for c in self.calls if c.turn == turn]


#: What :meth:`PlanStore.ids_with_status` takes for plans a process has claimed (``claimed_by`` is set).
#: Not a status: a claim never changes the plan's status.
CLAIMED = "claimed"
#: A claim by a process on another host (whose life cannot be checked) lapses after the longest
#: wall-time budget plus a margin; on this host a claim lapses the moment its process is gone.
STALE_CLAIM_S = 3_600 + 300
_HOST = socket.gethostname()
_NOT_PLANNED = (
    "plan {} was not made by the planner (or does not exist)",
    "Use an id returned by instruct; memory_search(kinds=['plan']) finds older plans.",
)
_CLAIM_SQL = "SELECT run, updated_at, claimed_by FROM plans WHERE id = ?"


def this_process() -> str:
    return f"{_HOST}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def claim_holds(claimed_by: str | None, updated_at: float, now: float) -> bool:
    """Whether a claim still stands: its process lives (same host), or it is recent (another host)."""
    if not claimed_by:
        return False
    host, _, pid = claimed_by.rpartition(":")
    if host == _HOST and pid.isdigit():
        return _alive(int(pid))
    return now - updated_at < STALE_CLAIM_S


def _not_planned(plan_id: int) -> NotFound:
    message, hint = _NOT_PLANNED
    return NotFound(message.format(plan_id), hint=hint)


class PlanStore:
    """The planner's side of the one plan store, on a Nexus :class:`Database` (SQLite).

    :class:`~nexus_agent.planner._state_pg.PgPlanStateStore` runs the same statements on PostgreSQL.
    The plan's row is made by memory (``MemoryStore.create_plan``); :meth:`save` fills in its status
    and run state.
    """

    def __init__(self, database: Database) -> None:
        self._db: Any = database  # a PgDatabase in PgPlanStateStore (the statements are shared)
        if database.pending_migrations([MEMORY_MIGRATIONS]):
            raise StorageError(
                f"the plans table of {database.path} is not up to date",
                hint="Call database.migrate(nexus_agent.services.ALL_MIGRATIONS) at startup.",
            )

    async def save(self, state: RunState) -> None:
        await self._db.run(self._save, state.plan_id, state.status, state.model_dump_json())

    def _save(self, plan_id: int, status: str, payload: str) -> None:
        with self._db.write() as db:
            done = db.execute(
                "UPDATE plans SET status = ?, run = ?, updated_at = ? WHERE id = ?",
                [status, payload, time.time(), plan_id],
            )
            if not done.rowcount:
                raise StorageError(
                    f"plan {plan_id} has no row in the plans table to keep its run in",
                    hint="Create the plan with memory.create_plan first; this is a bug in the caller.",
                )

    async def load(self, plan_id: int) -> RunState:
        return await self._db.run(self._load, plan_id)

    def _load(self, plan_id: int) -> RunState:
        with self._db.read() as db:
            row = db.execute("SELECT run FROM plans WHERE id = ?", [plan_id]).fetchone()
        if row is None or row[0] is None:
            raise _not_planned(plan_id)
        return RunState.model_validate_json(row[0])

    async def claim(self, plan_id: int, statuses: set[str]) -> RunState:
        """Atomically take a plan in one of ``statuses`` for this process (across processes too).

        The row is stamped with this process (``claimed_by``) in one write transaction, so a second
        Nexus process claiming the same plan at the same moment finds it taken and gets a Conflict.
        The plan's status is not touched: :meth:`save` writes it, :meth:`release` gives the claim back.
        """
        return await self._db.run(self._claim, plan_id, sorted(statuses))

    def _claimable_row(self, db: Any, plan_id: int) -> Any:
        """The plan's row inside the claiming write transaction (SQLite's single writer makes it exclusive)."""
        return db.execute(_CLAIM_SQL, [plan_id]).fetchone()

    def _claim(self, plan_id: int, statuses: list[str]) -> RunState:
        with self._db.write() as db:
            row = self._claimable_row(db, plan_id)
            if row is None or row[0] is None:
                raise _not_planned(plan_id)
            payload, updated_at, claimed_by = row
            # A claim whose process is gone (or, from another host, that is stale) is taken over at once.
            if claim_holds(claimed_by, float(updated_at or 0), time.time()):
                raise Conflict(
                    f"plan {plan_id} is being carried out by another Nexus process right now",
                    hint="Wait for it to finish, then inspect it with plan_get.",
                )
            state = RunState.model_validate_json(payload)
            if state.status not in statuses:
                raise Conflict(
                    f"plan {plan_id} is {state.status}; this needs a plan that is {' or '.join(statuses)}",
                    hint="plan_get shows the plan and its answer.",
                )
            db.execute(
                "UPDATE plans SET updated_at = ?, claimed_by = ? WHERE id = ?", [time.time(), this_process(), plan_id]
            )
        return state

    async def release(self, plan_id: int, status: str | None = None) -> None:
        """Give back this process's claim on a plan (its status stays what the last save wrote).

        ``status`` is accepted for callers of the old two-table store and not used: a claim no
        longer stamps the status, so there is nothing to restore.
        """
        await self._db.run(self._release, plan_id)

    def _release(self, plan_id: int) -> None:
        with self._db.write() as db:
            db.execute("UPDATE plans SET claimed_by = NULL WHERE id = ? AND claimed_by = ?", [plan_id, this_process()])

    async def ids_with_status(self, status: str) -> list[int]:
        """Ids of the planner's plans with ``status``; :data:`CLAIMED`: those some process has claimed."""
        return await self._db.run(self._ids, status)

    def _ids(self, status: str) -> list[int]:
        sql = "SELECT id FROM plans WHERE run IS NOT NULL AND "
        sql += "claimed_by IS NOT NULL ORDER BY id" if status == CLAIMED else "status = ? ORDER BY id"
        with self._db.read() as db:
            return [r[0] for r in db.execute(sql, [] if status == CLAIMED else [status])]


#: The old name of :class:`PlanStore` (when the planner kept its runs in a table of its own).
SqlitePlanStateStore = PlanStore
