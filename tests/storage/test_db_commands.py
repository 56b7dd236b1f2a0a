"""`nexus db migrate|status|copy` and NEXUS_DATABASE_URL through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_agent.cli import main
from nexus_agent.config import Settings
from nexus_agent.wire.errors import ConfigError


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal", **extra}


def test_migrate_then_status_say_what_is_on_postgresql(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path, NEXUS_DATABASE_URL=pg_url)
    assert main(["db", "migrate", "--json"], env) == 0
    migrated = json.loads(capsys.readouterr().out)
    assert migrated["pending"] == []
    assert migrated["shared"] == [
        "memory",
        "registry",
        "api keys",
        "planner run state",
        "event outbox",
        "instructions",
        "app and GitHub events",
        "ops call log",
    ]
    assert main(["db", "status"], env) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["doctor"], env) == 0
    assert "SQLite WAL + postgresql://" in capsys.readouterr().out
    # the CLI's own commands now read and write PostgreSQL
    assert main(["memory", "remember", "glazing bead order for Hartley"], env) == 0
    other_home = _env(tmp_path / "other", NEXUS_DATABASE_URL=pg_url)
    capsys.readouterr()
    assert main(["memory", "search", "glazing bead", "--json"], other_home) == 0
    assert "Hartley" in capsys.readouterr().out


def test_copy_through_the_cli_reports_counts(tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path)
    assert main(["memory", "remember", "anodised sill for Brixton"], env) == 0
    capsys.readouterr()
    assert main(["db", "copy", "--to", pg_url, "--json"], env) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["copied"]["notes"] == 1
    assert main(["memory", "search", "anodised", "--json"], {**env, "NEXUS_DATABASE_URL": pg_url}) == 0
    assert "Brixton" in capsys.readouterr().out


def test_copy_refuses_a_target_that_is_not_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "copy", "--to", "mysql://x@y/z"], _env(tmp_path)) == 1
    assert "postgresql://" in capsys.readouterr().err


def test_database_url_must_be_postgresql_and_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load({"NEXUS_HOME": "/tmp/x", "NEXUS_DATABASE_URL": "mysql://nexus:hunter2-secret@db/nexus"})
    assert "hunter2" not in str(err.value)
    settings = Settings.load({"NEXUS_HOME": "/tmp/x", "NEXUS_DATABASE_URL": "postgresql://n:hunter2-secret@db/n"})
    assert "hunter2" not in repr(settings)
    assert settings.database_url is not None


def test_an_unreachable_database_is_a_clear_error_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://nexus:hunter2-secret@127.0.0.1:1/nexus?connect_timeout=2"
    assert main(["db", "status"], _env(tmp_path, NEXUS_DATABASE_URL=url)) == 1
    err = capsys.readouterr().err
    assert "cannot reach the PostgreSQL database" in err and "NEXUS_DATABASE_URL" in err
    assert "hunter2" not in err


def test_status_names_events_left_in_the_sqlite_file_of_an_upgraded_replica(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events queued before the outbox moved to PostgreSQL are not lost silently: status says how to send them."""
    from nexus_agent.events import Outbox
    from nexus_agent.services import open_database

    env = _env(tmp_path)
    database = open_database(Settings.load(env))
    Outbox(database).store.enqueue_many([{"event": "stock.low", "target": "stock-ledger", "url": "https://x.test/h"}])
    database.close()
    assert main(["db", "status", "--json"], {**env, "NEXUS_DATABASE_URL": pg_url}) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["left_in_sqlite"] == {"undelivered_events": 1, "open_instructions": 0}
    assert main(["db", "status"], {**env, "NEXUS_DATABASE_URL": pg_url}) == 0
    assert "NEXUS_DATABASE_URL= nexus events dispatch" in capsys.readouterr().out
    assert main(["db", "status", "--json"], env) == 0  # without a URL the SQLite outbox is the outbox
    assert "left_in_sqlite" not in json.loads(capsys.readouterr().out)
