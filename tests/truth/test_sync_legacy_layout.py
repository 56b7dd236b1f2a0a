"""`reconcile` on a truth repository that still has only the legacy apps/<slug>/ layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_agent.portfolio import import_portfolio
from nexus_agent.registry import SqliteRegistry
from nexus_agent.truth import LocalGitTruthSource, TruthSource, reconcile
from tests.portfolio.conftest import FIXTURE

pytestmark = pytest.mark.anyio


def _legacy_files() -> dict[str, bytes | None]:
    if not (FIXTURE / "apps").is_dir():
        pytest.skip(f"the shared legacy-portfolio fixture is not at {FIXTURE}")
    files = sorted(p for p in (FIXTURE / "apps").rglob("*") if p.is_file())
    return {p.relative_to(FIXTURE).as_posix(): p.read_bytes() for p in files}


async def _commit_legacy(truth: LocalGitTruthSource) -> list[str]:
    files = _legacy_files()
    # the portfolio holds plaintext webhook secrets: commit it past Nexus's guard, as its authors did
    truth._ensure()
    with truth._locked():
        truth._commit_sync(files, "The portfolio as it was before Nexus")
    return sorted({path.split("/")[1] for path in files})


async def test_a_legacy_only_repository_is_not_in_sync_and_offers_the_import(
    local_truth: LocalGitTruthSource, registry: SqliteRegistry
) -> None:
    folders = await _commit_legacy(local_truth)

    report = await reconcile(registry, local_truth, direction="report")

    assert report.legacy_apps == folders and len(folders) == 6
    assert report.legacy_not_in_registry == folders
    assert not report.in_sync and report.needs_import
    text = report.summary("/srv/truth")
    assert "in sync" not in text
    assert f"legacy layout: {len(folders)} app folder(s) under apps/" in text
    assert "nexus registry import /srv/truth" in text


async def test_after_the_import_the_legacy_folders_are_information_only(
    local_truth: LocalGitTruthSource, registry: SqliteRegistry
) -> None:
    await _commit_legacy(local_truth)
    imported = await import_portfolio(Path(local_truth.root), registry, "owner", truth=local_truth)
    assert imported.ok and imported.truth_files == 4

    report = await reconcile(registry, local_truth, direction="report")

    assert report.in_sync and not report.needs_import
    assert (report.registry_count, report.truth_count) == (4, 4)
    assert report.legacy_not_in_registry == ["portal-legacy", "sitesurvey"]  # code only, merged
    assert "merged or code-only folders stay out" in report.summary()


async def test_a_repository_without_legacy_folders_reports_no_legacy_layout(
    truth: TruthSource, registry: SqliteRegistry
) -> None:
    report = await reconcile(registry, truth, direction="report")

    assert report.in_sync and report.legacy_apps == []
    assert report.summary().splitlines() == [
        "Registry sync (report): in sync (0 app(s) in SQLite, 0 in the truth source)"
    ]
