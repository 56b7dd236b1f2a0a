"""The SQLite file that holds Nexus's memory and registry.

One :class:`Database` owns one connection (WAL, busy timeout, foreign keys) and
a lock. Writes run inside ``BEGIN IMMEDIATE`` … ``COMMIT`` and are durable when
:meth:`Database.write` returns. sqlite-utils is synchronous: async callers go
through :meth:`Database.run`, which hops to a worker thread.

Schema changes are named migrations (sqlite-utils ``Migrations``); each part of
Nexus registers its own set and :meth:`Database.migrate` applies them in order
under a file lock, so two processes opening a new database cannot race.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar

import anyio.to_thread
import sqlite_utils
from sqlite_utils.migrations import Migrations

from memory.group_commit import GroupCommitWriter
from nexus_agent.wire.errors import DatabaseLocked, DatabaseReadOnly, NotANexusDatabase, StorageError

__all__ = ["APPLICATION_ID", "Database", "translate_sqlite_error"]

#: ``PRAGMA application_id`` of a Nexus database ("NXS1").
APPLICATION_ID = 0x4E585331

P = ParamSpec("P")
T = TypeVar("T")


def translate_sqlite_error(exc: BaseException, path: Path | str) -> StorageError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return DatabaseLocked(
            f"the database {path} is locked by another process and stayed locked past the busy timeout",
            hint="Wait for the other Nexus process to finish, or raise NEXUS_BUSY_TIMEOUT_MS.",
        )
    if "readonly" in text or "read-only" in text or "permission" in text or "unable to open" in text:
        return DatabaseReadOnly(
            f"the database {path} cannot be written: {exc}",
            hint="Check the file and folder permissions, or point NEXUS_HOME / NEXUS_DB at a writable place.",
        )
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        return NotANexusDatabase(
            f"{path} is not a readable SQLite database ({exc})",
            hint="Point NEXUS_DB at a Nexus database, or at a path that does not exist yet to create one.",
        )
    return StorageError(f"database error on {path}: {exc}", hint="Run `nexus doctor` to check the database.")


class Database:
    """A Nexus SQLite database. Thread-safe; one writer at a time per process."""

    def __init__(
        self,
        path: Path | str,
        *,
        sync: Literal["full", "normal"] = "full",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._closed = False
        self._writer: GroupCommitWriter | None = None
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._check_identity()
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(self.path) != ":memory:" and str(mode).lower() != "wal":
                raise StorageError(f"could not switch {self.path} to WAL mode (got {mode})")
            self.conn.execute(f"PRAGMA synchronous = {'FULL' if sync == 'full' else 'NORMAL'}")
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc
        except OSError as exc:
            raise DatabaseReadOnly(
                f"cannot create the database folder {self.path.parent}: {exc.strerror or exc}",
                hint="Point NEXUS_HOME at a writable folder.",
            ) from exc
        self.db = sqlite_utils.Database(self.conn)

    # -- identity ---------------------------------------------------------
    def _check_identity(self) -> None:
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = [
            r[0]
            for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        if app_id != 0 or tables:
            raise NotANexusDatabase(
                f"{self.path} is a SQLite database but not a Nexus one "
                f"(application_id={app_id}, tables: {', '.join(sorted(tables)[:5]) or 'none'})",
                hint="Point NEXUS_DB at a Nexus database, or at a path that does not exist yet to create one.",
            )
        try:
            self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    # -- migrations -------------------------------------------------------
    def migrate(self, migration_sets: Sequence[Migrations]) -> None:
        """Apply every pending migration of each set, in order, under a file lock."""
        lock_path = self.path.with_name(self.path.name + ".migrate.lock")
        with self._lock, contextlib.ExitStack() as stack:
            if str(self.path) != ":memory:":
                handle = stack.enter_context(open(lock_path, "a+"))
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                stack.callback(fcntl.flock, handle.fileno(), fcntl.LOCK_UN)
            try:
                for migrations in migration_sets:
                    migrations.apply(self.db)
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc, self.path) from exc

    def pending_migrations(self, migration_sets: Sequence[Migrations]) -> list[str]:
        with self._lock:
            return [f"{m.name}:{p.name}" for m in migration_sets for p in m.pending(self.db)]

    # -- access -----------------------------------------------------------
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def begin_immediate(self) -> None:
        self._ensure_open()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    def commit(self) -> None:
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise translate_sqlite_error(exc, self.path) from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction: ``BEGIN IMMEDIATE`` now, ``COMMIT`` on exit (durable).

        Inside the group-commit writer (:meth:`run_write`) the batch owns the transaction and
        this write's savepoint, so this simply hands over the database.
        """
        if self._writer is not None and self._writer.in_group():
            yield self.db
            return
        with self._lock:
            self._ensure_open()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc, self.path) from exc
            try:
                yield self.db
            except BaseException as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise translate_sqlite_error(exc, self.path) from exc
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise translate_sqlite_error(exc, self.path) from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        with self._lock:
            self._ensure_open()
            try:
                yield self.db
            except sqlite3.Error as exc:
                raise translate_sqlite_error(exc, self.path) from exc

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` and translate sqlite errors into Nexus storage errors."""
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, self.path) from exc

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a synchronous database function in a worker thread."""
        return await anyio.to_thread.run_sync(functools.partial(self.call, fn, *args, **kwargs))

    async def run_point(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a point read (a few rows by key: microseconds) on the calling thread when the database is free.

        Handing such a read to a worker thread costs more than the read itself, and under concurrent calls
        the thread hop (and the GIL handoff back) dominates. When a write or a long read holds the
        connection, the event loop never waits on it: the read goes to the worker thread as :meth:`run`.
        Only for reads bounded by a key; anything that scans goes through :meth:`run`.
        """
        if not self._lock.acquire(blocking=False):
            return await self.run(fn, *args, **kwargs)
        try:
            return self.call(fn, *args, **kwargs)
        finally:
            self._lock.release()

    async def run_write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a write function (one that uses :meth:`write`) through the group-commit writer.

        Concurrent writes share one COMMIT (one fsync); each runs in its own savepoint and its
        caller is answered after the commit, so a returned write is durable. Off asyncio (or
        after close) it falls back to :meth:`run`.
        """
        try:
            import sniffio

            on_asyncio = sniffio.current_async_library() == "asyncio"
        except Exception:
            on_asyncio = False
        if not on_asyncio or self._closed:
            return await self.run(fn, *args, **kwargs)
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = GroupCommitWriter(self)
        return await self._writer.submit(functools.partial(self.call, fn, *args, **kwargs))

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError("the database is closed", hint="This is a bug: the server shut down mid-request.")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
        with self._lock:
            if not self._closed:
                self._closed = True
                self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
