"""Copy a SQLite home's shared stores into PostgreSQL (``nexus db copy --to postgresql://…``).

Memory, registry, API keys, the planner's run state, the event outbox, instructions, the events
apps and GitHub posted and the ops call log: what replicas share (``services_pg``).

Every row keeps its id (so plan, conversation and decision references stay true), the
search documents are rebuilt from the stored text, the id sequences move past the copied
ids, and the copy is one transaction: it commits only when every table's row count in
PostgreSQL equals SQLite's. The target must be migrated and hold no memory or registry yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from memory.pg.database import Cursorish, PgDatabase
from nexus_agent.registry_schema import fts_row
from nexus_agent.wire.errors import Conflict, InvalidInput, StorageError
from nexus_agent.wire.models import AppRecord

__all__ = ["COPIED_TABLES", "CopyReport", "copy_sqlite_to_pg"]

#: Parents before children, so foreign keys hold at every insert.
MEMORY_TABLES = ("conversations", "messages", "plans", "plan_steps", "decisions", "notes", "memory_index")
REGISTRY_TABLES = ("apps", "app_status_history", "app_commands")
#: API keys (the planner's run state travels in ``plans``, so a plan awaiting approval can still be approved).
SHARED_TABLES = ("api_keys",)
#: Queued and sent webhooks (a pending event is sent by the new home), the replay guards of inbound events,
#: instructions with their history (a satellite's later report still finds its instruction) and the call log.
EVENT_TABLES = ("outbox", "github_deliveries", "app_events", "instructions", "instruction_history", "ops_calls")
COPIED_TABLES = MEMORY_TABLES + REGISTRY_TABLES + SHARED_TABLES + EVENT_TABLES
_SERIAL = (
    "conversations",
    "messages",
    "plans",
    "plan_steps",
    "decisions",
    "notes",
    "memory_index",
    "app_status_history",
    "outbox",
    "app_events",
    "instruction_history",
    "ops_calls",
)
_BATCH = 2_000


@dataclass
class CopyReport:
    counts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{table}: {n} rows" for table, n in self.counts.items()]


def _columns(src: sqlite3.Connection, dst: Cursorish, table: str) -> list[str]:
    mine = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
    theirs = {
        r[0] for r in dst.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])
    }
    missing = [c for c in mine if c not in theirs]
    if missing:
        raise StorageError(
            f"PostgreSQL's {table} has no column {', '.join(missing)}, so the copy would lose data",
            hint="Upgrade Nexus on both sides and run `nexus db migrate` first.",
        )
    return mine


def _batches(cur: sqlite3.Cursor) -> Iterator[list[tuple[object, ...]]]:
    while rows := cur.fetchmany(_BATCH):
        yield rows


def _copy_table(src: sqlite3.Connection, dst: Cursorish, table: str) -> None:
    cols = _columns(src, dst, table)
    order = "id" if "id" in cols else cols[0]
    insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    for rows in _batches(src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")):
        dst.executemany(insert, rows)


def _rebuild_documents(src: sqlite3.Connection, dst: Cursorish) -> None:
    rows = src.execute("SELECT id, coalesce(title, ''), coalesce(body, ''), facets FROM memory_content ORDER BY id")
    for batch in _batches(rows):
        dst.executemany("INSERT INTO memory_fts (rowid, title, body, facets) VALUES (?, ?, ?, ?)", batch)
    for raw_slug, raw in src.execute("SELECT slug, record FROM apps"):
        _, name, *rest = fts_row(AppRecord.model_validate_json(raw))
        dst.execute(
            "INSERT INTO apps_fts (slug, document) VALUES (?, setweight(to_tsvector('nexus_text', ?), 'A') "
            "|| to_tsvector('nexus_text', ?))",
            [raw_slug, name, " ".join(rest)],
        )


def copy_sqlite_to_pg(sqlite_path: Path, target: PgDatabase) -> CopyReport:
    """Copy the shared stores' rows from ``sqlite_path`` into ``target``, verified by counts."""
    if not sqlite_path.exists():
        raise InvalidInput(f"there is no SQLite database at {sqlite_path}", hint="Point --home / --db at the home.")
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        src.execute("BEGIN")  # one snapshot of the source
        there = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = [t for t in COPIED_TABLES if t in there]
        expected = {
            t: int(src.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) if t in there else 0 for t in COPIED_TABLES
        }
        with target.write() as dst:
            dst.execute("LOCK TABLE apps, memory_index IN EXCLUSIVE MODE")
            present = {t: int(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in ("apps", "memory_index")}
            if any(present.values()):
                raise Conflict(
                    f"{target.path} already holds memory or apps ({present}); the copy would mix two homes",
                    hint="Copy into a new, empty database (create it, then `nexus db copy --to URL`).",
                )
            for table in tables:
                _copy_table(src, dst, table)
            _rebuild_documents(src, dst)
            for table in _SERIAL:
                dst.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) "
                    f"FROM {table}"
                )
            got = {t: int(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in COPIED_TABLES}
            if got != expected:
                raise StorageError(
                    f"the copy's row counts differ from the source ({got} != {expected}); nothing was committed",
                    hint="Make sure no other Nexus writes to the target, then run the copy again.",
                )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read {sqlite_path}: {exc}", hint="Run `nexus doctor` on the SQLite home.") from exc
    finally:
        src.close()
    return CopyReport(counts=expected)
