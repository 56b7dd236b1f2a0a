"""The ``api_keys`` table on PostgreSQL (``NEXUS_DATABASE_URL``), so every replica knows every key.

:class:`~nexus_agent.auth.keys.ApiKeyStore` runs unchanged on a
:class:`~memory.pg.database.PgDatabase` (its statements are plain SQL); only the table's
migration is PostgreSQL's own. A key issued or revoked through one replica (or ``nexus keys``
on any machine with the URL) is verified the same way by every replica at its next request.
"""

from __future__ import annotations

from memory.pg.database import PgMigrations

__all__ = ["AUTH_PG_MIGRATIONS"]

AUTH_PG_MIGRATIONS = PgMigrations("nexus-auth")
AUTH_PG_MIGRATIONS.add(
    "0001_api_keys",
    "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, app TEXT, "
    "key_hash TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, "
    "revoked_at TEXT, revoked_by TEXT)",
)
