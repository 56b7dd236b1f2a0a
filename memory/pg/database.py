"""The PostgreSQL database shared by Nexus replicas (``NEXUS_DATABASE_URL``).

:class:`PgDatabase` owns a psycopg 3 connection pool. Like the SQLite
:class:`~memory.database.Database`, its calls are synchronous and async callers hop to
a worker thread (:meth:`PgDatabase.run`); :meth:`write` is one transaction, committed
(durable) when the block ends, and :meth:`read` is one repeatable-read snapshot.

Both hand out a :class:`Cursorish` connection that takes the same ``?`` placeholders
as :mod:`sqlite3` (bound on the client by psycopg, so values are quoted by psycopg, never
by us) and has ``lastrowid`` (``lastval()``), so the statements the SQLite stores share
with PostgreSQL are written once.

Migrations are named and versioned per set (:class:`PgMigrations`), recorded in
``nexus_migrations`` and each applied in its own transaction under an advisory lock,
so replicas starting together cannot race.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import anyio.to_thread
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from nexus_agent.wire.errors import ConfigError, StorageError

__all__ = ["Cursorish", "PgDatabase", "PgMigrations", "redact_url", "translate_pg_error"]

log = logging.getLogger("nexus.postgres")

P = ParamSpec("P")
T = TypeVar("T")

#: pg_advisory_xact_lock key serialising migrations (any constant shared by every replica).
_MIGRATE_LOCK = 0x4E585331


def redact_url(url: str) -> str:
    """The URL without its password (in the user part, or in the query as libpq takes it too), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    pairs = parts.query.split("&") if parts.query else []
    query = "&".join("password=***" if unquote(p.partition("=")[0]) == "password" else p for p in pairs)
    return parts._replace(netloc=netloc, query=query).geturl()


def translate_pg_error(exc: BaseException, url: str) -> StorageError:
    where = redact_url(url)
    if isinstance(exc, PoolTimeout) and "couldn't get a connection" in str(exc):
        return StorageError(
            f"no connection to {where} came free in time: the server is unreachable or every pooled "
            f"connection stayed busy ({str(exc).strip()[:120]})",
            hint="Check that the PostgreSQL server is up and not overloaded (NEXUS_DATABASE_URL names it).",
        )
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        return StorageError(
            f"cannot reach the PostgreSQL database {where}: {str(exc).strip()[:300]}",
            hint="Check NEXUS_DATABASE_URL (host, port, user, database) and that the server is running.",
        )
    return StorageError(f"PostgreSQL error on {where}: {str(exc).strip()[:300]}", hint="Run `nexus db migrate`.")


class Cursorish:
    """A psycopg connection that speaks sqlite3's ``execute(sql, params)`` with ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> _Result:
        cur = psycopg.ClientCursor(self.conn)
        cur.execute(self._sql(sql) if params else sql, params or None)
        return _Result(cur)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with psycopg.ClientCursor(self.conn) as cur:
                cur.executemany(self._sql(sql), rows)

    def table(self, name: str) -> _Table:
        """sqlite-utils' ``db.table(name).upsert(row, pk=...)`` / ``.insert(row)``, which the registry uses."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a table name: {name!r}")
        return _Table(self, name)


_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass
class _Table:
    db: Cursorish
    name: str

    def _insert_sql(self, row: Mapping[str, Any]) -> str:
        cols = list(row)
        if not all(_NAME.fullmatch(c) for c in cols):
            raise ValueError(f"not column names: {cols!r}")
        return f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    def upsert(self, row: Mapping[str, Any], pk: str) -> None:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in row if c != pk)
        self.db.execute(f"{self._insert_sql(row)} ON CONFLICT ({pk}) DO UPDATE SET {updates}", list(row.values()))

    def insert(self, row: Mapping[str, Any]) -> None:
        self.db.execute(self._insert_sql(row), list(row.values()))


class _Result:
    def __init__(self, cur: psycopg.ClientCursor[Any]) -> None:
        self._cur = cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int:
        """The id the last INSERT into a serial column took (this session's ``lastval()``)."""
        row = self._cur.connection.execute("SELECT lastval()").fetchone()
        return int(row[0]) if row else 0


@dataclass
class PgMigrations:
    """A named set of migrations, each a list of SQL statements, applied in order."""

    name: str
    steps: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def add(self, name: str, *statements: str) -> None:
        if any(n == name for n, _ in self.steps):
            raise ValueError(f"migration {self.name}:{name} is defined twice")
        self.steps.append((name, statements))


_SCHEMA = """CREATE TABLE IF NOT EXISTS nexus_migrations (
    migration_set TEXT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_set, name))"""


class PgDatabase:
    """A pool of connections to one PostgreSQL database. Thread-safe."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 10.0) -> None:
        if urlsplit(url).scheme not in {"postgresql", "postgres"}:
            raise ConfigError(
                f"NEXUS_DATABASE_URL must be a postgresql:// URL, got {redact_url(url)[:80]!r}",
                hint="Write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use SQLite.",
            )
        self.url = url
        self.path = redact_url(url)  # what messages name (as Database.path does)
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={
                "autocommit": True,
                "options": "-c jit=off",
            },  # short queries: JIT compiling costs more than it saves
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
        except Exception as exc:
            self._pool.close()
            raise translate_pg_error(exc, url) from exc

    # -- access -----------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[Cursorish]:
        """One transaction, committed when the block ends (rolled back on an exception)."""
        with self._connection() as conn, conn.transaction():
            yield Cursorish(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Cursorish]:
        """One read-only snapshot: every query inside sees the same committed state."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield Cursorish(conn)
            finally:
                conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise translate_pg_error(exc, self.url) from exc
        except PoolTimeout as exc:
            raise translate_pg_error(exc, self.url) from exc

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except psycopg.Error as exc:
            raise translate_pg_error(exc, self.url) from exc

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a synchronous database function in a worker thread."""
        return await anyio.to_thread.run_sync(functools.partial(self.call, fn, *args, **kwargs))

    run_point = run  # a network round trip is never made on the event loop
    run_write = run  # each write is its own transaction; the pool, not a group commit, gives concurrency

    # -- migrations -------------------------------------------------------
    def migrate(self, migration_sets: Sequence[PgMigrations]) -> list[str]:
        """Apply every pending migration, each in its own transaction; returns what was applied."""
        applied: list[str] = []
        for migrations in migration_sets:
            for name, statements in migrations.steps:
                with self.write() as db:
                    db.execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATE_LOCK])  # first: even the table is raced
                    db.execute(_SCHEMA)
                    done = db.execute(
                        "SELECT 1 FROM nexus_migrations WHERE migration_set = ? AND name = ?", [migrations.name, name]
                    ).fetchone()
                    if done:
                        continue
                    for statement in statements:
                        db.execute(statement)
                    db.execute(
                        "INSERT INTO nexus_migrations (migration_set, name) VALUES (?, ?)", [migrations.name, name]
                    )
                    applied.append(f"{migrations.name}:{name}")
                    log.info("applied PostgreSQL migration %s:%s", migrations.name, name)
        return applied

    def pending_migrations(self, migration_sets: Sequence[PgMigrations]) -> list[str]:
        with self.write() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATE_LOCK])
            db.execute(_SCHEMA)
            rows = db.execute("SELECT migration_set, name FROM nexus_migrations").fetchall()
        done = {(s, n) for s, n in rows}
        return [f"{m.name}:{n}" for m in migration_sets for n, _ in m.steps if (m.name, n) not in done]

    def table_counts(self, tables: Sequence[str]) -> dict[str, int]:
        for t in tables:
            if not _NAME.fullmatch(t):
                raise ValueError(f"not a table name: {t!r}")
        with self.read() as db:
            return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PgDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
