"""The database password stays out of a PostgreSQL backup, its messages and its logs, wherever the URL carries it.

libpq takes the password in the URL's user part or in its query (``?password=``); Nexus accepts both in
NEXUS_DATABASE_URL. Real server, real ``nexus backup create`` (pg_dump).
"""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from memory.pg.database import redact_url
from nexus_agent.cli import main
from nexus_agent.ops.backup import list_backups

PASSWORD = "hunter2-glazing-bead-7f3k9"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://nexus:{PASSWORD}@db.internal:5432/nexus?sslmode=require",
        f"postgresql://nexus@db.internal:5432/nexus?sslmode=require&password={PASSWORD}",
        f"postgres://db.internal/nexus?password={PASSWORD}&user=nexus",
    ],
)
def test_a_redacted_database_url_never_shows_the_password(url: str) -> None:
    shown = redact_url(url)
    assert PASSWORD not in shown
    assert "db.internal" in shown and ("sslmode=require" in shown or "user=nexus" in shown)  # still says where


def _with_query_password(url: str) -> str:
    """``url`` (a trust-authenticated test server) with a password in its query, as libpq accepts it."""
    parts = urlsplit(url)
    query = f"{parts.query}&password={PASSWORD}" if parts.query else f"password={PASSWORD}"
    return urlunsplit(parts._replace(query=query))


def test_a_backup_keeps_a_query_password_out_of_its_manifest_output_and_logs(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "NEXUS_HOME": str(tmp_path / "home"),
        "NEXUS_DATABASE_URL": _with_query_password(pg_url),
        "NEXUS_DB_SYNC": "normal",
    }
    caplog.set_level(logging.DEBUG)
    assert main(["memory", "remember", "glazing bead order for the Harrogate showroom"], env=env) == 0
    assert main(["backup", "create", "--to", str(tmp_path / "b")], env=env) == 0
    (backup,) = list_backups(tmp_path / "b")
    with tarfile.open(backup) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = member.read().decode()
    assert '"postgresql"' in manifest  # the shared database is in this backup
    out = capsys.readouterr()
    for where, text in {"manifest": manifest, "stdout": out.out, "stderr": out.err, "log": caplog.text}.items():
        assert PASSWORD not in text, f"the password is in the backup's {where}"
