"""Backups of the shared PostgreSQL part with ``pg_dump`` / ``pg_restore`` (``nexus db dump|restore``).

``dump`` writes ``nexus-pg-<UTC time>.dump`` (pg_dump's custom format) and, beside it,
``<same>.json``: the row counts of memory and the registry when the dump was taken.
``restore`` loads a dump into a database in one transaction (``--single-transaction``;
``--clean`` first when ``force``) and then checks the row counts against that manifest.
The password never appears on a command line: it goes to the tools in ``PGPASSWORD``.
``nexus backup`` still covers each replica's SQLite file and the truth repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from memory.pg.database import PgDatabase, redact_url
from nexus_agent.db_copy import COPIED_TABLES
from nexus_agent.wire.errors import ConfigError, Conflict, InvalidInput, StorageError

__all__ = ["DumpResult", "dump_database", "restore_database"]


@dataclass
class DumpResult:
    path: Path
    counts: dict[str, int]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"{name} is not on the PATH",
            hint="Install the PostgreSQL client tools (e.g. apt install postgresql-client).",
        )
    return found


def _split(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password instead.

    The child gets only a default ``PATH`` (the tool is called by its full path) and ``PGPASSWORD``: none of
    Nexus's own variables (tokens, secrets) and no stray ``PG*`` setting that would redirect the dump."""
    parts = urlsplit(url)
    env = {"PATH": os.defpath}
    if parts.password is None:
        return url, env
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    return parts._replace(netloc=netloc).geturl(), {**env, "PGPASSWORD": unquote(parts.password)}


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
    url, env = _split(database.url)
    _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(path), "--dbname", url], env, "pg_dump", url)
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
    url, env = _split(database.url)
    args = [_tool("pg_restore"), "--no-owner", "--single-transaction", "--dbname", url]
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
