"""Plans and their steps in SQLite.

Synchronous helpers the store calls inside its transactions; each takes the
connection and, for writes, the timestamp of the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from memory.models import Plan, PlanIn, PlanStatus, PlanStep, PlanStepIn, PlanStepUpdate
from memory.search import index_item, labels, to_datetime
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound

__all__ = ["insert_plan", "insert_step", "missing", "read_plan", "read_step", "require", "set_status", "update_step"]

_TERMINAL = {"succeeded", "failed", "skipped"}
_STEP_SQL = (
    "SELECT id, plan_id, seq, tool, arguments, status, result_summary, error, started_at, finished_at FROM plan_steps"
)
_FIND_PLANS = "Find plan ids with search(kinds=['plan'])."


def missing(what: str, ident: int, hint: str) -> NotFound:
    return NotFound(f"there is no {what} with id {ident}", hint=hint)


def require(conn: sqlite3.Connection, table: str, ident: int, what: str, hint: str) -> None:
    """Raise :class:`NotFound` unless ``table`` has a row with id ``ident``."""
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is None:
        raise missing(what, ident, hint)


def insert_plan(conn: sqlite3.Connection, p: PlanIn, now: float) -> Plan:
    seqs: list[int] = []
    for step in p.steps:
        seq = step.seq if step.seq is not None else max(seqs, default=0) + 1
        if seq in seqs:
            raise InvalidInput(f"two steps of the plan have seq {seq}", hint="Give each step its own seq.")
        seqs.append(seq)
    if p.conversation_id is not None:
        require(conn, "conversations", p.conversation_id, "conversation", "Omit it or start the conversation first.")
    cur = conn.execute(
        "INSERT INTO plans (instruction, status, conversation_id, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (p.instruction, p.status, p.conversation_id, p.created_by, now, now),
    )
    plan_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO plan_steps (plan_id, seq, tool, arguments, status) VALUES (?, ?, ?, ?, 'pending')",
        [(plan_id, seq, s.tool, json.dumps(s.arguments)) for seq, s in zip(seqs, p.steps, strict=True)],
    )
    index_item(conn, "plan", plan_id, title=p.instruction, body="", created_at=now, apps=p.apps, tags=p.tags)
    return read_plan(conn, plan_id)


def insert_step(conn: sqlite3.Connection, plan_id: int, s: PlanStepIn, now: float) -> PlanStep:
    require(conn, "plans", plan_id, "plan", "Create the plan first with create_plan.")
    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM plan_steps WHERE plan_id = ?", (plan_id,)).fetchone()
    seq = s.seq if s.seq is not None else last + 1
    if conn.execute("SELECT 1 FROM plan_steps WHERE plan_id = ? AND seq = ?", (plan_id, seq)).fetchone():
        raise Conflict(f"plan {plan_id} already has a step {seq}", hint="Omit seq to append the step at the end.")
    conn.execute(
        "INSERT INTO plan_steps (plan_id, seq, tool, arguments, status) VALUES (?, ?, ?, ?, 'pending')",
        (plan_id, seq, s.tool, json.dumps(s.arguments)),
    )
    conn.execute("UPDATE plans SET updated_at = ? WHERE id = ?", (now, plan_id))
    return read_step(conn, plan_id, seq)


def update_step(conn: sqlite3.Connection, plan_id: int, seq: int, u: PlanStepUpdate, now: float) -> PlanStep:
    """Set a step's status; starting stamps ``started_at``, ending stamps ``finished_at`` (unless given)."""
    step = read_step(conn, plan_id, seq)
    started = u.started_at.timestamp() if u.started_at else None
    finished = u.finished_at.timestamp() if u.finished_at else None
    if started is None and step.started_at is None and u.status == "running":
        started = now
    if finished is None and step.finished_at is None and u.status in _TERMINAL:
        finished = now
    conn.execute(
        "UPDATE plan_steps SET status = ?, result_summary = coalesce(?, result_summary), error = coalesce(?, error), "
        "started_at = coalesce(?, started_at), finished_at = coalesce(?, finished_at) WHERE id = ?",
        (u.status, u.result_summary, u.error, started, finished, step.id),
    )
    conn.execute("UPDATE plans SET updated_at = ? WHERE id = ?", (now, plan_id))
    return read_step(conn, plan_id, seq)


def set_status(conn: sqlite3.Connection, plan_id: int, status: PlanStatus, now: float) -> Plan:
    require(conn, "plans", plan_id, "plan", _FIND_PLANS)
    conn.execute("UPDATE plans SET status = ?, updated_at = ? WHERE id = ?", (status, now, plan_id))
    return read_plan(conn, plan_id)


def read_plan(conn: sqlite3.Connection, plan_id: int) -> Plan:
    row = conn.execute(
        "SELECT instruction, status, conversation_id, created_by, created_at, updated_at FROM plans WHERE id = ?",
        (plan_id,),
    ).fetchone()
    if row is None:
        raise missing("plan", plan_id, _FIND_PLANS)
    instruction, status, conversation_id, created_by, created_at, updated_at = row
    steps = [_step(r) for r in conn.execute(f"{_STEP_SQL} WHERE plan_id = ? ORDER BY seq", (plan_id,))]
    apps, tags = labels(conn, "plan", plan_id)
    return Plan(
        id=plan_id,
        instruction=instruction,
        status=status,
        conversation_id=conversation_id,
        created_by=created_by,
        apps=apps,
        tags=tags,
        created_at=to_datetime(created_at),
        updated_at=to_datetime(updated_at),
        steps=steps,
    )


def read_step(conn: sqlite3.Connection, plan_id: int, seq: int) -> PlanStep:
    row = conn.execute(f"{_STEP_SQL} WHERE plan_id = ? AND seq = ?", (plan_id, seq)).fetchone()
    if row is None:
        require(conn, "plans", plan_id, "plan", _FIND_PLANS)
        raise NotFound(f"plan {plan_id} has no step {seq}", hint="get_plan lists the plan's steps and their seq.")
    return _step(row)


def _step(row: tuple[Any, ...]) -> PlanStep:
    step_id, plan_id, seq, tool, arguments, status, summary, error, started, finished = row
    return PlanStep(
        id=step_id,
        plan_id=plan_id,
        seq=seq,
        tool=tool,
        arguments=json.loads(arguments),
        status=status,
        result_summary=summary,
        error=error,
        started_at=None if started is None else to_datetime(started),
        finished_at=None if finished is None else to_datetime(finished),
    )
