"""`nexus registry import` and `nexus registry sync` around the legacy layout, through the CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.nexus_agent.test_cli import run
from tests.portfolio.conftest import FIXTURE

pytestmark = pytest.mark.skipif(not (FIXTURE / "apps").is_dir(), reason=f"legacy portfolio fixture not at {FIXTURE}")
GIT_ENV = {
    "PATH": "/usr/bin:/bin",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal"}


def git(truth: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(truth), *args], check=True, env=GIT_ENV, capture_output=True)


def test_a_failed_truth_commit_still_prints_the_report_and_keeps_the_whole_import(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, env, "registry", "sync")[0] == 0  # creates the truth repository
    truth = Path(env["NEXUS_HOME"]) / "truth"
    git(truth, "checkout", "-q", "-b", "elsewhere")  # Nexus commits only on main: the commit fails

    code, out, _ = run(capsys, env, "registry", "import", str(FIXTURE))

    assert code == 1
    for folder in ("glazing-scheduler", "quote-engine", "site-survey", "sitesurvey", "portal-legacy", "stock-ledger"):
        assert f"\n{folder}: " in out
    assert "Summary: 4 imported" in out and "truth source: NOT updated" in out
    code, out, _ = run(capsys, env, "registry", "list")
    assert "4 matching app(s)" in out


def test_sync_on_a_legacy_truth_repository_counts_the_apps_and_offers_the_import(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, env, "registry", "sync")[0] == 0
    truth = Path(env["NEXUS_HOME"]) / "truth"
    shutil.copytree(FIXTURE / "apps", truth / "apps")
    git(truth, "add", "-A")
    git(truth, "commit", "-qm", "the portfolio as it was")

    code, out, _ = run(capsys, env, "registry", "sync", "--direction", "report")

    assert code == 1 and "in sync" not in out
    assert "legacy layout: 6 app folder(s) under apps/" in out
    assert f"nexus registry import {truth}" in out
    assert run(capsys, env, "registry", "import", str(truth))[0] == 0
    code, out, _ = run(capsys, env, "registry", "sync")
    assert code == 0 and "in sync (4 app(s) in SQLite, 4 in the truth source)" in out
