"""Portfolio shapes the fixture does not cover: failures, secrets in odd places, duplicates, re-imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_agent.portfolio import import_portfolio
from nexus_agent.registry import SqliteRegistry
from nexus_agent.wire.errors import InvalidInput
from nexus_agent.wire.models import AppRecord, AppStatus
from tests.secret_guard.fakes import fake

pytestmark = pytest.mark.anyio


def write(root: Path, files: dict[str, Any]) -> Path:
    for rel, content in files.items():
        path = root / "apps" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return root


async def test_a_path_that_is_not_a_portfolio_is_invalid_input(tmp_path: Path, registry: SqliteRegistry) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        await import_portfolio(tmp_path / "missing", registry, "owner")
    with pytest.raises(InvalidInput, match="has no apps/ folder") as caught:
        await import_portfolio(tmp_path, registry, "owner")
    assert "apps/quote-engine" in (caught.value.hint or "")
    (tmp_path / "apps").mkdir()
    with pytest.raises(InvalidInput) as caught:
        await import_portfolio(tmp_path / "apps", registry, "owner")
    assert str(tmp_path) in (caught.value.hint or "")


async def test_a_folder_whose_every_file_fails_is_failed_with_each_file_and_reason(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    root = write(
        tmp_path,
        {
            "broken/business-logic.json": '{"app_name": "Broken",',
            "broken/metadata.json": "<html><head><title>Sign in</title></head></html>",
            "broken/app-registration.json": b"\xff\xfe{}",
            "broken/empty.json": "",
            "listy/business-logic.json": [1, 2],
        },
    )
    (tmp_path / "apps" / "empty-folder").mkdir()

    report = await import_portfolio(root, registry, "owner")

    broken = report.app("broken")
    assert broken.outcome == "failed" and not broken.files_used
    reasons = {f.file.removeprefix("apps/broken/"): f.reason for f in broken.failures}
    assert reasons["business-logic.json"].startswith("not JSON: Expecting")
    assert reasons["metadata.json"] == "not JSON: it is an HTML page (title 'Sign in')"
    assert reasons["app-registration.json"].startswith("not UTF-8 text")
    assert reasons["empty.json"] == "empty file"
    assert report.app("listy").failures[0].reason == "a JSON object was expected, found a list"
    assert report.app("empty-folder").outcome == "failed"
    assert await registry.all() == []
    assert "failed: business-logic.json: not JSON" in report.to_text()


async def test_secrets_anywhere_in_a_file_are_never_copied(
    tmp_path: Path, registry: SqliteRegistry, db_path: Path
) -> None:
    token, hook = fake("ghp_", 36), "hook-" + fake("", 20, seed=3)
    password = fake("", 16, seed=4)
    root = write(
        tmp_path,
        {
            "quote-engine/business-logic.json": {
                "app_name": "Quote Engine",
                "description": f"Deploy with {token} and done.",
                "endpoints": {
                    "webhook": {"url": "https://quote.example.test/hooks", "signing_secret": hook},
                    "message_handler": {"url": f"https://nexus:{password}@quote.example.test/messages"},
                    "mcp": {"url": "https://quote.example.test/mcp", "bearer_token": "Bearer " + fake("", 30)},
                },
                "vendor": {"api_key": "vendor-" + fake("", 12, seed=5)},
            },
            "quote-engine/.env": f"QUOTE_DB_PASSWORD={password}\n",
        },
    )

    report = await import_portfolio(root, registry, "owner")

    result = report.app("quote-engine")
    assert result.outcome == "imported"
    kinds = {(s.location.split(":", 1)[1], s.kind) for s in result.secrets}
    assert kinds == {
        ("$.description", "github_token"),
        ("$.endpoints.webhook.signing_secret", "secret_field"),
        ("$.endpoints.message_handler.url", "url_credentials"),
        ("$.endpoints.mcp.bearer_token", "secret_field"),
        ("$.vendor.api_key", "secret_field"),
        ("1", "secret_assignment"),
    }
    assert result.env_vars == {
        "endpoints.webhook_secret_env": "SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET",
        "endpoints.token_env": "SATELLITE_QUOTE_ENGINE_TOKEN",
    }
    record = await registry.get("quote-engine")
    assert record.description == "Deploy with [REDACTED:github_token] and done."
    assert record.endpoints.message_handler_url is None  # a URL carrying a password is not kept
    assert str(record.endpoints.webhook_url) == "https://quote.example.test/hooks"
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
    for secret in (token, hook, password):
        assert secret.encode() not in stored and secret not in report.model_dump_json()


async def test_folders_sharing_an_endpoint_are_one_app(tmp_path: Path, registry: SqliteRegistry) -> None:
    hook = "https://crm.example.test/api/webhooks/nexus"
    root = write(
        tmp_path,
        {
            "customer-hub/registration-metadata.json": {"app_name": "Customer Hub", "endpoints": {"webhook_url": hook}},
            "crm-old/business-logic.json": {"app_name": "CRM", "real_time_communication": {"webhook_url": hook}},
            "quote-engine/business-logic.json": {"app_name": "Quote Engine", "capabilities": ["Quotes"]},
        },
    )

    report = await import_portfolio(root, registry, "owner")

    assert {a.folder: a.label for a in report.apps} == {
        "crm-old": "merged into customer-hub",
        "customer-hub": "imported",
        "quote-engine": "imported",
    }


async def test_a_re_import_keeps_what_the_owner_set_since(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(tmp_path, {"stock-ledger/business-logic.json": {"app_name": "Stock Ledger", "status": "beta"}})
    await import_portfolio(root, registry, "owner")
    current = await registry.get("stock-ledger")
    owner_edit = current.model_dump() | {
        "endpoints": {"mcp_url": "https://stock.example.test/mcp", "token_env": "SATELLITE_STOCK_LEDGER_TOKEN"},
        "status": AppStatus.active,
    }
    await registry.register(AppRecord.model_validate(owner_edit), "owner")

    report = await import_portfolio(root, registry, "owner")

    assert report.app("stock-ledger").outcome == "unchanged"
    assert any("status stays 'active'" in n for n in report.app("stock-ledger").notes)
    record = await registry.get("stock-ledger")
    assert record.status is AppStatus.active and record.endpoints.token_env == "SATELLITE_STOCK_LEDGER_TOKEN"


async def test_a_changed_portfolio_updates_the_app(tmp_path: Path, registry: SqliteRegistry) -> None:
    files = {"stock-ledger/business-logic.json": {"app_name": "Stock Ledger", "version": "0.9.0"}}
    await import_portfolio(write(tmp_path, files), registry, "owner")
    files["stock-ledger/business-logic.json"]["version"] = "1.0.0"

    report = await import_portfolio(write(tmp_path, files), registry, "owner")

    assert report.app("stock-ledger").outcome == "updated"
    assert report.app("stock-ledger").changed_fields == ["version"]


async def test_code_without_a_registration_is_not_an_app_but_its_secrets_are_reported(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    key = fake("sk-ant-" + "api03-", 60, seed=6)
    root = write(tmp_path, {"portal/src/client.ts": f'const client = new Anthropic({{ apiKey: "{key}" }});\n'})

    report = await import_portfolio(root, registry, "owner")

    portal = report.app("portal")
    assert portal.outcome == "code_only" and portal.files_used == ["apps/portal/src/client.ts"]
    assert [(s.kind, s.location) for s in portal.secrets] == [("anthropic_key", "apps/portal/src/client.ts:1")]
    assert await registry.all() == []
    assert key not in report.model_dump_json()


def test_the_public_names_are_listed_and_importable() -> None:
    import nexus_agent.portfolio as portfolio

    assert all(hasattr(portfolio, name) for name in portfolio.__all__)
    assert {"import_portfolio", "ImportReport", "AppImportResult"} <= set(portfolio.__all__)


async def test_a_production_app_reachable_only_by_its_message_handler_is_approved(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    handler = "https://ledger.example.test/api/messages/handle"
    root = write(
        tmp_path,
        {
            "yard-ledger/registration-metadata.json": {
                "app_name": "Yard Ledger",
                "status": "production",
                "endpoints": {"message_handler_url": handler},
                "message_types": ["query.stock_level"],
            },
            "draft-app/registration-metadata.json": {"app_name": "Draft App", "status": "production"},
        },
    )

    await import_portfolio(root, registry, "owner")

    ledger = await registry.get("yard-ledger")
    assert ledger.status is AppStatus.approved  # Nexus can call it: its message handler is an endpoint
    assert str(ledger.endpoints.message_handler_url) == handler
    assert (await registry.get("draft-app")).status is AppStatus.placeholder  # nothing Nexus can reach
