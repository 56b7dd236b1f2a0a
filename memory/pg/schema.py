"""The memory schema on PostgreSQL: the SQLite tables (:mod:`memory.schema`) plus a tsvector index.

Same tables and columns as on SQLite, so the stores share their statements. Search differs:
``memory_index.document`` is a weighted ``tsvector`` (title A, body B; the ``nexus_text``
configuration: English stems as SQLite's porter tokenizer, accents removed, no stop words)
under a GIN index. Writing
``INSERT INTO memory_fts (rowid, title, body, facets)`` — what the shared indexing code
does — fills it through an ``INSTEAD OF`` trigger on the ``memory_fts`` view, so no text
is stored twice. Plan statuses are checked by the store's models, not a CHECK constraint
(on SQLite too since ``0005_one_plan_store``), so a new status needs no migration.
"""

from __future__ import annotations

from memory.pg.database import PgMigrations

__all__ = ["MEMORY_PG_MIGRATIONS", "TEXT_CONFIG", "TEXT_PG_MIGRATIONS"]

#: The text search configuration memory and the registry index and query with.
TEXT_CONFIG = "nexus_text"

#: Applied before the memory and registry sets: English stemming as SQLite's porter tokenizer does it,
#: accents removed (unaccent, a trusted contrib extension) and no stop words ("and", "not" are words
#: a user may search for, as on SQLite).
TEXT_PG_MIGRATIONS = PgMigrations("nexus-text")
TEXT_PG_MIGRATIONS.add(
    "0001_text_search_configuration",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH DICTIONARY nexus_stem (TEMPLATE = snowball, Language = english)",
    f"CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = english)",
    f"ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, "
    "word, hword, hword_part WITH unaccent, nexus_stem",
)

MEMORY_PG_MIGRATIONS = PgMigrations("nexus-memory")

MEMORY_PG_MIGRATIONS.add(
    "0001_memory_tables",
    """CREATE TABLE conversations (
        id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL DEFAULT '', created_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY, conversation_id BIGINT NOT NULL REFERENCES conversations(id),
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
        content TEXT NOT NULL, author TEXT NOT NULL DEFAULT '', created_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
    """CREATE TABLE plans (
        id BIGSERIAL PRIMARY KEY, instruction TEXT NOT NULL, status TEXT NOT NULL,
        conversation_id BIGINT REFERENCES conversations(id), created_by TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX plans_by_conversation ON plans(conversation_id)",
    """CREATE TABLE plan_steps (
        id BIGSERIAL PRIMARY KEY, plan_id BIGINT NOT NULL REFERENCES plans(id), seq INTEGER NOT NULL,
        tool TEXT NOT NULL, arguments TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL,
        result_summary TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
        started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, UNIQUE (plan_id, seq))""",
    """CREATE TABLE decisions (
        id BIGSERIAL PRIMARY KEY, decision TEXT NOT NULL, rationale TEXT NOT NULL DEFAULT '',
        decided_by TEXT NOT NULL, supersedes BIGINT REFERENCES decisions(id),
        superseded_by BIGINT REFERENCES decisions(id), plan_id BIGINT REFERENCES plans(id),
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE notes (
        id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL DEFAULT '', text TEXT NOT NULL, author TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL)""",
)

MEMORY_PG_MIGRATIONS.add(
    "0002_search_index",
    """CREATE TABLE memory_index (
        id BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('note', 'decision', 'message', 'plan')),
        ref_id BIGINT NOT NULL, apps TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]',
        facets TEXT NOT NULL DEFAULT '', created_at DOUBLE PRECISION NOT NULL,
        document TSVECTOR NOT NULL DEFAULT ''::tsvector, UNIQUE (kind, ref_id))""",
    "CREATE INDEX memory_index_by_time ON memory_index(created_at)",
    "CREATE INDEX memory_index_document ON memory_index USING GIN (document)",
    "CREATE INDEX memory_index_by_kind ON memory_index(kind, ref_id)",
    "CREATE VIEW memory_fts AS SELECT id AS rowid, ''::text AS title, ''::text AS body, facets FROM memory_index",
    """CREATE FUNCTION memory_fts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE memory_index SET document =
            setweight(to_tsvector('nexus_text', coalesce(NEW.title, '')), 'A')
            || setweight(to_tsvector('nexus_text', coalesce(NEW.body, '')), 'B')
        WHERE id = NEW.rowid;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER memory_fts_insert INSTEAD OF INSERT ON memory_fts "
    "FOR EACH ROW EXECUTE FUNCTION memory_fts_insert()",
)

#: One row per plan (as SQLite's ``0005_one_plan_store``): the planner's run state and claim move into
#: ``plans`` from ``planner_runs`` (the old ``nexus-planner`` set's table, if a planner ever ran here),
#: which is dropped; plan statuses take the one vocabulary (``memory.models.PlanStatus``).
MEMORY_PG_MIGRATIONS.add(
    "0003_one_plan_store",
    "ALTER TABLE plans ADD COLUMN run TEXT, ADD COLUMN claimed_by TEXT",
    """DO $$
    BEGIN
        IF to_regclass('planner_runs') IS NOT NULL THEN
            UPDATE plans AS p SET
                status = CASE r.status WHEN 'claimed' THEN r.state::json->>'status' ELSE r.status END,
                run = r.state, claimed_by = r.claimed_by, updated_at = greatest(p.updated_at, r.updated_at)
            FROM planner_runs AS r WHERE r.plan_id = p.id;
            INSERT INTO plans (id, instruction, status, conversation_id, created_by, created_at, updated_at,
                               run, claimed_by)
            SELECT r.plan_id, r.state::json->>'instruction',
                CASE r.status WHEN 'claimed' THEN r.state::json->>'status' ELSE r.status END, NULL,
                coalesce(r.state::json->>'actor', 'owner'), r.updated_at, r.updated_at, r.state, r.claimed_by
            FROM planner_runs AS r WHERE NOT EXISTS (SELECT 1 FROM plans WHERE id = r.plan_id);
            PERFORM setval('plans_id_seq', greatest((SELECT coalesce(max(id), 0) FROM plans),
                                                    (SELECT last_value FROM plans_id_seq)));
            DROP TABLE planner_runs;
        END IF;
    END $$""",
    "UPDATE plans SET status = 'awaiting_approval' WHERE status = 'draft' AND run IS NULL",
    "UPDATE plans SET status = 'running' WHERE status = 'approved' AND run IS NULL",
    "CREATE INDEX plans_by_status ON plans(status)",
)
