"""The memory schema, as named sqlite-utils migrations.

Apply with ``database.migrate([MIGRATIONS, ...])``. Applied migrations are never
edited; a schema change is a new, later migration.

Every searchable item (note, decision, message, plan) gets one row in
``memory_index`` with its apps and tags (JSON arrays); ``memory_fts`` is an
FTS5 index over it whose text is read back through the ``memory_content``
view, so no text is stored twice. The ``facets`` column holds kind/app/tag
tokens no search word can spell, so filters are FTS5 terms too. Ids only grow
(``AUTOINCREMENT``) and ``memory_index.created_at`` never decreases, so rowid
order is time order.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["MIGRATIONS", "TABLES"]

MIGRATIONS = Migrations("nexus-memory")

#: Tables counted by ``stats()``.
TABLES = ("conversations", "messages", "plans", "plan_steps", "decisions", "notes")

_ROLES = "'user', 'assistant', 'system', 'tool'"
_PLAN_STATUSES = "'draft', 'approved', 'running', 'succeeded', 'failed', 'cancelled'"
_STEP_STATUSES = "'pending', 'running', 'succeeded', 'failed', 'skipped'"
_KINDS = "'note', 'decision', 'message', 'plan'"


def _run(db: sqlite_utils.Database, *statements: str) -> None:
    # Not executescript(): that would COMMIT the migration's transaction early.
    for statement in statements:
        db.execute(statement)


@MIGRATIONS(name="0001_conversations_and_messages")
def _conversations(db: sqlite_utils.Database) -> None:
    _run(
        db,
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        f"""CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            role TEXT NOT NULL CHECK (role IN ({_ROLES})),
            content TEXT NOT NULL,
            author TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
    )


@MIGRATIONS(name="0002_plans_and_steps")
def _plans(db: sqlite_utils.Database) -> None:
    _run(
        db,
        f"""CREATE TABLE plans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            instruction TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ({_PLAN_STATUSES})),
            conversation_id INTEGER REFERENCES conversations(id),
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX plans_by_conversation ON plans(conversation_id)",
        f"""CREATE TABLE plan_steps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            seq INTEGER NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL DEFAULT '{{}}',
            status TEXT NOT NULL CHECK (status IN ({_STEP_STATUSES})),
            result_summary TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            started_at REAL,
            finished_at REAL,
            UNIQUE (plan_id, seq)
        )""",
    )


@MIGRATIONS(name="0003_decisions_and_notes")
def _decisions_and_notes(db: sqlite_utils.Database) -> None:
    _run(
        db,
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            decision TEXT NOT NULL,
            rationale TEXT NOT NULL DEFAULT '',
            decided_by TEXT NOT NULL,
            supersedes INTEGER REFERENCES decisions(id),
            superseded_by INTEGER REFERENCES decisions(id),
            plan_id INTEGER REFERENCES plans(id),
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE notes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
    )


@MIGRATIONS(name="0004_search_index")
def _search_index(db: sqlite_utils.Database) -> None:
    _run(
        db,
        f"""CREATE TABLE memory_index (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS})),
            ref_id INTEGER NOT NULL,
            apps TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            facets TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            UNIQUE (kind, ref_id)
        )""",
        "CREATE INDEX memory_index_by_time ON memory_index(created_at)",
        # The text of each entry, read from its own table (for hits and rebuilds).
        """CREATE VIEW memory_content(id, title, body, facets) AS
        SELECT m.id,
            CASE m.kind
                WHEN 'note' THEN (SELECT title FROM notes WHERE id = m.ref_id)
                WHEN 'decision' THEN (SELECT decision FROM decisions WHERE id = m.ref_id)
                WHEN 'plan' THEN (SELECT instruction FROM plans WHERE id = m.ref_id)
                ELSE ''
            END,
            CASE m.kind
                WHEN 'note' THEN (SELECT text FROM notes WHERE id = m.ref_id)
                WHEN 'decision' THEN (SELECT rationale FROM decisions WHERE id = m.ref_id)
                WHEN 'message' THEN (SELECT content FROM messages WHERE id = m.ref_id)
                ELSE ''
            END,
            m.facets
        FROM memory_index AS m""",
        """CREATE VIRTUAL TABLE memory_fts USING fts5(
            title, body, facets,
            content='memory_content', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
    )
