"""The planner's own durable state: what it needs to inspect and resume a plan.

Memory keeps the plan, its steps, the decisions and the conversation (the
record people read). The planner also needs the model transcript, the budget
used and the per-call status vocabulary (awaiting approval, rejected, unknown)
that memory's plan steps do not have; it keeps them as one JSON document per
plan in its own table ``planner_runs`` (migration set ``nexus-planner``, on the
same database). Every save is one durable write.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import sqlite_utils
from pydantic import BaseModel, Field
from sqlite_utils.migrations import Migrations

from memory.database import Database
from nexus_agent.auth import Principal
from nexus_agent.planner.models import Budget, BudgetUsage, PlannedCall, PlanResult, PlanStatus
from nexus_agent.planner.roles import plan_principal
from nexus_agent.wire.errors import Conflict, NotFound, StorageError
from nexus_agent.wire.secret_guard import redact_data

__all__ = ["PLANNER_MIGRATIONS", "RunState", "SqlitePlanStateStore"]

PLANNER_MIGRATIONS = Migrations("nexus-planner")


@PLANNER_MIGRATIONS(name="0001_planner_runs")
def _runs(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE planner_runs (
            plan_id INTEGER PRIMARY KEY,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX planner_runs_by_status ON planner_runs(status)")


@PLANNER_MIGRATIONS(name="0002_claim_owner")
def _claim_owner(db: sqlite_utils.Database) -> None:
    # Who carries a plan out right now ('host:pid'), so a claim whose process is gone is taken over at once.
    db.execute("ALTER TABLE planner_runs ADD COLUMN claimed_by TEXT")


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


#: The row status while one process carries a plan out (its state keeps the real status).
CLAIMED = "claimed"
#: A claim by a process on another host (whose life cannot be checked) lapses after the longest
#: wall-time budget plus a margin; on this host a claim lapses the moment its process is gone.
STALE_CLAIM_S = 3_600 + 300
_HOST = socket.gethostname()


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


class SqlitePlanStateStore:
    """Planner state on a Nexus :class:`Database` migrated with :data:`PLANNER_MIGRATIONS`."""

    def __init__(self, database: Database) -> None:
        self._db: Any = database  # a PgDatabase in PgPlanStateStore (the statements are shared)
        if database.pending_migrations([PLANNER_MIGRATIONS]):
            raise StorageError(
                f"the planner tables of {database.path} are not up to date",
                hint="Call database.migrate([..., nexus_agent.planner.PLANNER_MIGRATIONS]) at startup.",
            )

    async def save(self, state: RunState) -> None:
        await self._db.run(self._save, state.plan_id, state.status, state.model_dump_json())

    def _save(self, plan_id: int, status: str, payload: str) -> None:
        import time

        with self._db.write() as db:
            db.execute(
                "INSERT INTO planner_runs (plan_id, status, state, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(plan_id) DO UPDATE SET status = excluded.status, state = excluded.state, "
                "updated_at = excluded.updated_at",
                [plan_id, status, payload, time.time()],
            )

    async def load(self, plan_id: int) -> RunState:
        return await self._db.run(self._load, plan_id)

    def _load(self, plan_id: int) -> RunState:
        with self._db.read() as db:
            row = db.execute("SELECT state FROM planner_runs WHERE plan_id = ?", [plan_id]).fetchone()
        if row is None:
            raise NotFound(
                f"plan {plan_id} was not made by the planner (or does not exist)",
                hint="Use an id returned by instruct; memory_search(kinds=['plan']) finds older plans.",
            )
        return RunState.model_validate_json(row[0])

    async def claim(self, plan_id: int, statuses: set[str]) -> RunState:
        """Atomically take a plan in one of ``statuses`` for this process (across processes too).

        The row is stamped ``claimed`` in one write transaction, so a second Nexus process
        claiming the same plan at the same moment finds it taken and gets a Conflict. The next
        :meth:`save` writes the plan's real status over the stamp.
        """
        return await self._db.run(self._claim, plan_id, sorted(statuses))

    def _claimable_row(self, db: Any, plan_id: int) -> Any:
        """The plan's row inside the claiming write transaction (SQLite's single writer makes it exclusive)."""
        return db.execute(
            "SELECT status, state, updated_at, claimed_by FROM planner_runs WHERE plan_id = ?", [plan_id]
        ).fetchone()

    def _claim(self, plan_id: int, statuses: list[str]) -> RunState:
        with self._db.write() as db:
            row = self._claimable_row(db, plan_id)
            if row is None:
                raise NotFound(
                    f"plan {plan_id} was not made by the planner (or does not exist)",
                    hint="Use an id returned by instruct; memory_search(kinds=['plan']) finds older plans.",
                )
            _status, payload, updated_at, claimed_by = row
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
                "UPDATE planner_runs SET status = ?, updated_at = ?, claimed_by = ? WHERE plan_id = ?",
                [CLAIMED, time.time(), this_process(), plan_id],
            )
        return state

    async def release(self, plan_id: int, status: str) -> None:
        """Give a claimed plan back with ``status`` unless a save already replaced the claim stamp."""
        await self._db.run(self._release, plan_id, status)

    def _release(self, plan_id: int, status: str) -> None:
        with self._db.write() as db:
            db.execute(
                "UPDATE planner_runs SET status = ? WHERE plan_id = ? AND status = ?", [status, plan_id, CLAIMED]
            )
            db.execute(
                "UPDATE planner_runs SET claimed_by = NULL WHERE plan_id = ? AND claimed_by = ?",
                [plan_id, this_process()],
            )

    async def ids_with_status(self, status: str) -> list[int]:
        return await self._db.run(self._ids, status)

    def _ids(self, status: str) -> list[int]:
        with self._db.read() as db:
            return [r[0] for r in db.execute("SELECT plan_id FROM planner_runs WHERE status = ?", [status])]
