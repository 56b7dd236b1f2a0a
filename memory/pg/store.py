"""The memory store on PostgreSQL: :class:`PgMemoryStore`.

It is :class:`~memory.store.SqliteMemoryStore`'s logic — the same validation, secret
guard, statements and plan rules — run on a :class:`~memory.pg.database.PgDatabase`
(whose connections take the same ``?`` statements). What differs is here: transactions and
search (:func:`memory.pg.search.pg_search`).

Writes from every replica run side by side (``pg_advisory_xact_lock``, held to commit):

- adding a note, a message, a conversation or a plan only inserts rows: it takes the memory
  lock *shared*, so these run at once (ids come from sequences; a timestamp is never earlier
  than the newest stored entry's);
- a write that reads and then changes one object takes the memory lock shared and that object's
  lock: superseding a decision locks the decision; changing a plan or its steps locks the plan;
- any other write takes the memory lock exclusively (one at a time, as before), so a write
  added to the shared store later is safe before it is made fast.

Two inserts committing at the same moment may take ids in the other order than their
timestamps; readers order by time (the activity feed sorts by ``created_at``, search ranks by it).

    database = PgDatabase("postgresql://nexus@db/nexus")
    database.migrate([MEMORY_PG_MIGRATIONS])
    store = PgMemoryStore(database)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from memory.models import (
    Conversation,
    ConversationIn,
    Decision,
    DecisionIn,
    Message,
    MessageIn,
    Note,
    NoteIn,
    Plan,
    PlanIn,
    PlanStatus,
    PlanStep,
    PlanStepIn,
    PlanStepUpdate,
    SearchPage,
    SearchQuery,
)
from memory.pg.database import Cursorish, PgDatabase
from memory.pg.schema import MEMORY_PG_MIGRATIONS
from memory.pg.search import pg_search
from memory.search import RecencyKnots, next_timestamp
from memory.store import SqliteMemoryStore
from nexus_agent.wire.errors import StorageError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["MEMORY_PG_MIGRATIONS", "PgMemoryStore"]

#: The memory lock ("NXSM"): shared by inserts and per-object writes, exclusive for any other write.
_WRITE_LOCK = 0x4E58534D
#: Object locks: the kind of object in the high bits, its id in the low 40 ("NXD", "NXP").
_DECISION_LOCK, _PLAN_LOCK = 0x4E5844, 0x4E5850
_ID_BITS = 40
_INSERT = -1  # a write that only inserts: the memory lock shared, no object lock


def _object_key(kind: int, object_id: int) -> int:
    return (kind << _ID_BITS) | (object_id & ((1 << _ID_BITS) - 1))


class PgMemoryStore(SqliteMemoryStore):
    """:class:`~memory.store.MemoryStore` on PostgreSQL; apply :data:`MEMORY_PG_MIGRATIONS` first."""

    migrations = MEMORY_PG_MIGRATIONS  # type: ignore[assignment]

    def __init__(
        self,
        database: PgDatabase,
        *,
        clock: Callable[[], datetime] = utcnow,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self._db: Any = database
        self._clock = clock
        self._known = known_secrets
        self._knots = RecencyKnots()
        self._locks = threading.local()  # the object a write in this worker thread must lock
        pending = database.pending_migrations([MEMORY_PG_MIGRATIONS])
        if pending:
            raise StorageError(
                f"the memory tables of {database.path} are not up to date ({', '.join(pending)} pending)",
                hint="Run `nexus db migrate` (or start Nexus once) before creating the store.",
            )

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        with self._db.read() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[tuple[Any, float]]:
        with self._db.write() as conn:
            key = getattr(self._locks, "key", None)
            if key is None:  # a write not declared below: one at a time, the newest entry read once it holds
                conn.execute("SELECT pg_advisory_xact_lock(?)", [_WRITE_LOCK])
                yield conn, next_timestamp(conn, self._now())
                return
            locks, params = "pg_advisory_xact_lock_shared(?)", [_WRITE_LOCK]
            if key != _INSERT:
                locks, params = f"{locks}, pg_advisory_xact_lock(?)", [*params, key]
            # One round trip for the locks and the newest entry's time (a write waits on the replica's
            # next statement far longer than on the database: each round trip saved counts).
            newest = conn.execute(
                f"SELECT (SELECT created_at FROM memory_index ORDER BY id DESC LIMIT 1), {locks}", params
            ).fetchone()[0]
            now = self._now()
            yield conn, now if newest is None else max(now, float(newest))

    @contextlib.contextmanager
    def _locking(self, kind: int, object_id: int | None) -> Iterator[None]:
        """The write this thread runs next locks one object (``object_id`` None: none, it only inserts)."""
        self._locks.key = _INSERT if object_id is None else _object_key(kind, object_id)
        try:
            yield
        finally:
            self._locks.key = None

    def _add_note(self, n: NoteIn) -> Note:
        with self._locking(_INSERT, None):
            return super()._add_note(n)

    def _start_conversation(self, c: ConversationIn) -> Conversation:
        with self._locking(_INSERT, None):
            return super()._start_conversation(c)

    def _add_message(self, conversation_id: int, m: MessageIn) -> Message:
        with self._locking(_INSERT, None):  # the conversation is checked, and its row kept, by the foreign key
            return super()._add_message(conversation_id, m)

    def _create_plan(self, p: PlanIn) -> Plan:
        with self._locking(_INSERT, None):
            return super()._create_plan(p)

    def _log_decision(self, d: DecisionIn) -> Decision:
        with self._locking(_DECISION_LOCK, d.supersedes):  # two replicas superseding one decision: one wins
            return super()._log_decision(d)

    def _add_plan_step(self, plan_id: int, s: PlanStepIn) -> PlanStep:
        with self._locking(_PLAN_LOCK, plan_id):  # the next seq is read, then taken
            return super()._add_plan_step(plan_id, s)

    def _update_plan_step(self, plan_id: int, seq: int, u: PlanStepUpdate) -> PlanStep:
        with self._locking(_PLAN_LOCK, plan_id):
            return super()._update_plan_step(plan_id, seq, u)

    def _set_plan_status(self, plan_id: int, status: PlanStatus) -> Plan:
        with self._locking(_PLAN_LOCK, plan_id):
            return super()._set_plan_status(plan_id, status)

    def _search(self, query: SearchQuery) -> SearchPage:
        conn: Cursorish
        with self._snapshot() as conn:
            return pg_search(conn, query, now=self._now())
