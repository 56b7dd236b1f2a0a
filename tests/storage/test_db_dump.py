"""`nexus db dump|restore`: pg_dump and pg_restore of the shared database, verified by row counts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_agent.cli import main
from nexus_agent.testing.postgres import create_database, drop_database

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump/pg_restore on the PATH")


@pytest.fixture
def second_url(pg_server: str) -> Iterator[str]:
    yield create_database(pg_server, "nexus_restore_target")
    drop_database(pg_server, "nexus_restore_target")


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal", "NEXUS_DATABASE_URL": url}


def test_a_dump_restores_into_a_new_database_with_the_same_rows(
    tmp_path: Path, pg_url: str, second_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _env(tmp_path, pg_url)
    assert main(["memory", "remember", "transom glass for Calder Valley"], source) == 0
    capsys.readouterr()
    assert main(["db", "dump", "--to", str(tmp_path / "dumps"), "--json"], source) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert dumped["counts"]["notes"] == 1 and Path(dumped["path"]).is_file()

    target = _env(tmp_path, second_url)
    assert main(["db", "restore", dumped["path"], "--json"], target) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == dumped["counts"]
    assert main(["memory", "search", "transom", "--json"], target) == 0
    assert "Calder Valley" in capsys.readouterr().out

    # a database that already holds Nexus is replaced only when asked
    assert main(["db", "restore", dumped["path"]], target) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["db", "restore", dumped["path"], "--force"], target) == 0


def test_dump_without_a_database_url_says_what_to_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"NEXUS_HOME": str(tmp_path / "home")}
    assert main(["db", "dump", "--to", str(tmp_path)], env) == 1
    assert "nexus backup create" in capsys.readouterr().err
