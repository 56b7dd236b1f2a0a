"""How the registry is stored: its SQLite migrations and the rows its text index holds.

Migration set ``nexus-registry``: one row per app in ``apps`` (the full
:class:`~nexus_agent.wire.models.AppRecord` as JSON plus indexed columns), an append-only
``app_status_history``, an FTS5 index ``apps_fts`` for the ``text`` filter, ``app_commands``
(who set each app's ``mcp_command``), and indexes on the secret variables each record names
(``token_env`` / ``webhook_secret_env``) so a registration finds the apps that could own a name
without reading every record. :mod:`nexus_agent.registry_pg` keeps the same tables on PostgreSQL.
"""

from __future__ import annotations

import re

import sqlite_utils
from sqlite_utils.migrations import Migrations

from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import SECRET_FIELDS

__all__ = ["REGISTRY_MIGRATIONS", "SECRET_ENV_SQL", "capability_words", "fts_query", "fts_row"]

REGISTRY_MIGRATIONS = Migrations("nexus-registry")

#: Each secret variable field of a stored record as SQLite sees it (the expressions 0005 indexes).
SECRET_ENV_SQL = tuple(f"json_extract(record, '$.endpoints.{name}')" for name in SECRET_FIELDS)


@REGISTRY_MIGRATIONS(name="0001_apps")
def _create_apps(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE apps (slug TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, "
        "status TEXT NOT NULL, record TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX apps_status ON apps (status)")
    db.execute("CREATE INDEX apps_category ON apps (category COLLATE NOCASE)")


@REGISTRY_MIGRATIONS(name="0002_app_status_history")
def _create_history(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE app_status_history (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "slug TEXT NOT NULL REFERENCES apps (slug), old_status TEXT, new_status TEXT NOT NULL, "
        "changed_by TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', changed_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX app_status_history_slug ON app_status_history (slug, id)")


@REGISTRY_MIGRATIONS(name="0003_apps_fts")
def _create_fts(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE apps_fts USING fts5(slug UNINDEXED, name, description, capabilities, "
        "workflows, tags, tokenize = 'porter unicode61 remove_diacritics 2')"
    )


@REGISTRY_MIGRATIONS(name="0004_app_commands")
def _create_app_commands(db: sqlite_utils.Database) -> None:
    # Who set each app's mcp_command (the owner, locally): the satellite pool runs only a command recorded here.
    # Rows that existed before this table have no provenance, so their commands wait for the owner to re-register.
    db.execute(
        "CREATE TABLE app_commands (slug TEXT PRIMARY KEY, command TEXT NOT NULL, "
        "set_by TEXT NOT NULL, set_at TEXT NOT NULL)"
    )


@REGISTRY_MIGRATIONS(name="0005_apps_secret_env")
def _index_secret_env(db: sqlite_utils.Database) -> None:
    # Which app names a variable: one index lookup per registration instead of parsing every record.
    for name, expression in zip(SECRET_FIELDS, SECRET_ENV_SQL, strict=True):
        db.execute(f"CREATE INDEX apps_{name} ON apps ({expression})")


def fts_row(record: AppRecord) -> tuple[str, ...]:
    """The ``apps_fts`` row of a record: slug, name, description, capabilities, workflows, tags."""
    caps = " ".join(f"{c.name} {c.description}" for c in record.capabilities)
    flows = " ".join(" ".join([w.name, w.description, *w.steps]) for w in record.workflows)
    return (record.slug, record.name, record.description, caps, flows, " ".join(record.tags))


def capability_words(text: str) -> list[str]:
    """'Quotes' -> ['quote']: lower-case words, a plural 's' dropped so the substring test finds the singular."""
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in re.findall(r"\w+", text.lower())]


def fts_query(text: str) -> str:
    """The FTS5 query for the ``text`` filter: each word (up to 20) as a quoted prefix."""
    return " ".join(f'"{word}"*' for word in re.findall(r"\w+", text.lower())[:20])
