"""The shared PostgreSQL database inside a backup: ``pg_dump``, ``pg_restore --list``, ``pg_restore``.

With ``NEXUS_DATABASE_URL`` set, ``nexus backup create`` (and the daily backup) adds
``shared.pgdump`` to the archive: ``pg_dump --format=custom`` of the whole database, taken
inside one exported snapshot (``pg_dump --snapshot``) in which the row count of every table
is read too, so the counts in the manifest are exactly what the dump holds, even while
replicas write. Verify reads the dump without a server: ``pg_restore --list`` (its table of
contents) and then every data block (``pg_restore --file -``), counting the rows of each
table's ``COPY`` against the manifest, so a truncated or damaged dump fails. Restore loads it
with ``pg_restore --single-transaction`` (all or nothing) into an empty database, or over one
with ``--clean --if-exists`` when forced, refuses while other clients are connected, and
checks the row counts afterwards.

The tools must match the server: ``pg_dump`` refuses a newer server, so the tools are looked
up next to ``initdb``/``pg_ctl``, in ``/usr/lib/postgresql/<major>/bin`` and on the ``PATH``,
and the one of the server's major version is used (else a newer one). The password never
reaches a command line or a log: the child gets it in ``PGPASSWORD``, with only a default
``PATH`` besides.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from memory.pg.database import PgDatabase, redact_url
from nexus_agent.wire.errors import ConfigError, Conflict, InvalidInput, StorageError

__all__ = [
    "MEMBER",
    "PgTools",
    "check_dump",
    "child_env",
    "dump_shared",
    "find_tools",
    "restore_shared",
    "shared_counts",
]

#: The archive member holding the dump.
MEMBER = "shared.pgdump"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
_COPY = re.compile(r"^COPY (\S+) \(.*\) FROM stdin;$")
_TIMEOUT_S = 3600


@dataclass(frozen=True)
class PgTools:
    """``pg_dump`` and ``pg_restore`` of one PostgreSQL major version."""

    dump: str
    restore: str
    major: int
    version: str


def _bin_dirs() -> list[Path]:
    """Folders that may hold the client tools, most specific first."""
    dirs: list[Path] = []
    for name in ("initdb", "pg_ctl", "pg_dump"):
        found = shutil.which(name)
        if found:  # /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb: the real folder has pg_dump
            dirs += [Path(found).resolve().parent, Path(found).parent]
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    dirs += sorted(versioned, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    return list(dict.fromkeys(dirs))


def _version_of(tool: Path) -> tuple[int, str] | None:
    try:
        out = subprocess.run(
            [str(tool), "--version"], capture_output=True, text=True, timeout=30, env={"PATH": os.defpath}
        )
    except OSError:
        return None
    match = _VERSION.search(out.stdout)
    if out.returncode != 0 or match is None:
        return None
    return int(match.group(1)), match.group(0).split(")")[-1].strip()


def find_tools(major: int, *, dirs: Sequence[Path] | None = None) -> PgTools:
    """The tools of PostgreSQL ``major`` (else the oldest newer one); ConfigError saying what to install."""
    found: list[tuple[int, str, Path]] = []
    for folder in _bin_dirs() if dirs is None else dirs:
        dump, restore = folder / "pg_dump", folder / "pg_restore"
        if dump.is_file() and restore.is_file() and (got := _version_of(dump)) is not None:
            found.append((got[0], got[1], folder))
    usable = sorted((f for f in found if f[0] >= major), key=lambda f: f[0])
    if not usable:
        seen = ", ".join(f"{v} in {d}" for _, v, d in found) or "none"
        raise ConfigError(
            f"no pg_dump/pg_restore for PostgreSQL {major} or newer was found (found: {seen})",
            hint="Install the client tools of the server's version (Debian/Ubuntu: "
            f"apt install postgresql-client-{major}; they land in /usr/lib/postgresql/{major}/bin), "
            "or put their folder first on the PATH.",
        )
    got_major, version, folder = usable[0]
    return PgTools(str(folder / "pg_dump"), str(folder / "pg_restore"), got_major, version)


def child_env(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its password, and the environment that carries the password instead.

    The child gets only a default ``PATH`` and ``PGPASSWORD``: none of Nexus's own variables
    (tokens, secrets) and no stray ``PG*`` setting that would point it elsewhere. A password in
    the URL's query (``?password=``) is moved out too."""
    parts = urlsplit(url)
    env = {"PATH": os.defpath}
    query = parse_qsl(parts.query, keep_blank_values=True)
    password = unquote(parts.password) if parts.password is not None else None
    password = next((v for k, v in query if k == "password"), password)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", "@", 1)
    clean = parts._replace(netloc=netloc, query=urlencode([(k, v) for k, v in query if k != "password"]))
    if password is not None:
        env["PGPASSWORD"] = password
    return clean.geturl(), env


def _scrub(text: str, env: dict[str, str]) -> str:
    secret = env.get("PGPASSWORD")
    return text.replace(secret, "***") if secret else text


def _server(db: Any) -> tuple[int, str]:
    num = int(db.execute("SHOW server_version_num").fetchone()[0])
    return num // 10000, str(db.execute("SHOW server_version").fetchone()[0])


def shared_counts(db: Any) -> dict[str, int]:
    """Rows of every table outside the system schemas, as ``schema.table`` -> count."""
    rows = db.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    ).fetchall()
    counts = {}
    for schema, table in rows:
        quoted = '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))
        counts[f"{schema}.{table}"] = int(db.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    return counts


def _run(args: list[str], env: dict[str, str], what: str, url: str) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StorageError(f"{what} of {redact_url(url)} did not run: {exc}", hint="Check the tool.") from exc
    if done.returncode != 0:
        raise StorageError(
            f"{what} of {redact_url(url)} failed: {_scrub(done.stderr.strip()[-400:], env)}",
            hint="Check NEXUS_DATABASE_URL and that the server is up.",
        )


def dump_shared(url: str, dest: Path, *, dirs: Sequence[Path] | None = None) -> dict[str, Any]:
    """Write the dump to ``dest``; returns the manifest's ``postgresql`` section."""
    with PgDatabase(url, min_size=1, max_size=1) as database, database.read() as db:
        major, server_version = _server(db)
        tools = find_tools(major, dirs=dirs)
        snapshot = str(db.execute("SELECT pg_export_snapshot()").fetchone()[0])
        counts = shared_counts(db)  # the same snapshot pg_dump reads: the counts are the dump's
        target, env = child_env(url)
        args = [tools.dump, "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}"]
        _run([*args, "--file", str(dest), "--dbname", target], env, "pg_dump", url)
    return {
        "file": MEMBER,
        "database": redact_url(url),
        "server_version": server_version,
        "server_major": major,
        "pg_dump": tools.version,
        "counts": counts,
    }


def _copy_rows(lines: Iterable[str]) -> Iterator[tuple[str, int]]:
    """(table, rows) for each ``COPY … FROM stdin`` block of a plain SQL script."""
    table, rows = None, 0
    for line in lines:
        if table is None:
            match = _COPY.match(line.rstrip("\n"))
            if match:
                table, rows = match.group(1).replace('"', ""), 0
        elif line.rstrip("\n") == "\\.":
            yield table, rows
            table = None
        else:
            rows += 1  # COPY's text format escapes newlines in values: one line is one row
    if table is not None:
        raise ValueError(f"the data of {table} ends early")


def _read_all(restore: str, path: Path) -> dict[str, int]:
    """Every data block of the dump, read and counted per table (no server involved)."""
    with subprocess.Popen(
        [restore, "--file", "-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env={"PATH": os.defpath},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        counts: dict[str, int] = {}
        try:
            for table, rows in _copy_rows(proc.stdout):
                counts[table] = counts.get(table, 0) + rows
        finally:
            proc.stdout.read()  # drain what is left, so the tool finishes and its exit status is known
            err = proc.stderr.read()
            proc.wait(timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        raise ValueError(err.strip()[-300:] or f"pg_restore exited with {proc.returncode}")
    return counts


def check_dump(
    path: Path, section: dict[str, Any], *, dirs: Sequence[Path] | None = None
) -> list[tuple[str, bool, str]]:
    """(check name, ok, detail) for the dump at ``path`` against its manifest ``section``."""
    if not path.is_file():
        return [("shared database dump", False, f"the manifest lists {MEMBER} but the backup lacks it")]
    try:
        tools = find_tools(int(section.get("server_major") or 0), dirs=dirs)
    except ConfigError as exc:
        return [("shared database dump", False, f"{exc.message}. {exc.hint}")]
    listed = subprocess.run(
        [tools.restore, "--list", str(path)], capture_output=True, text=True, timeout=600, env={"PATH": os.defpath}
    )
    if listed.returncode != 0:
        return [("shared database dump", False, f"pg_restore --list fails: {listed.stderr.strip()[-300:]}")]
    entries = sum(1 for line in listed.stdout.splitlines() if line and not line.startswith(";"))
    listing = f"pg_restore --list: {entries} entries (pg_dump {section.get('pg_dump')})"
    checks = [("shared database dump", True, listing)]
    try:
        found = _read_all(tools.restore, path)
    except (ValueError, OSError, subprocess.TimeoutExpired) as exc:
        return [*checks, ("shared database rows", False, f"the dump's data cannot be read in full: {exc}")]
    expected: dict[str, int] = {k: int(v) for k, v in (section.get("counts") or {}).items()}
    differ = sorted(t for t in set(expected) | set(found) if expected.get(t, 0) != found.get(t, 0))
    if differ:
        detail = "differ (manifest, found): " + ", ".join(f"{t} {expected.get(t)}/{found.get(t)}" for t in differ)
        return [*checks, ("shared database rows", False, detail)]
    total = sum(expected.values())
    return [*checks, ("shared database rows", True, f"{total} rows in {len(expected)} tables match the manifest")]


def _other_clients(db: Any) -> list[str]:
    rows = db.execute(
        "SELECT coalesce(nullif(application_name, ''), 'a client'), coalesce(host(client_addr), 'local socket') "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    ).fetchall()
    return [f"{name} from {addr}" for name, addr in rows]


def _preflight(url: str, section: dict[str, Any], force: bool) -> PgTools:
    with PgDatabase(url, min_size=1, max_size=1) as database, database.read() as db:
        major, _ = _server(db)
        tables = int(
            db.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchone()[0]
        )
        others = _other_clients(db)
    if others:
        raise Conflict(
            f"{redact_url(url)} has {len(others)} other connection(s) ({', '.join(others[:5])})",
            hint="Stop every Nexus replica (and close other sessions) on this database, then restore again.",
        )
    if tables and not force:
        raise Conflict(
            f"{redact_url(url)} already holds {tables} table(s)",
            hint="Restore into an empty database (createdb), or pass --force to replace this one "
            "(pg_restore --clean: the tables in the dump are dropped and re-created).",
        )
    if major < int(section.get("server_major") or 0):
        raise InvalidInput(
            f"the dump comes from PostgreSQL {section.get('server_version')}, the target server is older ({major})",
            hint="Restore into a server of the same or a newer major version.",
        )
    return find_tools(major)


def restore_shared(url: str, path: Path, section: dict[str, Any], *, force: bool) -> str:
    """Load the dump into ``url`` (all or nothing) and check the row counts; returns what was done."""
    tools = _preflight(url, section, force)
    target, env = child_env(url)
    args = [tools.restore, "--single-transaction", "--no-owner", "--no-acl", "--dbname", target]
    if force:
        args += ["--clean", "--if-exists"]
    _run([*args, str(path)], env, "pg_restore", url)
    with PgDatabase(url, min_size=1, max_size=1) as database, database.read() as db:
        got = shared_counts(db)
    expected = {k: int(v) for k, v in (section.get("counts") or {}).items()}
    differ = sorted(t for t in expected if got.get(t) != expected[t])
    if differ:
        raise StorageError(
            "the restored database's row counts differ from the backup's: "
            + ", ".join(f"{t} {expected[t]}/{got.get(t)}" for t in differ),
            hint="Another process may have written during the restore; stop every replica and restore again.",
        )
    extra = sorted(set(got) - set(expected))
    note = f"; tables not in the backup left as they were: {', '.join(extra)}" if extra else ""
    return f"{redact_url(url)} ({sum(expected.values())} rows in {len(expected)} tables, counts match){note}"
