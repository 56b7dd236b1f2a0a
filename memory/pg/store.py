"""The memory store on PostgreSQL: :class:`PgMemoryStore`.

It is :class:`~memory.store.SqliteMemoryStore`'s logic — the same validation, secret
guard, statements and plan rules — run on a :class:`~memory.pg.database.PgDatabase`
(whose connections take the same ``?`` statements). What differs is here: transactions
(a write takes an advisory lock so ids and timestamps stay in time order across replicas,
as the single SQLite writer guarantees) and search (:func:`memory.pg.search.pg_search`).

    database = PgDatabase("postgresql://nexus@db/nexus")
    database.migrate([MEMORY_PG_MIGRATIONS])
    store = PgMemoryStore(database)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from memory.models import SearchPage, SearchQuery
from memory.pg.database import Cursorish, PgDatabase
from memory.pg.schema import MEMORY_PG_MIGRATIONS
from memory.pg.search import pg_search
from memory.search import RecencyKnots, next_timestamp
from memory.store import SqliteMemoryStore
from nexus_agent.wire.errors import StorageError
from nexus_agent.wire.models import utcnow
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["MEMORY_PG_MIGRATIONS", "PgMemoryStore"]

#: pg_advisory_xact_lock key held by every memory write ("NXSM").
_WRITE_LOCK = 0x4E58534D


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
            conn.execute("SELECT pg_advisory_xact_lock(?)", [_WRITE_LOCK])
            yield conn, next_timestamp(conn, self._now())

    def _search(self, query: SearchQuery) -> SearchPage:
        conn: Cursorish
        with self._snapshot() as conn:
            return pg_search(conn, query, now=self._now())
