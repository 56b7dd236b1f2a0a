"""``nexus db migrate|copy|status``: the databases behind Nexus.

``migrate`` applies every pending migration to the SQLite home and, with
``NEXUS_DATABASE_URL``, to PostgreSQL. ``copy --to postgresql://…`` moves a SQLite home's
memory, registry, API keys, planner run state, event outbox, instructions, app and GitHub
events and call log into an empty PostgreSQL database (verified by row counts).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nexus_agent.cli_output import EXIT_OK
from nexus_agent.config import Settings
from nexus_agent.services import ALL_MIGRATIONS, open_database
from nexus_agent.wire.errors import ConfigError

__all__ = ["add_db", "run_db_command"]


def add_db(sub: Any, common: argparse.ArgumentParser) -> None:
    """The parser of ``nexus db`` (listed in ``cli_parser.COMMANDS``)."""
    group = sub.add_parser("db", help="database migrations and moving a SQLite home to PostgreSQL")
    group.set_defaults(needs_action=True)
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("migrate", parents=[common], help="apply pending migrations (SQLite, and PostgreSQL if set)")
    actions.add_parser("status", parents=[common], help="which engine holds what, and pending migrations")
    c = actions.add_parser("copy", parents=[common], help="copy this home's shared stores into PostgreSQL")
    c.add_argument("--to", required=True, metavar="URL", help="postgresql://USER@HOST:PORT/DB (an empty database)")
    d = actions.add_parser("dump", parents=[common], help="pg_dump the PostgreSQL database (NEXUS_DATABASE_URL)")
    d.add_argument("--to", required=True, metavar="FOLDER", help="folder for nexus-pg-<time>.dump and its manifest")
    r = actions.add_parser("restore", parents=[common], help="pg_restore a dump into NEXUS_DATABASE_URL, verified")
    r.add_argument("file", metavar="FILE", help="a nexus-pg-<time>.dump written by `nexus db dump`")
    r.add_argument("--force", action="store_true", help="replace a database that already holds Nexus")


def _out(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    print(json.dumps(data, indent=2) if args.json else "\n".join(lines))


def run_db_command(args: argparse.Namespace, settings: Settings) -> int:
    # psycopg loads only for `nexus db`: every other command, `nexus serve` above all, starts without it
    from nexus_agent.db_copy import copy_sqlite_to_pg
    from nexus_agent.services_pg import PG_MIGRATIONS, SHARED_STORES, open_pg_database

    url = settings.database_url.get_secret_value() if settings.database_url else None
    if args.action == "copy":
        if not str(args.to).startswith(("postgresql://", "postgres://")):
            raise ConfigError("--to must be a postgresql:// URL", hint="e.g. --to postgresql://nexus@db:5432/nexus")
        source = open_database(settings)  # the SQLite home, migrated, so every copied table exists
        source.close()
        with open_pg_database(args.to) as target:
            report = copy_sqlite_to_pg(settings.db_path, target)
            where = target.path
        _out(args, {"copied": report.counts, "to": where}, [f"copied {settings.db_path} -> {where}", *report.lines()])
        return EXIT_OK
    if args.action in {"dump", "restore"}:
        return _dump_or_restore(args, url)
    sqlite_db = open_database(settings)  # applies SQLite migrations
    try:
        left = _left_in_sqlite(sqlite_db) if url else {}
    finally:
        sqlite_db.close()
    data: dict[str, Any] = {"sqlite": str(settings.db_path), "postgresql": None, "shared": []}
    lines = [f"SQLite {settings.db_path}: up to date"]
    if any(left.values()):
        data["left_in_sqlite"] = left
        lines.append(
            f"this home's SQLite file still holds {left['undelivered_events']} undelivered event(s) and "
            f"{left['open_instructions']} open instruction(s) from before the outbox moved to PostgreSQL; "
            "send the events with `NEXUS_DATABASE_URL= nexus events dispatch`"
        )
    if url:
        with open_pg_database(url, migrate=args.action == "migrate") as pg:
            pending = pg.pending_migrations(PG_MIGRATIONS)
            data.update(postgresql=pg.path, shared=list(SHARED_STORES), pending=pending)
            lines.append(f"PostgreSQL {pg.path}: " + (f"pending {', '.join(pending)}" if pending else "up to date"))
        lines.append(f"on PostgreSQL: {', '.join(SHARED_STORES)}; everything else in the SQLite file")
    else:
        lines.append("NEXUS_DATABASE_URL is not set: everything is in the SQLite file")
    data["sqlite_sets"] = [m.name for m in ALL_MIGRATIONS]
    _out(args, data, lines)
    return EXIT_OK


def _left_in_sqlite(database: Any) -> dict[str, int]:
    """What a replica's SQLite file still holds of the stores that moved to PostgreSQL (an upgraded replica)."""
    with database.read() as db:
        events = db.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight')").fetchone()[0]
        marks = "'pending', 'delivered', 'acknowledged'"
        instructions = db.execute(f"SELECT count(*) FROM instructions WHERE status IN ({marks})").fetchone()[0]
    return {"undelivered_events": int(events), "open_instructions": int(instructions)}


def _dump_or_restore(args: argparse.Namespace, url: str | None) -> int:
    from nexus_agent.db_dump import dump_database, restore_database
    from nexus_agent.services_pg import open_pg_database

    if not url:
        raise ConfigError(
            "NEXUS_DATABASE_URL is not set, so there is no PostgreSQL database to dump or restore",
            hint="Set it; for the SQLite file use `nexus backup create`.",
        )
    if args.action == "dump":
        with open_pg_database(url, migrate=False) as pg:
            done = dump_database(pg, Path(args.to).expanduser())
        lines = [f"wrote {done.path}", *(f"{t}: {n} rows" for t, n in done.counts.items())]
    else:
        with open_pg_database(url, migrate=False) as pg:
            done = restore_database(pg, Path(args.file).expanduser(), force=args.force)
        lines = [f"restored {done.path}; row counts match its manifest", *(f"{t}: {n}" for t, n in done.counts.items())]
    _out(args, {"path": str(done.path), "counts": done.counts}, lines)
    return EXIT_OK
