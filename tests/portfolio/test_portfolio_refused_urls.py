"""A URL the outbound policy refuses is one app's warning, not a failed import; commands are never imported."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from memory.database import Database
from nexus_agent.outbound import OutboundPolicy
from nexus_agent.portfolio import import_portfolio
from nexus_agent.portfolio.issue import map_registration_issue
from nexus_agent.registry import SqliteRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.wire.models import AppStatus
from tests.portfolio.test_portfolio_edge_cases import write

pytestmark = pytest.mark.anyio

PRIVATE = "http://10.0.0.5/handle"


def _reg(name: str, **extra: Any) -> dict[str, Any]:
    return {"app_name": name, "capabilities": [f"{name} work"], **extra}


def _portfolio(tmp_path: Path) -> Path:
    ledger = _reg(
        "Ledger",
        status="production",
        endpoints={"message_handler_url": PRIVATE, "health_url": "https://ledger.example.test/health"},
    )
    return write(tmp_path, {"ledger/metadata.json": ledger, "shop/metadata.json": _reg("Shop")})


async def test_a_private_url_is_a_warning_for_its_app_and_the_rest_is_written(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    report = await import_portfolio(_portfolio(tmp_path), registry, "owner")

    assert report.written and report.write_error is None
    assert {a.folder: a.outcome for a in report.apps} == {"ledger": "imported", "shop": "imported"}
    ledger = await registry.get("ledger")
    assert ledger.endpoints.message_handler_url is None  # left out, the rest of the app is kept
    assert str(ledger.endpoints.health_url) == "https://ledger.example.test/health"
    [warning] = report.app("ledger").warnings
    assert "endpoints.message_handler_url" in warning and PRIVATE in warning
    assert "private addresses are not allowed" in warning and "NEXUS_OUTBOUND_ALLOW_PRIVATE=true" in warning
    text = report.to_text()
    assert f"  warning: {warning}" in text.split("ledger: imported", 1)[1].split("shop: imported", 1)[0]
    assert "Warnings for 1 app(s) (ledger)" in text and "NOT written" not in text


async def test_importing_again_once_private_addresses_are_allowed_fills_the_url_in(
    tmp_path: Path, registry: SqliteRegistry, database: Database
) -> None:
    root = _portfolio(tmp_path)
    await import_portfolio(root, registry, "owner")
    allowing = SqliteRegistry(database, policy=EndpointPolicy(OutboundPolicy(allow_private=True)))

    report = await import_portfolio(root, allowing, "owner")

    assert report.app("ledger").warnings == [] and report.app("ledger").outcome == "updated"
    assert str((await allowing.get("ledger")).endpoints.message_handler_url) == PRIVATE


async def test_a_live_app_with_only_a_refused_url_is_kept_as_a_placeholder(
    tmp_path: Path, registry: SqliteRegistry
) -> None:
    root = write(tmp_path, {"vault/metadata.json": _reg("Vault", status="production", mcp_url="http://169.254.1.9/")})
    report = await import_portfolio(root, registry, "owner")

    assert report.written and report.app("vault").outcome == "imported"
    assert (await registry.get("vault")).status is AppStatus.placeholder
    assert "link-local" in report.app("vault").warnings[0]


async def test_a_failure_line_names_the_folder_when_it_has_no_file(tmp_path: Path, registry: SqliteRegistry) -> None:
    (tmp_path / "apps" / "empty").mkdir(parents=True)
    report = await import_portfolio(tmp_path, registry, "owner")

    assert "  failed: apps/empty/: the folder is empty" in report.to_text()


async def test_findings_are_in_the_report_not_logged_above_debug(
    tmp_path: Path, registry: SqliteRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    root = write(tmp_path, {"shop/metadata.json": _reg("Shop", webhook_secret="whsec_Q7mK2xLp9Rt4Vb8Nc3Yd6Zs1Hg5Jw")})
    with caplog.at_level(logging.INFO, logger="nexus.portfolio"):
        report = await import_portfolio(root, registry, "owner")

    assert report.secret_count() == 1 and "secret not copied" in report.to_text()
    assert [r.getMessage() for r in caplog.records if r.name == "nexus.portfolio"] == []


async def test_an_imported_command_is_ignored_and_the_report_says_so(tmp_path: Path, registry: SqliteRegistry) -> None:
    root = write(tmp_path, {"tool/metadata.json": _reg("Tool", endpoints={"mcp_command": ["rm", "-rf", "/"]})})
    report = await import_portfolio(root, registry, "owner")

    assert (await registry.get("tool")).endpoints.mcp_command is None
    assert "mcp_command ignored: only the owner sets commands, on the local CLI" in report.to_text()


def test_a_command_in_a_registration_issue_is_ignored_with_a_note() -> None:
    body = "**App name:** Crew Rota\n**Slug:** crew-rota\n**MCP command:** npx crew-rota-mcp\n"
    mapped = map_registration_issue(body, "[Registration] Crew Rota")

    assert mapped.record is not None and mapped.record.endpoints.mcp_command is None
    assert any(n.startswith("mcp_command ignored: only the owner sets commands") for n in mapped.notes)
