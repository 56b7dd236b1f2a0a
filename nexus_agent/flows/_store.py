"""The ``instructions`` tables (migration set ``nexus-flows``): fast listing and the transition history.

``instructions`` holds one row per instruction (indexed columns plus the whole
:class:`Instruction` as JSON, without its history); ``instruction_history`` is
append-only, one row per status move with who, when and why. Every method is
synchronous and runs one transaction; the service calls them through ``Database.run``.

The statements are plain SQL that both engines run: :class:`InstructionStore` on the SQLite
file, ``PgInstructionStore`` (``_store_pg``) on the PostgreSQL database replicas share, which
only adds row locks to a status move. :func:`instruction_store` picks the one for a database.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from memory.database import Database
from nexus_agent.flows.models import (
    OPEN_STATUSES,
    Instruction,
    InstructionStatus,
    InstructionTransition,
)
from nexus_agent.wire.errors import Conflict, NotFound, StorageError

if TYPE_CHECKING:  # PostgreSQL (psycopg) loads only when NEXUS_DATABASE_URL is set
    from memory.pg.database import PgDatabase

__all__ = [
    "FLOW_MIGRATIONS",
    "TRANSITIONS",
    "InstructionStore",
    "check_transition",
    "instruction_store",
    "steps_to",
]

FLOW_MIGRATIONS = Migrations("nexus-flows")

_I = InstructionStatus
#: Allowed moves; completed, failed and expired are terminal.
TRANSITIONS: dict[InstructionStatus, frozenset[InstructionStatus]] = {
    _I.pending: frozenset({_I.delivered, _I.expired}),
    _I.delivered: frozenset({_I.acknowledged, _I.expired}),
    _I.acknowledged: frozenset({_I.completed, _I.failed, _I.expired}),
    _I.completed: frozenset(),
    _I.failed: frozenset(),
    _I.expired: frozenset(),
}


_CHAIN = (_I.pending, _I.delivered, _I.acknowledged)


def steps_to(current: InstructionStatus, final: InstructionStatus) -> list[InstructionStatus]:
    """The moves from ``current`` to ``final``: the chain's steps not yet taken, then ``final``.

    Anything illegal (a terminal ``current``, going backwards) is returned as the one move
    ``[final]`` so that the state machine refuses it with its usual message.
    """
    if current not in _CHAIN or final is _I.expired:
        return [final]
    here = _CHAIN.index(current)
    if final in _CHAIN:
        there = _CHAIN.index(final)
        return list(_CHAIN[here + 1 : there + 1]) if there > here else [final]
    return [*_CHAIN[here + 1 :], final]


@FLOW_MIGRATIONS(name="0001_instructions")
def _create_instructions(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE instructions (id TEXT PRIMARY KEY, target TEXT NOT NULL, action TEXT NOT NULL, "
        "status TEXT NOT NULL, deadline TEXT, created_by TEXT NOT NULL, created_at TEXT NOT NULL, "
        "updated_at TEXT NOT NULL, document TEXT NOT NULL, invalid_report_sha TEXT)"
    )
    db.execute("CREATE INDEX instructions_target ON instructions (target, created_at)")
    db.execute("CREATE INDEX instructions_status ON instructions (status, deadline)")
    db.execute(
        "CREATE TABLE instruction_history (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "instruction_id TEXT NOT NULL REFERENCES instructions (id), from_status TEXT, to_status TEXT NOT NULL, "
        "actor TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '')"
    )
    db.execute("CREATE INDEX instruction_history_by_instruction ON instruction_history (instruction_id, id)")


def ts(value: datetime) -> str:
    """A sortable UTC timestamp text (fixed width, so SQL compares it correctly)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_transition(instruction_id: str, old: InstructionStatus, new: InstructionStatus) -> None:
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(s.value for s in InstructionStatus if s in TRANSITIONS[old]) or "nothing (it is final)"
        raise Conflict(
            f"instruction {instruction_id} cannot move from {old.value} to {new.value}",
            hint=f"From {old.value} it can move to: {allowed}.",
        )


def instruction_store(database: Database | PgDatabase) -> InstructionStore:
    """The instruction store for ``database``: the SQLite file, or the PostgreSQL database replicas share."""
    if isinstance(database, Database):
        return InstructionStore(database)
    from nexus_agent.flows._store_pg import PgInstructionStore

    return PgInstructionStore(database)


class InstructionStore:
    """Instructions in the Nexus database. Apply :data:`FLOW_MIGRATIONS` first."""

    #: Appended to the SELECT that reads an instruction before a status move (PostgreSQL: a row lock).
    _lock_for_update = ""

    def __init__(self, database: Database) -> None:
        pending = self._pending_migrations(database)
        if pending:
            raise StorageError(
                f"the instruction tables of {database.path} are not up to date ({', '.join(pending)} pending)",
                hint="Call database.migrate([..., nexus_agent.flows.FLOW_MIGRATIONS]) at startup.",
            )
        self.db = database

    @staticmethod
    def _pending_migrations(database: Database) -> builtins.list[str]:
        return database.pending_migrations([FLOW_MIGRATIONS])

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """One consistent read of several statements (SQLite: a read transaction)."""
        with self.db.read() as db, db.atomic():
            yield db

    # -- writes ---------------------------------------------------------------------------
    def insert(self, instructions: Sequence[Instruction]) -> None:
        with self.db.write() as db:
            for ins in instructions:
                db.table("instructions").insert(self._row(ins))
                for step in ins.history:
                    self._log(db, ins.id, step)

    def transition(
        self,
        instruction_id: str,
        steps: Sequence[InstructionStatus],
        *,
        by: str,
        reason: str,
        at: datetime,
        update: dict[str, Any] | None = None,
        expect: Iterable[InstructionStatus] | None = None,
    ) -> tuple[Instruction, builtins.list[InstructionTransition]]:
        """Apply ``steps`` in order, in one transaction; Conflict (and nothing written) if any is illegal.

        ``expect``: the status the caller saw; a different one means someone else moved it first (Conflict).
        """
        with self.db.write() as db:
            current = self._require(db, instruction_id, lock=True)
            if expect is not None and current.status not in set(expect):
                raise Conflict(
                    f"instruction {instruction_id} is {current.status.value} now",
                    hint="It changed while this was running; look at it again.",
                )
            made: list[InstructionTransition] = []
            status = current.status
            for step in steps:
                check_transition(instruction_id, status, step)
                made.append(InstructionTransition(from_status=status, to_status=step, by=by, at=at, reason=reason))
                status = step
            updated = current.model_copy(update={**(update or {}), "status": status, "updated_at": at})
            updated = Instruction.model_validate({**updated.model_dump(), "history": [*current.history, *made]})
            row = self._row(updated)
            columns = [c for c in row if c != "id"]
            db.execute(
                f"UPDATE instructions SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                [*(row[c] for c in columns), instruction_id],
            )
            for step_made in made:
                self._log(db, instruction_id, step_made)
        return updated, made

    def note_invalid_report(self, instruction_id: str, sha: str) -> bool:
        """Remember that the report at blob ``sha`` was invalid; False if it was already noted."""
        with self.db.write() as db:
            row = db.execute(
                f"SELECT invalid_report_sha FROM instructions WHERE id = ?{self._lock_for_update}", [instruction_id]
            ).fetchone()
            if row is None or row[0] == sha:
                return False
            db.execute("UPDATE instructions SET invalid_report_sha = ? WHERE id = ?", [sha, instruction_id])
            return True

    # -- reads ----------------------------------------------------------------------------
    def get(self, instruction_id: str) -> Instruction:
        with self.db.read() as db:
            return self._require(db, instruction_id)

    def open(self) -> builtins.list[Instruction]:
        """Every instruction not yet completed, failed or expired, oldest first."""
        marks = ", ".join("?" * len(OPEN_STATUSES))
        return self._select(f"status IN ({marks})", [s.value for s in OPEN_STATUSES])

    def overdue(self, now: datetime) -> builtins.list[Instruction]:
        marks = ", ".join("?" * len(OPEN_STATUSES))
        where = f"status IN ({marks}) AND deadline IS NOT NULL AND deadline < ?"
        return self._select(where, [*(s.value for s in OPEN_STATUSES), ts(now)])

    def page(
        self, target: str | None, statuses: Sequence[InstructionStatus], limit: int, offset: int
    ) -> tuple[builtins.list[Instruction], int]:
        where, params = ["1 = 1"], []
        if target:
            where.append("target = ?")
            params.append(target)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params += [s.value for s in statuses]
        sql = " AND ".join(where)
        with self._snapshot() as db:
            total = db.execute(f"SELECT count(*) FROM instructions WHERE {sql}", params).fetchone()[0]
        items = self._select(sql, params, order="created_at DESC, id DESC", limit=limit, offset=offset)
        return items, int(total)

    # -- internals ------------------------------------------------------------------------
    def _select(
        self, where: str, params: Sequence[Any], *, order: str = "created_at, id", limit: int = -1, offset: int = 0
    ) -> builtins.list[Instruction]:
        page, bounds = (" LIMIT ? OFFSET ?", [limit, offset]) if limit >= 0 else ("", [])
        with self._snapshot() as db:
            rows = db.execute(
                f"SELECT id, document FROM instructions WHERE {where} ORDER BY {order}{page}", [*params, *bounds]
            ).fetchall()
            history = self._history(db, [r[0] for r in rows])
        return [self._parse(ident, doc, history.get(ident, [])) for ident, doc in rows]

    def _require(self, db: sqlite_utils.Database, instruction_id: str, *, lock: bool = False) -> Instruction:
        """The instruction; ``lock``: inside a write, hold its row until the transaction ends."""
        suffix = self._lock_for_update if lock else ""
        row = db.execute(f"SELECT document FROM instructions WHERE id = ?{suffix}", [instruction_id]).fetchone()
        if row is not None:
            return self._parse(instruction_id, row[0], self._history(db, [instruction_id]).get(instruction_id, []))
        recent = [r[0] for r in db.execute("SELECT id FROM instructions ORDER BY created_at DESC LIMIT 500")]
        close = difflib.get_close_matches(instruction_id, recent, n=3, cutoff=0.8)
        hint = ("Did you mean " + " or ".join(close) + "?") if close else "List the instructions to find its id."
        raise NotFound(f"there is no instruction {instruction_id!r}", hint=hint)

    @staticmethod
    def _history(db: sqlite_utils.Database, ids: Sequence[str]) -> dict[str, builtins.list[InstructionTransition]]:
        out: dict[str, list[InstructionTransition]] = {}
        if not ids:
            return out
        marks = ", ".join("?" * len(ids))
        sql = (
            "SELECT instruction_id, from_status, to_status, actor, at, reason FROM instruction_history "
            f"WHERE instruction_id IN ({marks}) ORDER BY id"
        )
        for ident, old, new, actor, at, reason in db.execute(sql, list(ids)):
            step = InstructionTransition(from_status=old, to_status=new, by=actor, at=at, reason=reason)
            out.setdefault(ident, []).append(step)
        return out

    @staticmethod
    def _parse(instruction_id: str, document: str, history: builtins.list[InstructionTransition]) -> Instruction:
        try:
            return Instruction.model_validate({**json.loads(document), "history": history})
        except ValueError as exc:
            raise StorageError(f"the stored instruction {instruction_id} is unreadable: {exc}") from exc

    @staticmethod
    def _row(ins: Instruction) -> dict[str, Any]:
        return {
            "id": ins.id,
            "target": ins.target,
            "action": ins.action,
            "status": ins.status.value,
            "deadline": ts(ins.deadline) if ins.deadline else None,
            "created_by": ins.created_by,
            "created_at": ts(ins.created_at),
            "updated_at": ts(ins.updated_at),
            "document": ins.model_dump_json(exclude={"history"}),
        }

    @staticmethod
    def _log(db: sqlite_utils.Database, instruction_id: str, step: InstructionTransition) -> None:
        db.table("instruction_history").insert(
            {
                "instruction_id": instruction_id,
                "from_status": step.from_status.value if step.from_status else None,
                "to_status": step.to_status.value,
                "actor": step.by,
                "at": ts(step.at),
                "reason": step.reason,
            }
        )
