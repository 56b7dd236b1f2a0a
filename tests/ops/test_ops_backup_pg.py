"""``nexus backup`` on PostgreSQL: pg_dump into the backup, pg_restore out of it, against a real server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.ops import backup_pg
from nexus_agent.ops.archive import pack
from nexus_agent.ops.backup import create_backup, list_backups
from nexus_agent.ops.restore import restore_backup, verify_backup
from nexus_agent.testing.postgres import create_database, drop_database
from nexus_agent.wire.errors import ConfigError, Conflict, InvalidInput

EXAMPLE = Path(__file__).parents[2] / "examples" / "quote-engine.json"
SHARED_TABLES = ("public.notes", "public.memory_index", "public.apps", "public.app_status_history")


def env_for(home: Path, url: str) -> dict[str, str]:
    return {"NEXUS_HOME": str(home), "NEXUS_DATABASE_URL": url, "NEXUS_DB_SYNC": "normal"}


def nexus(env: dict[str, str], *argv: str) -> int:
    return main([*argv], env=env)


def counts(url: str, *, of: Any = backup_pg.shared_counts) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(of(conn))


def populated(tmp_path: Path, url: str, notes: int = 3) -> dict[str, str]:
    env = env_for(tmp_path / "home", url)
    assert nexus(env, "registry", "register", str(EXAMPLE)) == 0
    for i in range(notes):
        assert nexus(env, "memory", "remember", f"glazing bead order {i} for the Harrogate showroom") == 0
    return env


def only_backup(folder: Path) -> Path:
    files = list_backups(folder)
    assert len(files) == 1, files
    return files[0]


def test_a_backup_brings_the_shared_database_back_after_its_data_is_lost(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = populated(tmp_path, pg_url)
    before = counts(pg_url)
    assert all(before[t] > 0 for t in SHARED_TABLES), before
    assert nexus(env, "backup", "create", "--to", str(tmp_path / "b")) == 0
    backup = only_backup(tmp_path / "b")
    assert nexus(env, "backup", "verify", str(backup)) == 0
    assert "ok   shared database rows" in capsys.readouterr().out

    with psycopg.connect(pg_url, autocommit=True) as conn:  # the loss: memory wiped, an app renamed, a table gone
        conn.execute("DELETE FROM memory_index")
        conn.execute("DELETE FROM notes")
        conn.execute("UPDATE apps SET name = 'Vandalised'")
        conn.execute("DROP TABLE app_status_history")
    assert nexus(env, "backup", "restore", str(backup)) != 0  # the home and the database hold data: --force
    capsys.readouterr()
    assert nexus(env, "backup", "restore", str(backup), "--force") == 0
    assert "counts match" in capsys.readouterr().out

    assert counts(pg_url) == before
    assert nexus(env, "memory", "search", "Harrogate glazing") == 0
    assert "order 2" in capsys.readouterr().out
    assert nexus(env, "registry", "show", "quote-engine") == 0
    assert "Vandalised" not in capsys.readouterr().out


def test_a_backup_restores_into_a_new_home_and_an_empty_database(
    tmp_path: Path, pg_url: str, pg_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = populated(tmp_path, pg_url, notes=2)
    result = create_backup(Settings.load(env), tmp_path / "b")
    assert result.shared["public.notes"] == 2 and "PostgreSQL (pg_dump" in result.to_text()
    fresh = create_database(pg_server, "nexus_backup_fresh")
    try:
        new_env = env_for(tmp_path / "new-home", fresh)
        assert nexus(new_env, "backup", "restore", result.path) == 0
        assert counts(fresh) == counts(pg_url)
        capsys.readouterr()
        assert nexus(new_env, "memory", "search", "glazing bead") == 0
        assert "order 1" in capsys.readouterr().out
    finally:
        drop_database(pg_server, "nexus_backup_fresh")


def test_the_dump_and_its_counts_are_one_moment_while_writes_go_on(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    populated(tmp_path, pg_url, notes=1)
    real_counts = backup_pg.shared_counts

    def a_replica_writes_first(db: Any) -> dict[str, int]:  # a note committed after the snapshot was taken
        with psycopg.connect(pg_url, autocommit=True) as writer:
            writer.execute("INSERT INTO notes (title, text, author, created_at) VALUES ('', 'late', 'x', 0)")
        return real_counts(db)

    monkeypatch.setattr(backup_pg, "shared_counts", a_replica_writes_first)
    section = backup_pg.dump_shared(pg_url, tmp_path / "shared.pgdump")
    assert section["counts"]["public.notes"] == 1  # not the late note: the counts and the dump share a snapshot
    assert counts(pg_url)["public.notes"] == 2
    assert backup_pg.check_dump(tmp_path / "shared.pgdump", section)[-1][1:] == (
        True,
        f"{sum(section['counts'].values())} rows in {len(section['counts'])} tables match the manifest",
    )


def _repack_with(backup: Path, work: Path, damage: Any) -> Path:
    """A copy of ``backup`` whose dump went through ``damage``, its checksum updated to match."""
    with tarfile.open(backup, "r:gz") as tar:
        tar.extractall(work, filter="data")
    manifest = json.loads((work / "manifest.json").read_text())
    dump = work / backup_pg.MEMBER
    damage(dump)
    manifest["files"][dump.name] = {"sha256": hashlib.sha256(dump.read_bytes()).hexdigest(), "bytes": 0}
    out = backup.with_name("nexus-backup-20000101T000000Z.tar.gz")
    pack(out, manifest, [work / name for name in manifest["files"]])
    return out


def test_verify_catches_a_truncated_dump(tmp_path: Path, pg_url: str) -> None:
    env = populated(tmp_path, pg_url, notes=20)
    backup = Path(create_backup(Settings.load(env), tmp_path / "b").path)
    for keep in (2 / 3, 0.98):

        def truncate(dump: Path) -> None:
            body = dump.read_bytes()
            dump.write_bytes(body[: int(len(body) * keep)])  # noqa: B023  (used at once)

        # The checksum is made to match, so only reading the dump itself can find the damage.
        broken = _repack_with(backup, tmp_path / f"work-{keep}", truncate)
        report = verify_backup(broken)
        failed = {c.name for c in report.checks if not c.ok}
        assert failed and failed <= {"shared database dump", "shared database rows"}, report.to_text()
        with pytest.raises(InvalidInput, match="failed verification"):
            restore_backup(Settings.load(env_for(tmp_path / "other", pg_url)), broken)
        broken.unlink()


def test_verify_catches_rows_missing_from_the_manifest(tmp_path: Path, pg_url: str) -> None:
    env = populated(tmp_path, pg_url, notes=2)
    backup = Path(create_backup(Settings.load(env), tmp_path / "b").path)
    with tarfile.open(backup, "r:gz") as tar:
        tar.extractall(tmp_path / "w", filter="data")
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    manifest["postgresql"]["counts"]["public.notes"] = 3
    files = [tmp_path / "w" / name for name in manifest["files"]]
    tampered = backup.with_name("nexus-backup-20000101T000000Z.tar.gz")
    pack(tampered, manifest, files)
    report = verify_backup(tampered)
    assert not report.ok and "public.notes 3/2" in report.to_text()


def test_restore_refuses_while_another_client_is_connected(tmp_path: Path, pg_url: str) -> None:
    env = populated(tmp_path, pg_url, notes=1)
    backup = Path(create_backup(Settings.load(env), tmp_path / "b").path)
    with psycopg.connect(pg_url, application_name="replica-b"), pytest.raises(Conflict, match="replica-b"):
        restore_backup(Settings.load(env_for(tmp_path / "new", pg_url)), backup, force=True)


def test_a_postgresql_backup_needs_a_database_to_restore_into(tmp_path: Path, pg_url: str) -> None:
    env = populated(tmp_path, pg_url, notes=1)
    backup = Path(create_backup(Settings.load(env), tmp_path / "b").path)
    plain = Settings.load({"NEXUS_HOME": str(tmp_path / "sqlite-home")})
    with pytest.raises(InvalidInput, match="NEXUS_DATABASE_URL is not set"):
        restore_backup(plain, backup)
    assert not (tmp_path / "sqlite-home" / "nexus.db").exists()  # refused before the home was touched
    restored = restore_backup(plain, backup, skip_shared=True)  # another replica of the fleet: its own files
    assert "--skip-shared" in restored.shared


def test_the_password_reaches_the_tools_only_in_their_environment(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_password = pg_url.replace("postgres@", "postgres:s3cret-Pa55@", 1)  # the test cluster trusts it anyway
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        seen.append((list(args), dict(kwargs.get("env") or {})))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backup_pg.subprocess, "run", spy)
    backup_pg.dump_shared(with_password, tmp_path / "d.pgdump")
    dumps = [(args, env) for args, env in seen if args[0].endswith("pg_dump") and "--version" not in args]
    assert dumps, seen
    for args, env in dumps:
        assert not any("s3cret" in a for a in args)
        assert env == {"PATH": env["PATH"], "PGPASSWORD": "s3cret-Pa55"}
    url, env = backup_pg.child_env("postgresql://u@db/nexus?sslmode=require&password=q%2Fx")
    assert url == "postgresql://u@db/nexus?sslmode=require" and env["PGPASSWORD"] == "q/x"


def test_missing_client_tools_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as nothing:
        backup_pg.find_tools(15, dirs=[tmp_path])
    assert "apt install postgresql-client-15" in (nothing.value.hint or "")
    with pytest.raises(ConfigError, match="PostgreSQL 99 or newer"):
        backup_pg.find_tools(99)  # this machine's tools are older than such a server


def test_the_tools_match_the_servers_version(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        major = int(str(conn.execute("SHOW server_version_num").fetchone()[0])) // 10000  # type: ignore[index]
    assert backup_pg.find_tools(major).major == major


def test_the_daily_backup_on_postgresql_holds_the_shared_database(tmp_path: Path, pg_url: str) -> None:
    from nexus_agent.ops.scheduler import DAY, BackupScheduler
    from nexus_agent.services import open_services_sync

    env = populated(tmp_path, pg_url, notes=2)
    settings = Settings.load(env)
    now = [1_900_000_000.0]
    with open_services_sync(settings) as services:
        scheduler = BackupScheduler(
            settings, services.database, folder=tmp_path / "daily", keep=7, clock=lambda: now[0]
        )
        assert scheduler.due_in() == 0
        assert anyio.run(scheduler.take)
        assert 0 < scheduler.due_in() <= DAY  # the same daily schedule as on SQLite
    report = verify_backup(only_backup(tmp_path / "daily"))
    assert report.ok and report.shared["public.notes"] == 2, report.to_text()


def test_the_recovery_drill_on_postgresql(tmp_path: Path, pg_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = create_database(pg_server, "nexus_drill")
    try:
        env = populated(tmp_path, url, notes=3)
        before = counts(url)
        assert nexus(env, "backup", "create", "--to", str(tmp_path / "b")) == 0
        backup = only_backup(tmp_path / "b")
        url = create_database(pg_server, "nexus_drill")  # the disaster: the database is gone (a new, empty one)
        drill = {**env, "NEXUS_HOME": str(tmp_path / "drill")}  # and the replica's home with it
        capsys.readouterr()
        assert nexus(drill, "recover", "--from", str(backup)) == 0
        out = capsys.readouterr().out
        assert "[ok] restore the shared PostgreSQL database" in out and "recovered: Nexus can be started" in out
        assert counts(url) == before
        assert nexus(drill, "memory", "search", "Harrogate glazing") == 0
        assert "order 2" in capsys.readouterr().out
    finally:
        drop_database(pg_server, "nexus_drill")


def test_a_home_without_a_sqlite_file_backs_up_the_shared_database_alone(
    tmp_path: Path, pg_url: str, pg_server: str
) -> None:
    populated(tmp_path, pg_url, notes=2)
    bare = Settings.load(env_for(tmp_path / "bare-home", pg_url))  # a machine that only runs `nexus backup`
    result = create_backup(bare, tmp_path / "b")
    assert result.counts == {} and result.shared["public.notes"] == 2
    report = verify_backup(Path(result.path))
    assert report.ok, report.to_text()
    fresh = create_database(pg_server, "nexus_backup_bare")
    try:
        restored = restore_backup(Settings.load(env_for(tmp_path / "new", fresh)), Path(result.path))
        assert "left as it is" in restored.database and counts(fresh) == counts(pg_url)
    finally:
        drop_database(pg_server, "nexus_backup_bare")


def _fake_tools(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True)
    for name in ("pg_dump", "pg_restore"):
        tool = folder / name
        tool.write_text(f'#!/bin/sh\necho "{name} (PostgreSQL) {version}"\n')
        tool.chmod(0o755)
    return folder


def test_the_tools_of_the_servers_version_win_else_the_oldest_newer_one(tmp_path: Path) -> None:
    old = _fake_tools(tmp_path / "14", "14.9")
    newer = _fake_tools(tmp_path / "17", "17.2")
    newest = _fake_tools(tmp_path / "18", "18.0")
    same = _fake_tools(tmp_path / "15", "15.18 (Debian 15.18-0+deb12u1)")
    assert backup_pg.find_tools(15, dirs=[old, newest, same, newer]).dump == str(same / "pg_dump")
    assert backup_pg.find_tools(16, dirs=[old, newest, same, newer]).major == 17
    with pytest.raises(ConfigError, match=r"found: 14\.9 in"):
        backup_pg.find_tools(15, dirs=[old])  # pg_dump 14 cannot dump a PostgreSQL 15 server
