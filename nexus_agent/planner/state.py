"""The planner's own durable state: what it needs to inspect and resume a plan.

Memory keeps the plan, its steps, the decisions and the conversation (the
record people read). The planner also needs the model transcript, the budget
used and the per-call status vocabulary (awaiting approval, rejected, unknown)
that memory's plan steps do not have; it keeps them as one JSON document per
plan in its own table ``planner_runs`` (migration set ``nexus-planner``, on the
same database). Every save is one durable write.
"""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils
from pydantic import BaseModel, Field
from sqlite_utils.migrations import Migrations

from memory.database import Database
from nexus_agent.auth import Principal
from nexus_agent.planner.roles import plan_principal
from nexus_agent.wire.errors import Conflict, NotFound, StorageError
from tools.planner_tools import Budget, BudgetUsage, PlannedCall, PlanResult, PlanState

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
    status: PlanState = "running"
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

    def principal(self) -> Principal:
        return plan_principal(self.started_by, self.started_by_role, self.started_by_app)

    def view(self, *, status: PlanState | None = None) -> PlanResult:
        return PlanResult(
            plan_id=self.plan_id,
            started_by=self.started_by,
            started_by_role=self.started_by_role,
            conversation_id=self.conversation_id,
            instruction=self.instruction,
            status=status or self.status,
            dry_run=self.dry_run,
            answer=self.answer,
            calls=[c.model_copy() for c in self.calls],
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
#: Longest a plan may be carried out (the wall-time budget's maximum) plus a margin.
STALE_CLAIM_S = 3_600 + 300


class SqlitePlanStateStore:
    """Planner state on a Nexus :class:`Database` migrated with :data:`PLANNER_MIGRATIONS`."""

    def __init__(self, database: Database) -> None:
        self._db = database
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

    def _claim(self, plan_id: int, statuses: list[str]) -> RunState:
        with self._db.write() as db:
            row = db.execute(
                "SELECT status, state, updated_at FROM planner_runs WHERE plan_id = ?", [plan_id]
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"plan {plan_id} was not made by the planner (or does not exist)",
                    hint="Use an id returned by instruct; memory_search(kinds=['plan']) finds older plans.",
                )
            status, payload, updated_at = row
            # A claim older than the longest wall-time budget was left by a process that died: take it over.
            if status == CLAIMED and time.time() - float(updated_at or 0) < STALE_CLAIM_S:
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
                "UPDATE planner_runs SET status = ?, updated_at = ? WHERE plan_id = ?", [CLAIMED, time.time(), plan_id]
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

    async def ids_with_status(self, status: str) -> list[int]:
        return await self._db.run(self._ids, status)

    def _ids(self, status: str) -> list[int]:
        with self._db.read() as db:
            return [r[0] for r in db.execute("SELECT plan_id FROM planner_runs WHERE status = ?", [status])]
