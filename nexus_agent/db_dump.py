"""Backups of the shared PostgreSQL part with ``pg_dump`` / ``pg_restore`` (``nexus db dump|restore``).

``dump`` writes ``nexus-pg-<UTC time>.dump`` (pg_dump's custom format) and, beside it,
``<same>.json``: the row counts of memory and the registry when the dump was taken.
``restore`` loads a dump into a database in one transaction (``--single-transaction``;
``--clean`` first when ``force``) and then checks the row counts against that manifest.
The password never appears on a command line: it goes to the tools in ``PGPASSWORD``; the
tools are those of the server's major version (:func:`nexus_agent.ops.backup_pg.find_tools`).
``nexus backup`` holds the same dump together with the replica's SQLite file and truth repository.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from memory.pg.database import PgDatabase, redact_url
from nexus_agent.db_copy import COPIED_TABLES
from nexus_agent.ops.backup_pg import PgTools, child_env, find_tools
from nexus_agent.wire.errors import Conflict, InvalidInput, StorageError

__all__ = ["DumpResult", "dump_database", "restore_database"]


@dataclass
class DumpResult:
    path: Path
    counts: dict[str, int]


def _tools(database: PgDatabase) -> PgTools:
    """pg_dump/pg_restore of the server's major version (pg_dump refuses a server newer than itself)."""
    with database.read() as db:
        major = int(db.execute("SHOW server_version_num").fetchone()[0]) // 10000
    return find_tools(major)


def _run(args: list[str], env: dict[str, str], what: str, url: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise StorageError(
            f"{what} of {redact_url(url)} failed: {done.stderr.strip()[-400:]}",
            hint="Check NEXUS_DATABASE_URL, the PostgreSQL client version (pg_dump must be as new as the server).",
        )


def dump_database(database: PgDatabase, folder: Path) -> DumpResult:
    """Dump the whole database into ``folder``; returns the file and the counts it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"nexus-pg-{stamp}.dump"
    counts = database.table_counts(COPIED_TABLES)
    url, env = child_env(database.url)
    _run(
        [_tools(database).dump, "--format=custom", "--no-owner", "--file", str(path), "--dbname", url],
        env,
        "pg_dump",
        url,
    )
    path.with_suffix(".json").write_text(json.dumps({"taken_at": stamp, "counts": counts}, indent=2))
    return DumpResult(path=path, counts=counts)


def restore_database(database: PgDatabase, path: Path, *, force: bool = False) -> DumpResult:
    """Load ``path`` into ``database`` (empty, or anything when ``force``), then verify the row counts."""
    manifest_path = path.with_suffix(".json")
    if not path.is_file() or not manifest_path.is_file():
        raise InvalidInput(
            f"{path} is not a Nexus PostgreSQL dump with its .json manifest", hint="Use `nexus db dump`."
        )
    expected = {k: int(v) for k, v in json.loads(manifest_path.read_text())["counts"].items()}
    with database.read() as db:
        has_tables = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'apps'").fetchone()
    if has_tables and has_tables[0] and not force:
        raise Conflict(
            f"{database.path} already holds a Nexus database",
            hint="Restore into a new, empty database, or pass --force to replace this one (stop every replica first).",
        )
    url, env = child_env(database.url)
    args = [_tools(database).restore, "--no-owner", "--single-transaction", "--dbname", url]
    if force:
        args += ["--clean", "--if-exists"]
    _run([*args, str(path)], env, "pg_restore", url)
    got = database.table_counts(COPIED_TABLES)
    if got != expected:
        raise StorageError(
            f"the restored row counts differ from the dump's manifest ({got} != {expected})",
            hint="The dump may be damaged; try an older one.",
        )
    return DumpResult(path=path, counts=got)
