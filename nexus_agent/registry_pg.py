"""The app registry on PostgreSQL (``NEXUS_DATABASE_URL``): :class:`PgRegistry`.

The rules — status lifecycle, endpoint policy, command provenance, secret guard — are
:class:`~nexus_agent.registry.SqliteRegistry`'s, run on a
:class:`~memory.pg.database.PgDatabase`; only the text and capability filters of ``list``
and the text index differ (a ``tsvector`` per app under a GIN index instead of FTS5). Every
write holds one advisory lock, so replicas registering the same slug at once apply one
after the other, as the single SQLite writer does, and sends ``NOTIFY nexus_registry, '<slug>'``
when it commits, so every replica re-reads the registry at once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from memory.pg.database import Cursorish, PgDatabase, PgMigrations
from nexus_agent.registry import SqliteRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.registry_schema import capability_words, fts_row
from nexus_agent.wire.errors import StorageError
from nexus_agent.wire.models import AppFilter, AppRecord, StatusChange, utcnow
from nexus_agent.wire.secret_env import SECRET_FIELDS
from nexus_agent.wire.secret_guard import KnownSecrets

__all__ = ["REGISTRY_CHANNEL", "REGISTRY_PG_MIGRATIONS", "PgRegistry"]

#: The LISTEN/NOTIFY channel a registry write announces its slug on (``services_pg.follow_registry``).
REGISTRY_CHANNEL = "nexus_registry"

REGISTRY_PG_MIGRATIONS = PgMigrations("nexus-registry")
REGISTRY_PG_MIGRATIONS.add(
    "0001_apps",
    "CREATE TABLE apps (slug TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, "
    "status TEXT NOT NULL, record TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX apps_status ON apps (status)",
    "CREATE INDEX apps_category ON apps (lower(category))",
    "CREATE TABLE app_status_history (id BIGSERIAL PRIMARY KEY, slug TEXT NOT NULL REFERENCES apps (slug), "
    "old_status TEXT, new_status TEXT NOT NULL, changed_by TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', "
    "changed_at TEXT NOT NULL)",
    "CREATE INDEX app_status_history_slug ON app_status_history (slug, id)",
    "CREATE TABLE apps_fts (slug TEXT PRIMARY KEY REFERENCES apps (slug), document TSVECTOR NOT NULL)",
    "CREATE INDEX apps_fts_document ON apps_fts USING GIN (document)",
    # Who set each app's mcp_command (see nexus_agent.registry_policy): the pool runs only these.
    "CREATE TABLE app_commands (slug TEXT PRIMARY KEY, command TEXT NOT NULL, set_by TEXT NOT NULL, "
    "set_at TEXT NOT NULL)",
)
#: Each secret variable field of a stored record as SQL, indexed so a registration finds the apps naming a variable.
_PG_SECRET_ENV_SQL = tuple(f"(record::jsonb -> 'endpoints' ->> '{name}')" for name in SECRET_FIELDS)
REGISTRY_PG_MIGRATIONS.add(
    "0002_apps_secret_env",
    *(f"CREATE INDEX apps_{name} ON apps ({sql})" for name, sql in zip(SECRET_FIELDS, _PG_SECRET_ENV_SQL, strict=True)),
)

#: pg_advisory_xact_lock key held by every registry write ("NXSR").
_WRITE_LOCK = 0x4E585352
_WORD = re.compile(r"[^\W_]+")


class _SerialWrites:
    """The database, with every write transaction holding the registry's advisory lock."""

    def __init__(self, database: PgDatabase) -> None:
        self.database = database
        self.path = database.path
        self.run = self.run_point = database.run  # a point read never makes a network round trip on the loop
        self.read = database.read

    @contextlib.contextmanager
    def write(self) -> Iterator[Cursorish]:
        with self.database.write() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", [_WRITE_LOCK])
            yield db


def _tsquery(text: str) -> tuple[str, list[str]]:
    words = [w.lower() for w in _WORD.findall(text)][:20]
    return " && ".join("to_tsquery('nexus_text', ?)" for _ in words), [f"{w}:*" for w in words]


class PgRegistry(SqliteRegistry):
    """:class:`~nexus_agent.registry.Registry` on PostgreSQL; apply :data:`REGISTRY_PG_MIGRATIONS` first."""

    _SECRET_ENV_SQL = _PG_SECRET_ENV_SQL

    def __init__(
        self,
        database: PgDatabase,
        *,
        clock: Callable[[], datetime] = utcnow,
        policy: EndpointPolicy | None = None,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        super().__init__(database, clock=clock, policy=policy, known_secrets=known_secrets)  # type: ignore[arg-type]
        self._db: Any = _SerialWrites(database)
        pending = database.pending_migrations([REGISTRY_PG_MIGRATIONS])
        if pending:
            raise StorageError(
                f"the registry tables of {database.path} are not up to date ({', '.join(pending)} pending)",
                hint="Run `nexus db migrate` (or start Nexus once) before creating the registry.",
            )

    @contextlib.contextmanager
    def _page_snapshot(self) -> Iterator[Any]:
        with self._db.read() as db:  # a read is one transaction (one snapshot) on PostgreSQL
            yield db

    def _list_query(self, filter: AppFilter) -> tuple[str, list[str], list[Any], str]:
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        join, order = "", "a.slug"
        if filter.text:
            query, words = _tsquery(filter.text)
            join = (
                f"JOIN (SELECT slug, ts_rank(document, q) AS rank FROM apps_fts, (SELECT {query} AS q) s "
                "WHERE document @@ q) f USING (slug)"
            )
            params.extend(words)
            order = "f.rank DESC, a.slug"
        if filter.category:
            where.append("lower(a.category) = lower(?)")
            params.append(filter.category)
        if filter.capability:
            words = capability_words(filter.capability)
            test = " AND ".join("strpos(lower(c ->> 'name'), ?) > 0" for _ in words)
            where.append(
                f"EXISTS (SELECT 1 FROM jsonb_array_elements(a.record::jsonb -> 'capabilities') c WHERE {test})"
            )
            params.extend(words)
        return join, where, params, order

    def _save(self, db: Any, record: AppRecord, change: StatusChange | None) -> None:
        columns = record.model_dump(
            mode="json", include={"slug", "name", "category", "status", "created_at", "updated_at"}
        )
        db.table("apps").upsert({**columns, "record": record.model_dump_json()}, pk="slug")
        slug, name, *rest = fts_row(record)
        db.execute(
            "INSERT INTO apps_fts (slug, document) VALUES (?, setweight(to_tsvector('nexus_text', ?), 'A') "
            "|| to_tsvector('nexus_text', ?)) ON CONFLICT (slug) DO UPDATE SET document = EXCLUDED.document",
            [slug, name, " ".join(rest)],
        )
        if change is not None:
            db.table("app_status_history").insert(change.model_dump(mode="json"))
        db.execute("SELECT pg_notify(?, ?)", [REGISTRY_CHANNEL, record.slug])  # sent to every replica on commit
