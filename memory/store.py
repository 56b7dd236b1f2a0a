"""The memory store: a Protocol and its SQLite implementation.

:class:`MemoryStore` is async so another backend (PostgreSQL) can slot in.
:class:`SqliteMemoryStore` runs each call synchronously in a worker thread
(``Database.run``); every write is one ``BEGIN IMMEDIATE`` … ``COMMIT``, so it
is durable when the call returns. Nothing is deduplicated: the same note
added twice is two notes. Inputs may be the ``*In`` models or plain mappings;
a bad mapping raises :class:`~nexus_agent.wire.errors.InvalidInput`.

    database = Database(path)
    database.migrate([MIGRATIONS])
    store = SqliteMemoryStore(database)
    note = await store.add_note({"text": "Hartley quote sent", "apps": ["quote-engine"]})
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from memory.database import Database
from memory.models import (
    KINDS,
    ActivityItem,
    Decision,
    DecisionIn,
    Kind,
    Note,
    NoteIn,
    SearchPage,
    SearchQuery,
    parse_input,
)
from memory.plans import missing, require
from memory.protocol import MemoryStore
from memory.schema import MIGRATIONS, TABLES
from memory.search import (
    INLINE_SEARCH_BUDGET_S,
    HeavyTerms,
    RecencyKnots,
    entries,
    index_item,
    labels,
    next_timestamp,
    run_search,
    run_search_within,
    to_datetime,
)
from memory.store_conversations import ConversationMethods
from memory.store_inputs import check_id, check_range, guarded
from memory.store_plans import PlanMethods
from nexus_agent.wire.errors import Conflict, InvalidInput, StorageError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["MAX_ACTIVITY", "MIGRATIONS", "MemoryStore", "SqliteMemoryStore"]

MAX_ACTIVITY = 200


class SqliteMemoryStore(ConversationMethods, PlanMethods):
    """:class:`MemoryStore` on a Nexus SQLite :class:`Database` migrated with :data:`MIGRATIONS`."""

    migrations = MIGRATIONS

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self._known = known_secrets  # configured secret values no write may store
        self._knots = RecencyKnots()
        self._heavy_terms = HeavyTerms()  # terms whose searches overran the inline budget (_search_inline)
        pending = database.pending_migrations([MIGRATIONS])
        if pending:
            raise StorageError(
                f"the memory tables of {database.path} are not up to date ({', '.join(pending)} pending)",
                hint="Call database.migrate([memory.store.MIGRATIONS, ...]) at startup before creating the store.",
            )

    def _now(self) -> float:
        return self._clock().timestamp()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        with self._db.read() as db:
            conn = db.conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        """A write transaction and its timestamp (never before the newest entry's)."""
        with self._db.write() as db:
            yield db.conn, next_timestamp(db.conn, self._now())

    # -- notes ------------------------------------------------------------------
    async def add_note(self, note: NoteIn | Mapping[str, Any]) -> Note:
        return await self._db.run_write(self._add_note, guarded(NoteIn, note, "the note", self._known))

    def _add_note(self, n: NoteIn) -> Note:
        with self._write() as (conn, now):
            cur = conn.execute(
                "INSERT INTO notes (title, text, author, created_at) VALUES (?, ?, ?, ?)",
                (n.title, n.text, n.author, now),
            )
            note_id = int(cur.lastrowid or 0)
            index_item(conn, "note", note_id, title=n.title, body=n.text, created_at=now, apps=n.apps, tags=n.tags)
        return Note(id=note_id, created_at=to_datetime(now), **n.model_dump())

    async def get_note(self, note_id: int) -> Note:
        return await self._db.run(self._get_note, check_id(note_id, "note id"))

    def _get_note(self, note_id: int) -> Note:
        with self._snapshot() as conn:
            row = conn.execute("SELECT title, text, author, created_at FROM notes WHERE id = ?", (note_id,)).fetchone()
            if row is None:
                raise missing("note", note_id, "Find note ids with search or recent_activity.")
            apps, tags = labels(conn, "note", note_id)
        title, text, author, created_at = row
        return Note(
            id=note_id, title=title, text=text, author=author, apps=apps, tags=tags, created_at=to_datetime(created_at)
        )

    # -- decisions --------------------------------------------------------------
    async def log_decision(self, decision: DecisionIn | Mapping[str, Any]) -> Decision:
        return await self._db.run_write(self._log_decision, guarded(DecisionIn, decision, "the decision", self._known))

    def _log_decision(self, d: DecisionIn) -> Decision:
        with self._write() as (conn, now):
            if d.plan_id is not None:
                require(conn, "plans", d.plan_id, "plan", "Pass the id of an existing plan, or no plan_id.")
            if d.supersedes is not None:
                row = conn.execute("SELECT superseded_by FROM decisions WHERE id = ?", (d.supersedes,)).fetchone()
                if row is None:
                    raise missing("decision", d.supersedes, "supersedes must name an earlier decision's id.")
                if row[0] is not None:
                    raise Conflict(
                        f"decision {d.supersedes} was already superseded by decision {row[0]}",
                        hint=f"Supersede decision {row[0]} (the current one) instead.",
                    )
            cur = conn.execute(
                "INSERT INTO decisions (decision, rationale, decided_by, supersedes, plan_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (d.decision, d.rationale, d.decided_by, d.supersedes, d.plan_id, now),
            )
            decision_id = int(cur.lastrowid or 0)
            if d.supersedes is not None:
                conn.execute("UPDATE decisions SET superseded_by = ? WHERE id = ?", (decision_id, d.supersedes))
            index_item(
                conn,
                "decision",
                decision_id,
                title=d.decision,
                body=d.rationale,
                created_at=now,
                apps=d.apps,
                tags=d.tags,
            )
        return Decision(id=decision_id, superseded_by=None, created_at=to_datetime(now), **d.model_dump())

    async def get_decision(self, decision_id: int) -> Decision:
        return await self._db.run(self._get_decision, check_id(decision_id, "decision id"))

    def _get_decision(self, decision_id: int) -> Decision:
        with self._snapshot() as conn:
            row = conn.execute(
                "SELECT decision, rationale, decided_by, supersedes, superseded_by, plan_id, created_at "
                "FROM decisions WHERE id = ?",
                (decision_id,),
            ).fetchone()
            if row is None:
                raise missing("decision", decision_id, "Find decision ids with search(kinds=['decision']).")
            apps, tags = labels(conn, "decision", decision_id)
        fields = ("decision", "rationale", "decided_by", "supersedes", "superseded_by", "plan_id")
        return Decision(
            id=decision_id,
            apps=apps,
            tags=tags,
            created_at=to_datetime(row[-1]),
            **dict(zip(fields, row, strict=False)),
        )

    # -- search, activity, stats ------------------------------------------------
    async def search(self, query: SearchQuery | Mapping[str, Any]) -> SearchPage:
        parsed = parse_input(SearchQuery, query, "the search")
        quick = self._search_inline(parsed)
        return quick if quick is not None else await self._db.run(self._search, parsed)

    def _search_inline(self, query: SearchQuery) -> SearchPage | None:
        """The search on the calling thread (the event loop) when the database is free and the search short;
        None otherwise, and the worker thread runs it (memory.search.run_search_within says why). SQLite only:
        an engine with its own ``_search`` (PostgreSQL's) always runs it in the worker thread."""
        if not isinstance(self._db, Database) or type(self)._search is not SqliteMemoryStore._search:
            return None
        lock = self._db.lock
        if not lock.acquire(blocking=False):  # a write or a long read is running: never wait on the loop
            return None
        try:
            with self._snapshot() as conn:
                return run_search_within(
                    conn,
                    query,
                    budget_s=INLINE_SEARCH_BUDGET_S,
                    now=self._now(),
                    knots=self._knots,
                    heavy=self._heavy_terms,
                )
        finally:
            lock.release()

    def _search(self, query: SearchQuery) -> SearchPage:
        with self._snapshot() as conn:
            return run_search(conn, query, now=self._now(), knots=self._knots)

    async def recent_activity(
        self, *, limit: int = 20, kinds: Sequence[Kind] = (), since: datetime | None = None
    ) -> list[ActivityItem]:
        limit = check_range(limit, "limit", 1, MAX_ACTIVITY)
        if isinstance(kinds, str) or any(k not in KINDS for k in kinds):
            raise InvalidInput(
                f"kinds must be a list drawn from {', '.join(KINDS)}, got {kinds!r}", hint="Omit it for all."
            )
        if since is not None and not isinstance(since, datetime):
            raise InvalidInput(f"since must be a datetime, got {since!r}", hint="Pass an ISO 8601 time.")
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return await self._db.run(self._recent_activity, limit, tuple(dict.fromkeys(kinds)), since)

    def _recent_activity(self, limit: int, kinds: tuple[Kind, ...], since: datetime | None) -> list[ActivityItem]:
        with self._snapshot() as conn:
            # Ids grow with time, overall and within each kind: the newest `limit`
            # of each kind are enough, and filtering by time keeps a prefix of them.
            # (On PostgreSQL two inserts committing at once may take ids out of time
            # order, so the page is sorted by time, then id.)
            if kinds and set(kinds) != set(KINDS):
                sql = "SELECT id, created_at FROM memory_index WHERE kind = ? ORDER BY ref_id DESC LIMIT ?"
                rows = [r for k in kinds for r in conn.execute(sql, (k, limit))]
            else:
                sql = "SELECT id, created_at FROM memory_index ORDER BY id DESC LIMIT ?"
                rows = conn.execute(sql, (limit,)).fetchall()
            cutoff = since.timestamp() if since is not None else float("-inf")
            newest = sorted(((ts, i) for i, ts in rows if ts >= cutoff), reverse=True)[:limit]
            ids = [i for _, i in newest]
            found = entries(conn, ids)
        return [
            ActivityItem(
                kind=e.kind,
                id=e.ref_id,
                title=e.title,
                summary=e.body,
                created_at=e.created_at,
                apps=e.apps,
                tags=e.tags,
                conversation_id=e.conversation_id,
            )
            for e in (found[i] for i in ids)
        ]

    async def stats(self) -> dict[str, int]:
        return await self._db.run(self._stats)

    def _stats(self) -> dict[str, int]:
        with self._snapshot() as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
