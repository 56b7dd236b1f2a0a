"""What ``nexus metrics``, ``nexus backup create|verify|restore`` and ``nexus recover`` do."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path

import anyio

from nexus_agent.cli_output import EXIT_FAILED, EXIT_OK, emit
from nexus_agent.config import Settings
from nexus_agent.ops.backup import create_backup, record_backup
from nexus_agent.ops.figures import compute_figures, parse_since
from nexus_agent.ops.restore import restore_backup, verify_backup
from nexus_agent.ops.secrets_box import SecretsKey
from nexus_agent.services import open_database
from nexus_agent.wire.errors import NexusError

__all__ = ["run_ops_command"]


def _key(args: argparse.Namespace) -> SecretsKey | None:
    phrase, key = getattr(args, "passphrase_file", None), getattr(args, "key_file", None)
    if phrase is None and key is None:
        return None
    return SecretsKey(passphrase_file=Path(phrase) if phrase else None, key_file=Path(key) if key else None)


def _metrics(args: argparse.Namespace, settings: Settings) -> int:
    window = parse_since(args.since)
    database = open_database(settings)
    shared = None
    try:
        if settings.database_url is not None:  # registrations are counted where the registry lives
            from nexus_agent.services_pg import open_pg_database

            shared = open_pg_database(settings.database_url.get_secret_value())
        with database.read() as db, shared.read() if shared else contextlib.nullcontext() as pg:
            figures = compute_figures(db.conn, time.time() - window, shared=pg)
            last = db.conn.execute("SELECT finished_at, ok, path FROM ops_backups ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        database.close()
        if shared is not None:
            shared.close()
    human = figures.to_text()
    if last is not None:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(last[0]))
        human += f"\n  last backup                  {when} UTC, {'ok' if last[1] else 'FAILED'} {last[2]}"
    emit(args, figures, human)
    return EXIT_OK


def backup_folder(settings: Settings, given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    return settings.backup_dir or settings.home / "backups"


def _create(args: argparse.Namespace, settings: Settings) -> int:
    started = time.time()
    try:
        result = create_backup(
            settings,
            backup_folder(settings, args.to),
            secrets_file=Path(args.secrets) if args.secrets else None,
            key=_key(args),
        )
    except NexusError as exc:
        _record(settings, started=started, ok=False, error=exc.message)
        raise
    _record(settings, started=started, ok=True, path=result.path, size=result.bytes)
    emit(args, result, result.to_text())
    return EXIT_OK


def _record(settings: Settings, *, started: float, ok: bool, path: str = "", size: int = 0, error: str = "") -> None:
    if not settings.db_path.exists():
        return
    database = open_database(settings)
    try:
        record_backup(database, started=started, ok=ok, trigger="cli", path=path, size=size, error=error)
    finally:
        database.close()


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "create":
        return _create(args, settings)
    if args.action == "verify":
        report = verify_backup(Path(args.file), key=_key(args))
        emit(args, report, report.to_text())
        return EXIT_OK if report.ok else EXIT_FAILED
    restored = restore_backup(
        settings,
        Path(args.file),
        force=args.force,
        key=_key(args),
        secrets_to=Path(args.secrets_to).expanduser() if args.secrets_to else None,
        skip_shared=args.skip_shared,
    )
    emit(args, restored, restored.to_text())
    return EXIT_OK


def _recover(args: argparse.Namespace, settings: Settings, secrets: Mapping[str, str]) -> int:
    from nexus_agent.ops.recover import run_recovery

    report = anyio.run(
        lambda: run_recovery(
            settings,
            Path(args.backup),
            force=args.force,
            resume=not args.skip_resume,
            secrets=secrets,
            skip_shared=args.skip_shared,
        )
    )
    emit(args, report, report.to_text())
    return EXIT_OK if report.ok else EXIT_FAILED


def run_ops_command(args: argparse.Namespace, settings: Settings, *, secrets: Mapping[str, str]) -> int:
    """``secrets``: the satellite variables the CLI resolved, read during the drill (never the whole environment)."""
    if args.command == "metrics":
        return _metrics(args, settings)
    if args.command == "backup":
        return _backup(args, settings)
    return _recover(args, settings, secrets)
