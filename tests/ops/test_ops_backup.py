"""``nexus backup create | verify | restore`` through the CLI, on real homes in temporary folders."""

from __future__ import annotations

import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.ops.backup import create_backup, list_backups, prune_backups
from nexus_agent.ops.restore import verify_backup
from nexus_agent.services import open_services_sync
from nexus_agent.wire.models import AppRecord

PHRASE = "anodised bronze lintel for the Harrogate showroom"


def nexus(home: Path, *argv: str) -> int:
    return main([*argv], env={"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"})


def populated_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    assert nexus(home, "memory", "remember", PHRASE, "--tag", "showroom") == 0
    settings = Settings.load({"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"})
    import anyio

    async def register() -> None:
        from nexus_agent.truth import push_app

        with open_services_sync(settings) as services:
            record = AppRecord.model_validate({"slug": "quote-engine", "name": "Quote Engine", "category": "sales"})
            await services.registry.register(record, "owner", "test")
            assert services.truth is not None
            await push_app(services.truth, await services.registry.get("quote-engine"), actor="owner")

    anyio.run(register)
    return home


def only_backup(folder: Path) -> Path:
    files = list_backups(folder)
    assert len(files) == 1, files
    return files[0]


def test_a_backup_restores_into_a_new_home_with_the_registry_memory_and_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = populated_home(tmp_path)
    assert nexus(home, "backup", "create", "--to", str(tmp_path / "backups")) == 0
    backup = only_backup(tmp_path / "backups")
    assert nexus(home, "backup", "verify", str(backup)) == 0
    assert "backup verified" in capsys.readouterr().out

    new_home = tmp_path / "restored"
    assert nexus(new_home, "backup", "restore", str(backup)) == 0
    capsys.readouterr()
    assert nexus(new_home, "registry", "show", "quote-engine") == 0
    assert nexus(new_home, "memory", "recent") == 0
    assert "Harrogate" in capsys.readouterr().out
    assert (new_home / "truth" / "registry").exists() or any((new_home / "truth").rglob("quote-engine*"))


def test_a_corrupted_backup_fails_verification_and_is_not_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = populated_home(tmp_path)
    settings = Settings.load({"NEXUS_HOME": str(home)})
    good = Path(create_backup(settings, tmp_path / "backups").path)
    data = bytearray(good.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(bytes(data))

    assert nexus(home, "backup", "verify", str(broken)) == 1
    assert "FAILED" in capsys.readouterr().out
    assert nexus(tmp_path / "elsewhere", "backup", "restore", str(broken)) != 0
    assert not (tmp_path / "elsewhere" / "nexus.db").exists()


def test_a_database_whose_counts_differ_from_the_manifest_fails(tmp_path: Path) -> None:
    """A well-formed archive whose database was swapped: checksums and counts both catch it."""
    home = populated_home(tmp_path)
    good = Path(create_backup(Settings.load({"NEXUS_HOME": str(home)}), tmp_path / "b").path)
    work = tmp_path / "work"
    work.mkdir()
    with tarfile.open(good) as tar:
        tar.extractall(work, filter="data")
    conn = sqlite3.connect(work / "nexus.db")
    conn.execute("DELETE FROM notes")
    conn.commit()
    conn.close()
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(forged, "w:gz") as tar:
        for name in ("manifest.json", "nexus.db", "truth.bundle"):
            tar.add(work / name, arcname=name)
    report = verify_backup(forged)
    failed = {c.name for c in report.checks if not c.ok}
    assert not report.ok and {"checksum nexus.db", "row counts"} <= failed


def test_restore_refuses_a_live_home_unless_forced_and_keeps_the_old_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = populated_home(tmp_path)
    backup = Path(create_backup(Settings.load({"NEXUS_HOME": str(home)}), tmp_path / "b").path)
    assert nexus(home, "memory", "remember", "written after the backup") == 0
    assert nexus(home, "backup", "restore", str(backup)) == 1
    assert "refusing to overwrite" in capsys.readouterr().err

    assert nexus(home, "backup", "restore", str(backup), "--force") == 0
    kept = sorted(home.glob("nexus.db.before-restore-*"))
    assert kept, "the replaced database is kept aside"
    capsys.readouterr()
    assert nexus(home, "memory", "recent") == 0
    recent = capsys.readouterr().out
    assert "Harrogate" in recent and "written after the backup" not in recent
    old = sqlite3.connect(kept[0])
    assert old.execute("SELECT count(*) FROM notes WHERE text LIKE 'written after%'").fetchone()[0] == 1


def test_the_secrets_copy_is_encrypted_and_opens_only_with_its_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = populated_home(tmp_path)
    secrets = tmp_path / ".env"
    secrets.write_text("SATELLITE_QUOTE_ENGINE_TOKEN=qe-live-3f9a7c1d2b4e6f8091a2b3c4\n")
    phrase, wrong = tmp_path / "phrase", tmp_path / "wrong"
    phrase.write_text("correct horse battery staple aluminium\n")
    wrong.write_text("incorrect horse battery staple steel\n")
    argv = ["backup", "create", "--to", str(tmp_path / "b"), "--secrets", str(secrets), "--passphrase-file"]
    assert nexus(home, *argv, str(phrase)) == 0
    backup = only_backup(tmp_path / "b")
    with tarfile.open(backup) as tar:
        sealed = tar.extractfile("secrets.enc")
        assert sealed is not None and b"qe-live-3f9a7c" not in sealed.read()

    assert nexus(home, "backup", "verify", str(backup), "--passphrase-file", str(wrong)) == 1
    assert "does not open" in capsys.readouterr().out
    restored = tmp_path / "restored-env"
    argv = ["backup", "restore", str(backup), "--secrets-to", str(restored), "--passphrase-file", str(phrase)]
    assert nexus(tmp_path / "home2", *argv) == 0
    assert restored.read_text() == secrets.read_text()
    assert restored.stat().st_mode & 0o777 == 0o600


def test_a_backup_taken_while_nexus_writes_is_consistent(tmp_path: Path) -> None:
    home = populated_home(tmp_path)
    settings = Settings.load({"NEXUS_HOME": str(home), "NEXUS_DB_SYNC": "normal"})
    stop = threading.Event()

    def writer() -> None:
        conn = sqlite3.connect(settings.db_path, timeout=30)
        n = 0
        while not stop.is_set() and n < 20_000:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO notes (title, text, author, created_at) VALUES ('t', ?, 'w', 0)", [f"n{n}"])
            conn.execute("COMMIT")
            n += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [create_backup(settings, tmp_path / "b", clock=lambda i=i: 1_800_000_000.0 + i) for i in range(3)]
    finally:
        stop.set()
        thread.join(30)
    for result in results:
        report = verify_backup(Path(result.path))
        assert report.ok, report.to_text()
        assert report.counts["notes"] == result.counts["notes"]


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    for day in range(1, 10):
        (folder / f"nexus-backup-202612{day:02d}T030000Z.tar.gz").write_bytes(b"x")
    removed = prune_backups(folder, 7)
    assert [p.name[13:21] for p in removed] == ["20261201", "20261202"]
    assert len(list_backups(folder)) == 7
