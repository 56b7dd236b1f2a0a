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

import sqlite3

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


#: What a plan's status was called before the one vocabulary (``memory.models.PlanStatus``), for
#: plans no planner ran (a planner's own plans take the status it kept in ``planner_runs``).
_OLD_STATUS = "CASE p.status WHEN 'draft' THEN 'awaiting_approval' WHEN 'approved' THEN 'running' ELSE p.status END"
_RUN_STATUS = "CASE r.status WHEN 'claimed' THEN json_extract(r.state, '$.status') ELSE r.status END"


@MIGRATIONS(name="0005_one_plan_store", transactional=False)
def _one_plan_store(db: sqlite_utils.Database) -> None:
    """One row per plan: the planner's run state and claim move into ``plans``; ``planner_runs`` goes.

    ``plans.status`` takes the one vocabulary (checked by the models, as on PostgreSQL, so a new
    status needs no table rebuild). Dropping the old CHECK means rebuilding the table, which SQLite
    allows only with foreign keys off, outside a transaction: so this migration opens its own
    (and does nothing if a crash came between its commit and its record).
    """
    if any(column.name == "run" for column in db["plans"].columns):
        return
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN IMMEDIATE")
    try:
        _rebuild_plans(db)
        if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise sqlite3.IntegrityError("the plans table lost a row another table refers to")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def _rebuild_plans(db: sqlite_utils.Database) -> None:
    runs = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'planner_runs'").fetchone()
    (high,) = db.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'plans'").fetchone()
    _run(
        db,
        """CREATE TABLE plans_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            instruction TEXT NOT NULL,
            status TEXT NOT NULL,
            conversation_id INTEGER REFERENCES conversations(id),
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            run TEXT,
            claimed_by TEXT
        )""",
    )
    if runs:
        _run(
            db,
            "INSERT INTO plans_new SELECT p.id, p.instruction, "
            f"CASE WHEN r.plan_id IS NULL THEN {_OLD_STATUS} ELSE {_RUN_STATUS} END, "
            "p.conversation_id, p.created_by, p.created_at, max(p.updated_at, coalesce(r.updated_at, 0)), "
            "r.state, r.claimed_by FROM plans AS p LEFT JOIN planner_runs AS r ON r.plan_id = p.id",
            # A run whose plan row is missing keeps what its own state says (nothing is dropped).
            f"INSERT INTO plans_new SELECT r.plan_id, json_extract(r.state, '$.instruction'), {_RUN_STATUS}, NULL, "
            "coalesce(json_extract(r.state, '$.actor'), 'owner'), r.updated_at, r.updated_at, r.state, r.claimed_by "
            "FROM planner_runs AS r WHERE r.plan_id NOT IN (SELECT id FROM plans)",
            "DROP TABLE planner_runs",
        )
    else:
        db.execute(
            f"INSERT INTO plans_new SELECT p.id, p.instruction, {_OLD_STATUS}, p.conversation_id, p.created_by, "
            "p.created_at, p.updated_at, NULL, NULL FROM plans AS p"
        )
    db.execute("DROP TABLE plans")
    # Legacy rename: the memory_content view names `plans`, which does not exist for that moment.
    db.execute("PRAGMA legacy_alter_table = ON")
    try:
        db.execute("ALTER TABLE plans_new RENAME TO plans")
    finally:
        db.execute("PRAGMA legacy_alter_table = OFF")
    _run(
        db,
        "CREATE INDEX plans_by_conversation ON plans(conversation_id)",
        "CREATE INDEX plans_by_status ON plans(status)",
    )
    if high:  # ids only grow, even past a plan no longer there
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'plans'")
        db.execute(
            "INSERT INTO sqlite_sequence (name, seq) "
            "VALUES ('plans', max(?, coalesce((SELECT max(id) FROM plans), 0)))",
            [high],
        )
