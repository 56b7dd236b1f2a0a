"""``nexus backup verify`` and ``nexus backup restore``.

Verify unpacks into a temporary folder and checks everything a restore would rely on:
each member's SHA-256 against the manifest, ``PRAGMA integrity_check`` and the Nexus
application id of the database, row counts against the manifest, the truth bundle
(``git bundle verify`` inside a clone made from it, and its head), and the secrets copy
when a key is given, and the shared PostgreSQL dump when there is one (``pg_restore --list``,
then every row read and counted: :mod:`nexus_agent.ops.backup_pg`). Restore runs the same checks
first, refuses to overwrite a live home without ``force`` (and while ``nexus serve`` runs on it,
even with ``force``), builds the new database and truth repository beside the old ones and
then renames them into place; what they replace is kept, renamed. A PostgreSQL dump is loaded
first, in one transaction, into ``NEXUS_DATABASE_URL`` (an empty database, or any with
``force``), so a failure there leaves the home untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from memory.database import APPLICATION_ID
from nexus_agent.config import Settings
from nexus_agent.ops.archive import MANIFEST, sha256_file, unpack
from nexus_agent.ops.backup import git, table_counts
from nexus_agent.ops.secrets_box import SecretsKey, decrypt
from nexus_agent.ops.serve_lock import exclusive_home
from nexus_agent.wire.errors import Conflict, InvalidInput

__all__ = ["Check", "RestoreReport", "VerifyReport", "restore_backup", "verify_backup"]


class Check(BaseModel):
    name: str
    ok: bool
    detail: str = ""


class VerifyReport(BaseModel):
    path: str
    ok: bool
    created_at: str = ""
    counts: dict[str, int] = {}
    shared: dict[str, int] = {}
    checks: list[Check]

    def to_text(self) -> str:
        lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        verdict = "backup verified" if self.ok else "backup FAILED verification"
        return "\n".join([*lines, f"{verdict}: {self.path} (taken {self.created_at or 'unknown'})"])


class RestoreReport(BaseModel):
    path: str
    database: str
    truth: str
    kept_aside: list[str]
    counts: dict[str, int]
    secrets: str = ""
    shared: str = ""

    def to_text(self) -> str:
        lines = [f"restored {self.path}", f"database: {self.database}", f"truth: {self.truth}"]
        lines += [f"PostgreSQL: {self.shared}"] if self.shared else []
        lines += [f"the previous copy is kept at {p}" for p in self.kept_aside]
        lines += [f"secrets: {self.secrets}"] if self.secrets else []
        return "\n".join(lines)


def _check_files(work: Path, manifest: dict[str, Any]) -> list[Check]:
    listed: dict[str, Any] = manifest.get("files") or {}
    present = {p.name for p in work.iterdir()} - {MANIFEST}
    checks = []
    for name in sorted(present | set(listed)):
        if name not in listed:
            checks.append(Check(name=f"checksum {name}", ok=False, detail="in the archive but not in the manifest"))
        elif name not in present:
            checks.append(Check(name=f"checksum {name}", ok=False, detail="listed in the manifest but missing"))
        else:
            ok = sha256_file(work / name) == listed[name].get("sha256")
            checks.append(Check(name=f"checksum {name}", ok=ok, detail="matches" if ok else "does NOT match"))
    return checks


def _check_database(db: Path, manifest: dict[str, Any]) -> tuple[list[Check], dict[str, int]]:
    if not db.is_file():
        if manifest.get("postgresql") and "nexus.db" not in (manifest.get("files") or {}):
            return [Check(name="database", ok=True, detail="no SQLite file: taken on a home without one")], {}
        return [Check(name="database", ok=False, detail="no nexus.db in the backup")], {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        finally:
            conn.close()
        counts = table_counts(db)
    except sqlite3.Error as exc:
        return [Check(name="database integrity", ok=False, detail=f"unreadable: {exc}")], {}
    expected = manifest.get("counts") or {}
    tables = set(expected) | set(counts)
    differ = {t: (expected.get(t), counts.get(t)) for t in tables if expected.get(t) != counts.get(t)}
    return [
        Check(name="database integrity", ok=result == ["ok"], detail="; ".join(result)[:500]),
        Check(name="database identity", ok=app_id == APPLICATION_ID, detail=f"application_id {app_id:#x}"),
        Check(
            name="row counts",
            ok=not differ,
            detail=f"{sum(counts.values())} rows in {len(counts)} tables match the manifest"
            if not differ
            else "differ (manifest, found): " + ", ".join(f"{t} {a}/{b}" for t, a, b in _triples(differ)),
        ),
    ], counts


def _triples(differ: dict[str, tuple[int | None, int | None]]) -> list[tuple[str, int | None, int | None]]:
    return [(t, a, b) for t, (a, b) in sorted(differ.items())]


def _check_truth(work: Path, manifest: dict[str, Any], clone_to: Path) -> list[Check]:
    truth = manifest.get("truth") or {}
    bundle = work / "truth.bundle"
    if not truth.get("head"):
        return [Check(name="truth", ok=not bundle.exists(), detail=truth.get("detail", "not in this backup"))]
    if not bundle.is_file():
        return [Check(name="truth bundle", ok=False, detail="the manifest lists a truth head but there is no bundle")]
    cloned = git("clone", "-q", str(bundle), str(clone_to))
    if cloned.returncode != 0:
        return [Check(name="truth bundle", ok=False, detail=f"cannot clone: {cloned.stderr.strip()[:300]}")]
    verified = git("bundle", "verify", str(bundle), cwd=clone_to)
    head = git("rev-parse", "HEAD", cwd=clone_to).stdout.strip()
    git("remote", "remove", "origin", cwd=clone_to)
    return [
        Check(name="truth bundle", ok=verified.returncode == 0, detail=(verified.stderr or "ok").strip()[-300:]),
        Check(name="truth head", ok=head == truth["head"], detail=f"{head[:12]} (manifest {truth['head'][:12]})"),
    ]


def _check_secrets(work: Path, manifest: dict[str, Any], key: SecretsKey | None) -> tuple[list[Check], bytes | None]:
    params = manifest.get("secrets")
    if not params:
        return [], None
    if key is None:
        return [Check(name="secrets", ok=True, detail="encrypted copy present (give its key to check it opens)")], None
    try:
        plaintext = decrypt((work / "secrets.enc").read_bytes(), key, params)
    except (InvalidInput, OSError) as exc:
        return [Check(name="secrets", ok=False, detail=str(getattr(exc, "message", exc)))], None
    return [Check(name="secrets", ok=True, detail=f"opens with the key ({len(plaintext)} bytes)")], plaintext


def _check_shared(work: Path, manifest: dict[str, Any]) -> list[Check]:
    section = manifest.get("postgresql")
    if not section:
        return []
    from nexus_agent.ops.backup_pg import MEMBER, check_dump  # psycopg loads only for PostgreSQL backups

    return [Check(name=name, ok=ok, detail=detail) for name, ok, detail in check_dump(work / MEMBER, section)]


def _verify_into(path: Path, work: Path, key: SecretsKey | None) -> tuple[VerifyReport, bytes | None]:
    try:
        manifest = unpack(path, work)
    except InvalidInput as exc:
        failed = Check(name="archive", ok=False, detail=exc.message)
        return VerifyReport(path=str(path), ok=False, checks=[failed]), None
    checks = [Check(name="archive", ok=True, detail=f"format {manifest.get('format')} v{manifest.get('version')}")]
    checks += _check_files(work, manifest)
    db_checks, counts = _check_database(work / "nexus.db", manifest)
    checks += db_checks
    checks += _check_truth(work, manifest, work / "truth")
    checks += _check_shared(work, manifest)
    secret_checks, plaintext = _check_secrets(work, manifest, key)
    checks += secret_checks
    report = VerifyReport(
        path=str(path),
        ok=all(c.ok for c in checks),
        created_at=str(manifest.get("created_at", "")),
        counts=counts,
        shared=(manifest.get("postgresql") or {}).get("counts") or {},
        checks=checks,
    )
    return report, plaintext


def verify_backup(path: Path, *, key: SecretsKey | None = None) -> VerifyReport:
    """Restore ``path`` into a temporary folder and check it; nothing else is touched."""
    with tempfile.TemporaryDirectory(prefix="nexus-verify-") as work:
        report, _ = _verify_into(path.expanduser(), Path(work), key)
    return report


def _is_live(settings: Settings) -> list[str]:
    live = []
    if settings.db_path.exists() and settings.db_path.stat().st_size > 0:
        live.append(str(settings.db_path))
    if settings.truth_path.exists() and any(settings.truth_path.iterdir()):
        live.append(str(settings.truth_path))
    return live


def _move_aside(path: Path, stamp: str) -> Path:
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    os.rename(path, aside)
    for suffix in ("-wal", "-shm"):  # a database's WAL belongs to it: it moves (or goes) with it
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.rename(extra, aside.with_name(aside.name + suffix))
    return aside


def restore_backup(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    key: SecretsKey | None = None,
    secrets_to: Path | None = None,
    skip_shared: bool = False,
) -> RestoreReport:
    """Verify ``path``, then put its database and truth repository in place of the home's.

    A PostgreSQL dump in the backup goes into ``settings.database_url`` first (unless ``skip_shared``:
    the other replicas of a fleet restore only their own files). Refused while ``nexus serve`` runs on
    the home (even with ``force``): see ``serve_lock``; on PostgreSQL, while any other client is connected.
    """
    with exclusive_home(settings):
        return _restore(settings, path, force=force, key=key, secrets_to=secrets_to, skip_shared=skip_shared)


def _restore(
    settings: Settings,
    path: Path,
    *,
    force: bool,
    key: SecretsKey | None,
    secrets_to: Path | None,
    skip_shared: bool = False,
) -> RestoreReport:
    live = _is_live(settings)
    if live and not force:
        raise Conflict(
            f"refusing to overwrite a Nexus home that holds data: {', '.join(live)}",
            hint="Stop `nexus serve`, then run again with --force (the current copy is kept aside, renamed), "
            "or restore into a new home with --home DIR.",
        )
    if secrets_to is not None and (key is None or (secrets_to.exists() and not force)):
        raise InvalidInput(
            f"cannot write the secrets to {secrets_to}",
            hint="--secrets-to needs --passphrase-file or --key-file, and a path that does not exist yet (or --force).",
        )
    db_dir = settings.db_path.parent
    db_dir.mkdir(parents=True, exist_ok=True)
    settings.truth_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".nexus-restore-", dir=db_dir) as work:
        report, plaintext = _verify_into(path.expanduser(), Path(work), key)
        if not report.ok:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in report.checks if not c.ok)
            raise InvalidInput(f"the backup {path} failed verification ({failed})", hint="Restore another backup.")
        shared = _restore_shared(settings, Path(work), force=force, skip=skip_shared)
        restored = _swap_in(settings, Path(work), report, path, secrets_to, plaintext)
        restored.shared = shared
        return restored


def _restore_shared(settings: Settings, work: Path, *, force: bool, skip: bool) -> str:
    """Load the backup's PostgreSQL dump into NEXUS_DATABASE_URL (before the home is touched)."""
    section = json.loads((work / MANIFEST).read_text()).get("postgresql")
    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    if not section:
        return "not in this backup (taken on SQLite); the database is left as it is" if url else ""
    if skip:
        return "left as it is (--skip-shared); the backup's dump was not loaded"
    if url is None:
        raise InvalidInput(
            "this backup holds the shared PostgreSQL database, and NEXUS_DATABASE_URL is not set",
            hint="Set NEXUS_DATABASE_URL to the database to restore into (an empty one, or --force to replace "
            "one), or pass --skip-shared to restore only this replica's files.",
        )
    from nexus_agent.ops.backup_pg import MEMBER, restore_shared

    return restore_shared(url, work / MEMBER, section, force=force)


def _swap_in(
    settings: Settings, work: Path, report: VerifyReport, path: Path, secrets_to: Path | None, plaintext: bytes | None
) -> RestoreReport:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept: list[str] = []
    # Same filesystem as the target, so the renames below are atomic.
    staged_db = None
    if (work / "nexus.db").is_file():
        staged_db = settings.db_path.with_name(f".{settings.db_path.name}.restoring-{stamp}")
        os.replace(work / "nexus.db", staged_db)
    staged_truth = None
    if (work / "truth").is_dir():
        staged_truth = settings.truth_path.with_name(f".{settings.truth_path.name}.restoring-{stamp}")
        os.rename(work / "truth", staged_truth)
    database = "not in this backup (left as it is)"
    if staged_db is not None:
        if settings.db_path.exists():
            kept.append(str(_move_aside(settings.db_path, stamp)))
        os.replace(staged_db, settings.db_path)
        database = f"{settings.db_path} ({sum(report.counts.values())} rows, taken {report.created_at})"
    truth_text = "not in this backup (left as it is)"
    if staged_truth is not None:
        if settings.truth_path.exists():
            kept.append(str(_move_aside(settings.truth_path, stamp)))
        os.rename(staged_truth, settings.truth_path)
        head = next((c.detail[:12] for c in report.checks if c.name == "truth head"), "?")
        truth_text = f"{settings.truth_path} (head {head})"
    secrets_text = ""
    if secrets_to is not None and plaintext is not None:
        fd = os.open(secrets_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(plaintext)
        secrets_text = f"decrypted to {secrets_to} (mode 600)"
    return RestoreReport(
        path=str(path),
        database=database,
        truth=truth_text,
        kept_aside=kept,
        counts=report.counts,
        secrets=secrets_text,
    )
