"""Importing the shared legacy-portfolio fixture: one outcome per folder, nothing secret copied, re-runs inert."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from memory.database import Database
from nexus_agent.portfolio import ImportReport, import_portfolio
from nexus_agent.registry import SqliteRegistry
from nexus_agent.wire.models import AppStatus
from nexus_agent.wire.secret_guard import scan
from tests.portfolio.conftest import secret_values

pytestmark = pytest.mark.anyio

EXPECTED = {
    "glazing-scheduler": "imported",
    "portal-legacy": "code_only",
    "quote-engine": "imported",
    "site-survey": "imported",
    "sitesurvey": "merged",
    "stock-ledger": "imported",
}


def _json(root: Path, rel: str) -> dict:  # type: ignore[type-arg]
    return json.loads((root / rel).read_text(encoding="utf-8-sig"))


async def test_every_app_folder_gets_its_outcome(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner")

    assert {a.folder: a.outcome for a in report.apps} == EXPECTED
    assert report.app("sitesurvey").merged_into == "site-survey"
    assert sorted(r.slug for r in await registry.all()) == [
        "glazing-scheduler",
        "quote-engine",
        "site-survey",
        "stock-ledger",
    ]
    backup = report.app("portal-legacy")
    assert "apps/portal-legacy/package.json" in backup.files_used and not backup.failures
    text = report.to_text()
    assert "sitesurvey         merged into site-survey" in text
    assert "Summary: 4 imported, 1 merged, 1 code only, no registration; 2 secret(s) found, none copied." in text


async def test_a_non_json_file_is_a_failure_note_not_a_crash(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner")

    survey = report.app("site-survey")
    assert [(f.file, f.reason.split(":")[0]) for f in survey.failures] == [
        ("apps/site-survey/config/vendor-api.json", "not JSON")
    ]
    assert "HTML page" in survey.failures[0].reason
    assert "apps/site-survey/config/vendor-api.json" not in survey.files_used


async def test_endpoints_events_and_message_types_are_kept(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    await import_portfolio(legacy_portfolio, registry, "owner")

    glazing = await registry.get("glazing-scheduler")
    source = _json(legacy_portfolio, "apps/glazing-scheduler/registration-metadata.json")
    assert str(glazing.endpoints.webhook_url) == source["endpoints"]["webhook_url"]
    assert str(glazing.endpoints.message_handler_url) == source["endpoints"]["message_handler_url"]
    assert str(glazing.endpoints.health_url) == source["endpoints"]["health_check_url"]
    assert glazing.message_types == source["message_handler_configuration"]["supported_message_types"]
    assert glazing.subscribes_to == source["webhook_configuration"]["supported_events"]

    survey = await registry.get("site-survey")
    meta = _json(legacy_portfolio, "apps/site-survey/metadata.json")
    assert str(survey.endpoints.webhook_url) == meta["endpoints"]["webhook"]["url"]
    assert survey.message_types == [t for group in meta["supported_messages"].values() for t in group]

    quote = await registry.get("quote-engine")
    hooks = _json(legacy_portfolio, "apps/quote-engine/config/webhooks.json")
    assert quote.subscribes_to == [w["event"] for w in hooks["incoming_webhooks"]]

    stock = await registry.get("stock-ledger")
    markdown = (legacy_portfolio / "apps/stock-ledger/workflows/message-handlers.md").read_text()
    documented = re.findall(r"^#+ `([a-z_.]+)`", markdown, re.MULTILINE)
    assert documented and set(documented) <= set(stock.message_types)


async def test_merged_and_multi_file_apps_take_the_best_of_each_file(
    legacy_portfolio: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(legacy_portfolio, registry, "owner")

    survey = await registry.get("site-survey")
    duplicate = _json(legacy_portfolio, "apps/sitesurvey/business-logic.json")
    assert survey.description == duplicate["description"]  # only the duplicate had one
    assert [w.name for w in survey.workflows] == [w["name"] for w in duplicate["workflows"]]
    glazing = await registry.get("glazing-scheduler")
    assert glazing.name == "Glazing Scheduler" and glazing.category == "scheduling"
    assert len(glazing.capabilities) == len(
        _json(legacy_portfolio, "apps/glazing-scheduler/business-logic.json")["capabilities"]
    )


async def test_status_is_approved_only_for_deployed_apps_with_a_health_url(
    legacy_portfolio: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(legacy_portfolio, registry, "owner")

    statuses = {r.slug: r.status for r in await registry.all()}
    assert statuses == {
        "glazing-scheduler": AppStatus.approved,
        "quote-engine": AppStatus.placeholder,
        "site-survey": AppStatus.approved,
        "stock-ledger": AppStatus.placeholder,
    }


async def test_plaintext_secrets_become_env_references_and_findings(
    legacy_portfolio: Path, registry: SqliteRegistry
) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner")

    glazing = report.app("glazing-scheduler")
    assert [(s.kind, s.location) for s in glazing.secrets] == [
        ("secret_field", "apps/glazing-scheduler/registration-metadata.json:$.webhook_configuration.webhook_secret")
    ]
    assert glazing.env_vars == {"endpoints.webhook_secret_env": "SATELLITE_GLAZING_SCHEDULER_WEBHOOK_SECRET"}
    assert report.app("site-survey").env_vars == {
        "endpoints.webhook_secret_env": "SATELLITE_SITE_SURVEY_WEBHOOK_SECRET"
    }
    assert (
        await registry.get("glazing-scheduler")
    ).endpoints.webhook_secret_env == "SATELLITE_GLAZING_SCHEDULER_WEBHOOK_SECRET"
    assert (await registry.get("quote-engine")).endpoints.webhook_secret_env is None  # no secret in its files
    assert any("NEXUS_WEBHOOK_SECRET" in n for n in report.app("site-survey").notes)


async def test_no_secret_from_the_portfolio_reaches_the_database_logs_or_report(
    legacy_portfolio: Path,
    registry: SqliteRegistry,
    database: Database,
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = secret_values(legacy_portfolio)
    assert len(secrets) >= 2 and all(len(s) >= 8 for s in secrets)

    with caplog.at_level(logging.DEBUG):  # no RedactingFilter: the import itself must not log them
        first = await import_portfolio(legacy_portfolio, registry, "owner")
        second = await import_portfolio(legacy_portfolio, registry, "owner")
    database.close()

    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
    assert len(stored) > 0 and b"glazing-scheduler" in stored
    outputs = [caplog.text, *(r.to_text() + r.model_dump_json() for r in (first, second))]
    for secret in secrets:
        assert secret.encode() not in stored
        assert all(secret not in out for out in outputs)
    assert caplog.records and not any(scan(r.getMessage()) for r in caplog.records)


async def test_re_running_the_import_changes_nothing(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    await import_portfolio(legacy_portfolio, registry, "owner")
    before = [(r.model_dump(), await registry.history(r.slug)) for r in await registry.all()]

    again = await import_portfolio(legacy_portfolio, registry, "owner")

    expected = {k: "unchanged" if v == "imported" else v for k, v in EXPECTED.items()}
    assert {a.folder: a.outcome for a in again.apps} == expected
    assert [(r.model_dump(), await registry.history(r.slug)) for r in await registry.all()] == before
    assert "4 unchanged" in again.to_text()


async def test_a_dry_run_reports_the_same_outcomes_and_writes_nothing(
    legacy_portfolio: Path, registry: SqliteRegistry
) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner", dry_run=True)

    assert {a.folder: a.outcome for a in report.apps} == EXPECTED
    assert await registry.all() == []
    assert "dry run: nothing was written" in report.to_text()


async def test_the_report_round_trips_as_json(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner")
    again = ImportReport.model_validate_json(report.model_dump_json())
    assert again == report


async def test_documented_payload_examples_become_message_parameters(
    legacy_portfolio: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(legacy_portfolio, registry, "owner")

    ledger = await registry.get("stock-ledger")
    page = (legacy_portfolio / "apps/stock-ledger/workflows/message-handlers.md").read_text(encoding="utf-8")
    payloads = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", page, re.DOTALL)]
    specs = {s.type: s for s in ledger.message_specs}
    assert sorted(specs) == ["action.reserve_stock", "query.stock_level"]
    for spec, payload in zip([specs["query.stock_level"], specs["action.reserve_stock"]], payloads, strict=True):
        assert [p.name for p in spec.params or []] == list(payload)
    qty = next(p for p in specs["action.reserve_stock"].params or [] if p.name == "qty")
    assert (qty.type, qty.required) == ("integer", False)  # an example shows a value, not whether it is required
    assert specs["query.stock_level"].description == "Current quantity of a stock item, per yard."


async def test_the_duplicate_folder_names_its_evidence(legacy_portfolio: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(legacy_portfolio, registry, "owner")

    evidence = report.app("sitesurvey").merge_evidence
    assert evidence == "same normalised folder name 'sitesurvey' (apps/site-survey, apps/sitesurvey)"
