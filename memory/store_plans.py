"""Plans in the SQLite memory store: the validated entry points over :mod:`memory.plans`.
A part of :class:`~memory.store.SqliteMemoryStore`."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

from memory import plans
from memory.database import Database
from memory.models import Plan, PlanIn, PlanStatus, PlanStep, PlanStepIn, PlanStepUpdate
from memory.store_inputs import check_id, guarded
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["PlanMethods"]


class PlanMethods:
    """The store's plan methods (mixed into SqliteMemoryStore, which owns the state below)."""

    _db: Database
    _known: KnownSecrets | None

    if TYPE_CHECKING:

        def _snapshot(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

        def _write(self) -> contextlib.AbstractContextManager[tuple[sqlite3.Connection, float]]: ...

    # -- plans ------------------------------------------------------------------
    async def create_plan(self, plan: PlanIn | Mapping[str, Any]) -> Plan:
        return await self._db.run_write(self._create_plan, guarded(PlanIn, plan, "the plan", self._known))

    def _create_plan(self, p: PlanIn) -> Plan:
        with self._write() as (conn, now):
            return plans.insert_plan(conn, p, now)

    async def add_plan_step(self, plan_id: int, step: PlanStepIn | Mapping[str, Any]) -> PlanStep:
        plan_id = check_id(plan_id, "plan id")
        return await self._db.run_write(
            self._add_plan_step, plan_id, guarded(PlanStepIn, step, "the plan step", self._known)
        )

    def _add_plan_step(self, plan_id: int, s: PlanStepIn) -> PlanStep:
        with self._write() as (conn, now):
            return plans.insert_step(conn, plan_id, s, now)

    async def update_plan_step(self, plan_id: int, seq: int, update: PlanStepUpdate | Mapping[str, Any]) -> PlanStep:
        plan_id, seq = check_id(plan_id, "plan id"), check_id(seq, "step seq")
        u = guarded(PlanStepUpdate, update, "the step update", self._known)
        return await self._db.run_write(self._update_plan_step, plan_id, seq, u)

    def _update_plan_step(self, plan_id: int, seq: int, u: PlanStepUpdate) -> PlanStep:
        with self._write() as (conn, now):
            return plans.update_step(conn, plan_id, seq, u, now)

    async def set_plan_status(self, plan_id: int, status: PlanStatus) -> Plan:
        plan_id = check_id(plan_id, "plan id")
        if status not in get_args(PlanStatus):
            raise InvalidInput(
                f"{status!r} is not a plan status", hint=f"Use one of {', '.join(get_args(PlanStatus))}."
            )
        return await self._db.run_write(self._set_plan_status, plan_id, status)

    def _set_plan_status(self, plan_id: int, status: PlanStatus) -> Plan:
        with self._write() as (conn, now):
            return plans.set_status(conn, plan_id, status, now)

    async def get_plan(self, plan_id: int) -> Plan:
        return await self._db.run(self._get_plan, check_id(plan_id, "plan id"))

    def _get_plan(self, plan_id: int) -> Plan:
        with self._snapshot() as conn:
            return plans.read_plan(conn, plan_id)
