"""``nexus backup create``: a consistent copy of a Nexus home while Nexus runs.

The database is copied with SQLite's online backup API from a connection of its own
(a read snapshot: writers carry on, the copy is one consistent moment); the local
truth repository is copied as a ``git bundle --all``; a manifest records checksums,
row counts and the truth's head. See :mod:`nexus_agent.ops.archive` for the file
layout and :mod:`nexus_agent.ops.restore` for verify and restore.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from memory.database import Database
from nexus_agent import __version__
from nexus_agent.config import Settings
from nexus_agent.ops.archive import pack, sha256_file
from nexus_agent.ops.secrets_box import SecretsKey, encrypt
from nexus_agent.truth.local_git import git_search_path
from nexus_agent.wire.errors import InvalidInput, NexusError, StorageError

__all__ = [
    "COUNTED_TABLES",
    "BackupResult",
    "create_backup",
    "git",
    "list_backups",
    "prune_backups",
    "record_backup",
    "table_counts",
]

log = logging.getLogger("nexus.ops.backup")

#: Tables whose row counts the manifest records and verify compares.
COUNTED_TABLES = (
    "apps", "app_status_history", "conversations", "messages", "notes", "decisions", "plans", "plan_steps",
    "memory_index", "instructions", "instruction_history", "outbox", "planner_runs",
)  # fmt: skip
PREFIX, SUFFIX = "nexus-backup-", ".tar.gz"


class BackupResult(BaseModel):
    path: str
    bytes: int
    seconds: float
    counts: dict[str, int]
    shared: dict[str, int] = Field(
        default_factory=dict, description="Rows per table of the PostgreSQL dump (NEXUS_DATABASE_URL), if any."
    )
    truth: str = Field(description="What was copied of the truth source.")
    secrets: bool = False
    warnings: list[str] = Field(default_factory=list, description="What this backup does not hold.")

    def to_text(self) -> str:
        rows = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return (
            f"backup written: {self.path} ({self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s)\n"
            f"rows: {rows or 'none'}\n{self._shared_text()}truth: {self.truth}\n"
            f"secrets: {'encrypted copy included' if self.secrets else 'not included'}"
        ) + "".join(f"\nWARNING: {w}" for w in self.warnings)

    def _shared_text(self) -> str:
        if not self.shared:
            return ""
        rows = ", ".join(f"{k.removeprefix('public.')} {v}" for k, v in self.shared.items() if v)
        return f"PostgreSQL (pg_dump, {len(self.shared)} tables): {rows or 'no rows'}\n"


def git(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run git with a fixed argument list (never a shell), no prompts, no user config."""
    env = {"PATH": git_search_path(), "GIT_TERMINAL_PROMPT": "0", "HOME": tempfile.gettempdir()}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in COUNTED_TABLES if t in have}
    finally:
        conn.close()


def snapshot_database(source: Path, dest: Path) -> None:
    """Copy a live database with the online backup API; the copy is a single file (journal mode DELETE)."""
    if not source.is_file():
        raise InvalidInput(f"there is no database at {source}", hint="Point --home / NEXUS_HOME at a Nexus home.")
    src = sqlite3.connect(source, timeout=30)  # read-write open: a WAL database needs its -shm
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot copy the database {source}: {exc}", hint="Run `nexus doctor`.") from exc
    finally:
        dst.close()
        src.close()


def bundle_truth(settings: Settings, dest: Path) -> tuple[str, str | None]:
    """(what was done, head commit) — writes ``dest`` when there is a local repository with commits."""
    if settings.truth.kind != "local":
        return f"{settings.truth.kind}: kept by the remote service, not copied", None
    root = settings.truth_path
    if not (root / ".git").exists():
        return "local: no repository yet", None
    head = git("rev-parse", "--verify", "HEAD", cwd=root)
    if head.returncode != 0:
        return "local: repository has no commits yet", None
    made = git("bundle", "create", str(dest), "--all", cwd=root)
    if made.returncode != 0:
        raise StorageError(
            f"git bundle of the truth repository {root} failed: {made.stderr.strip()[:300]}",
            hint="Check the repository with `git -C <truth> fsck`.",
        )
    return f"local: git bundle of {root}", head.stdout.strip()


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


def create_backup(
    settings: Settings,
    to_dir: Path,
    *,
    secrets_file: Path | None = None,
    key: SecretsKey | None = None,
    clock: Any = time.time,
) -> BackupResult:
    """Write one backup file into ``to_dir`` and return what it holds."""
    if secrets_file is not None and key is None:
        raise InvalidInput(
            "--secrets needs a key to encrypt with", hint="Add --passphrase-file FILE or --key-file FILE."
        )
    started = clock()
    to_dir = to_dir.expanduser()
    try:
        to_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {to_dir}: {exc.strerror or exc}", hint="Give a writable folder.") from exc
    dest = to_dir / f"{PREFIX}{_stamp(started)}{SUFFIX}"
    if dest.exists():
        raise InvalidInput(f"{dest} already exists", hint="Wait a second and try again.")
    with tempfile.TemporaryDirectory(prefix=".nexus-backup-", dir=to_dir) as work:
        workdir = Path(work)
        db_copy = workdir / "nexus.db"
        files = []
        if settings.database_url is None or settings.db_path.is_file():  # on PostgreSQL: if this home has one
            snapshot_database(settings.db_path, db_copy)
            files.append(db_copy)
        truth_text, head = bundle_truth(settings, workdir / "truth.bundle")
        if head is not None:
            files.append(workdir / "truth.bundle")
        shared = _dump_shared(settings, workdir)
        if shared is not None:
            files.append(workdir / shared["file"])
        manifest: dict[str, Any] = {
            "format": "nexus-backup",
            "version": 1,
            "created_at": datetime.fromtimestamp(started, UTC).isoformat(),
            "created_unix": started,
            "nexus_version": __version__,
            "counts": table_counts(db_copy) if db_copy.exists() else {},
            "truth": {"kind": settings.truth.kind, "head": head, "detail": truth_text},
            "warnings": [],
        }
        if shared is not None:
            manifest["postgresql"] = shared
        if secrets_file is not None and key is not None:
            manifest["secrets"] = _encrypt_secrets(secrets_file, key, workdir / "secrets.enc")
            files.append(workdir / "secrets.enc")
        manifest["files"] = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files}
        pack(dest, manifest, files)
    return BackupResult(
        path=str(dest),
        bytes=dest.stat().st_size,
        seconds=round(clock() - started, 3),
        counts=manifest["counts"],
        shared=(shared or {}).get("counts", {}),
        truth=truth_text,
        secrets=secrets_file is not None,
        warnings=manifest["warnings"],
    )


def _dump_shared(settings: Settings, workdir: Path) -> dict[str, Any] | None:
    """With NEXUS_DATABASE_URL, ``pg_dump`` of the shared database into the work folder (its manifest section)."""
    if settings.database_url is None:
        return None
    from nexus_agent.ops.backup_pg import MEMBER, dump_shared  # psycopg loads only when PostgreSQL is used

    return dump_shared(settings.database_url.get_secret_value(), workdir / MEMBER)


def _encrypt_secrets(source: Path, key: SecretsKey, dest: Path) -> dict[str, Any]:
    try:
        plaintext = source.expanduser().read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc
        raise InvalidInput(f"cannot read {source}: {reason}", hint="Give a readable secrets file.") from exc
    token, params = encrypt(plaintext, key)
    dest.write_bytes(token)
    return {"name": source.name, **params}


def list_backups(folder: Path) -> list[Path]:
    """Backup files in ``folder``, oldest first (the time is in the name)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns what was deleted."""
    backups = list_backups(folder)
    doomed = backups[: max(0, len(backups) - max(1, keep))]
    for path in doomed:
        path.unlink(missing_ok=True)
    for stale in folder.glob(f"{PREFIX}*{SUFFIX}.partial"):  # a backup cut short by a crash
        stale.unlink(missing_ok=True)
    for leftover in folder.glob(".nexus-backup-*"):  # work folders of backups killed over a day ago
        if time.time() - leftover.stat().st_mtime > 86_400:
            shutil.rmtree(leftover, ignore_errors=True)
    return doomed


def record_backup(
    database: Database,
    *,
    started: float,
    ok: bool,
    trigger: str,
    path: str = "",
    size: int = 0,
    error: str = "",
    finished: float | None = None,
) -> None:
    """Remember a backup in ``ops_backups`` (status page, health, metrics)."""
    try:
        with database.write() as db:
            db.execute(
                "INSERT INTO ops_backups (started_at, finished_at, ok, trigger, path, bytes, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [started, time.time() if finished is None else finished, int(ok), trigger, path, size, error[:2000]],
            )
    except NexusError as exc:
        log.warning("backup not recorded in the database: %s", exc.message)
