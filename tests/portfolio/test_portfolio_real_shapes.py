"""Importing the shared portfolio-real-shapes fixture: every trap in its README, one test each."""

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

pytestmark = pytest.mark.anyio


def _json(root: Path, rel: str) -> dict:  # type: ignore[type-arg]
    return json.loads((root / rel).read_text(encoding="utf-8"))


def _credential_words(root: Path, location: str) -> list[str]:
    """The credential-like words on the line a finding names (``file:line``), read back from the fixture."""
    rel, _, line = location.rpartition(":")
    text = (root / rel).read_text(encoding="utf-8").splitlines()[int(line) - 1]
    value = text.split(":", 1)[1] if ":" in text else text
    return [w for w in re.findall(r"[^\s`'\"/@:=]{8,}", value) if re.search(r"\d", w) and re.search(r"[A-Za-z]", w)]


async def test_endpoints_nested_under_configuration_and_deployment_are_kept(
    real_shapes: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(real_shapes, registry, "owner")

    yard = (await registry.get("yard-tracker")).endpoints
    source = _json(real_shapes, "apps/yard-tracker/registration-metadata.json")
    assert str(yard.webhook_url) == source["webhook_configuration"]["webhook_url"]
    assert str(yard.message_handler_url) == source["message_handler_configuration"]["handler_url"]
    assert str(yard.health_url) == source["deployment"]["health_url"]
    assert str(yard.app_url).rstrip("/") == source["deployment"]["url"]
    assert yard.signature_header == source["webhook_configuration"]["signature_header"]
    assert yard.mcp_command is None and yard.mcp_url is None


async def test_config_webhooks_json_gives_endpoints_and_message_types(
    real_shapes: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(real_shapes, registry, "owner")

    crew = await registry.get("crew-rota")
    hooks = _json(real_shapes, "apps/crew-rota/config/webhooks.json")
    assert str(crew.endpoints.webhook_url) == hooks["webhook_endpoint"]
    assert str(crew.endpoints.message_handler_url) == hooks["message_handler_endpoint"]
    assert crew.message_types == hooks["message_types"]


async def test_two_apps_named_app_in_package_json_are_never_merged(real_shapes: Path, registry: SqliteRegistry) -> None:
    assert _json(real_shapes, "apps/yard-tracker/package.json")["name"] == "app"
    assert _json(real_shapes, "apps/crew-rota/package.json")["name"] == "app"

    report = await import_portfolio(real_shapes, registry, "owner")

    assert {a.folder: a.outcome for a in report.apps} == {
        "crew-rota": "imported",
        "glass-store": "imported",
        "yard-tracker": "imported",
    }
    assert all(a.merge_evidence is None for a in report.apps)
    assert (await registry.get("crew-rota")).name == "Crew Rota"
    assert (await registry.get("yard-tracker")).capability_names() == [
        "Yard bay occupancy",
        "Bay reservation for deliveries",
    ]


async def test_only_family_name_strings_are_message_types(real_shapes: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(real_shapes, registry, "owner")

    yard = await registry.get("yard-tracker")
    assert yard.message_types == ["query.bay_occupancy", "action.reserve_bay", "action.release_bay", "test.ping"]
    assert any("mixes in 2 parameter name(s)" in n for n in report.app("yard-tracker").notes)


async def test_documented_parameters_become_the_message_specs(real_shapes: Path, registry: SqliteRegistry) -> None:
    await import_portfolio(real_shapes, registry, "owner")

    specs = {s.type: s for s in (await registry.get("yard-tracker")).message_specs}
    assert sorted(specs) == ["action.release_bay", "action.reserve_bay", "query.bay_occupancy"]  # test.ping: none
    occupancy = specs["query.bay_occupancy"]
    assert occupancy.description == "What is stored in a bay right now."
    params = {p.name: p for p in occupancy.params or []}
    assert (params["bay_id"].type, params["bay_id"].required) == ("string", True)
    assert "N-04" in params["bay_id"].description
    assert (params["include_history"].type, params["include_history"].required) == ("boolean", False)
    reserve = specs["action.reserve_bay"].params or []
    assert [(p.name, p.type, p.required) for p in reserve] == [
        ("bay_id", "string", True),
        ("order_id", "string", True),
        ("until", "date", True),
    ]


async def test_purpose_support_email_published_events_and_a_beta_lifecycle(
    real_shapes: Path, registry: SqliteRegistry
) -> None:
    report = await import_portfolio(real_shapes, registry, "owner")

    yard = await registry.get("yard-tracker")
    source = _json(real_shapes, "apps/yard-tracker/registration-metadata.json")
    assert yard.description == source["purpose"] and yard.owner == source["support"]["email"]
    crew = await registry.get("crew-rota")
    registration = _json(real_shapes, "apps/crew-rota/app-registration.json")
    assert crew.description == registration["appMetadata"]["purpose"]
    assert crew.owner == registration["support"]["email"]
    assert crew.publishes == registration["events"]["publishes"]
    assert crew.subscribes_to == registration["events"]["subscribes"]
    assert crew.status is AppStatus.placeholder
    assert any("'beta' is not production" in n for n in report.app("crew-rota").notes)


async def test_an_app_with_a_health_url_and_no_handler_is_approved_without_message_types(
    real_shapes: Path, registry: SqliteRegistry
) -> None:
    await import_portfolio(real_shapes, registry, "owner")

    glass = await registry.get("glass-store")
    assert glass.status is AppStatus.approved
    assert str(glass.endpoints.health_url) == "https://glass-store.example.test/api/health"
    assert glass.endpoints.message_handler_url is None and glass.message_types == [] and glass.message_specs == []


async def test_secrets_in_markdown_and_a_root_env_are_reported_and_copied_nowhere(
    real_shapes: Path, registry: SqliteRegistry, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = await import_portfolio(real_shapes, registry, "owner")

    crew = report.app("crew-rota")
    assert [(s.location, s.kind) for s in crew.secrets] == [("apps/crew-rota/README.md:8", "password")]
    outside = sorted((s.location, s.kind) for s in report.other_secrets)
    assert outside == [
        (".env:2", "url_credentials"),
        (".env:3", "private_key"),
        ("registrations/yard-tracker-issue.md:15", "secret"),
    ]
    assert "outside apps/:" in report.to_text() and report.secret_count() == 5
    values = [w for s in [*crew.secrets, *report.other_secrets] for w in _credential_words(real_shapes, s.location)]
    values.append(
        _json(real_shapes, "apps/yard-tracker/registration-metadata.json")["webhook_configuration"]["webhook_secret"]
    )
    assert len(values) >= 5
    stored = b"".join(p.read_bytes() for p in database.path.parent.glob(database.path.name + "*"))
    published = report.model_dump_json() + report.to_text() + caplog.text
    assert not [v for v in values if v in published or v.encode() in stored]


async def test_build_output_and_lock_files_are_neither_parsed_nor_scanned(
    real_shapes: Path, registry: SqliteRegistry
) -> None:
    report = await import_portfolio(real_shapes, registry, "owner")

    yard = report.app("yard-tracker")
    assert yard.files_used == [
        "apps/yard-tracker/registration-metadata.json",
        "apps/yard-tracker/workflows/message-handlers.md",
    ]
    # jsonwebtoken is a dependency's name; hashes and integrity strings are build output
    assert [s.location for s in yard.secrets] == [
        "apps/yard-tracker/registration-metadata.json:$.webhook_configuration.webhook_secret"
    ]
    assert yard.env_vars == {"endpoints.webhook_secret_env": "SATELLITE_YARD_TRACKER_WEBHOOK_SECRET"}
    assert (await registry.get("yard-tracker")).version == "0.9"  # not package.json's 0.1.0


async def test_the_report_round_trips_and_names_no_secret_value(real_shapes: Path, registry: SqliteRegistry) -> None:
    report = await import_portfolio(real_shapes, registry, "owner")

    again = ImportReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert all(re.fullmatch(r"\[\d+ chars\]", s.preview) for a in report.apps for s in a.secrets)
    assert all(re.fullmatch(r"\[\d+ chars\]", s.preview) for s in report.other_secrets)


async def test_re_importing_the_fixture_changes_nothing(real_shapes: Path, registry: SqliteRegistry) -> None:
    await import_portfolio(real_shapes, registry, "owner")
    before = [r.model_dump(mode="json") for r in await registry.all()]

    report = await import_portfolio(real_shapes, registry, "owner")

    assert {a.outcome for a in report.apps} == {"unchanged"}
    assert [r.model_dump(mode="json") for r in await registry.all()] == before
