"""The Satellite declaration: tools over MCP in memory, the AppRecord it derives, bad declarations."""

from __future__ import annotations

import pytest
from mcp import Client

import satellite_template
from nexus_agent.wire.errors import Conflict, InvalidInput
from nexus_agent.wire.models import AppRecord, AppStatus
from satellite_template import Satellite


@pytest.mark.anyio
async def test_declared_tools_are_listed_with_their_annotations(example) -> None:
    async with Client(example.sat.mcp_server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"quote_status", "cancel_quote"}
    status = tools["quote_status"]
    assert status.annotations.read_only_hint is True
    assert status.annotations.idempotent_hint is True
    assert status.input_schema["required"] == ["quote_id"]
    assert status.output_schema is not None
    cancel = tools["cancel_quote"].annotations
    assert (cancel.read_only_hint, cancel.destructive_hint, cancel.open_world_hint) == (False, False, False)


@pytest.mark.anyio
async def test_a_typed_tool_returns_structured_content(example) -> None:
    async with Client(example.sat.mcp_server) as client:
        result = await client.call_tool("quote_status", {"quote_id": "Q-1001"})
    assert not result.is_error
    assert result.structured_content == {"quote_id": "Q-1001", "status": "draft"}


@pytest.mark.anyio
async def test_a_nexus_error_reaches_the_caller_with_its_hint(example) -> None:
    async with Client(example.sat.mcp_server) as client:
        result = await client.call_tool("quote_status", {"quote_id": "Q-9"})
    assert result.is_error
    text = result.content[0].text
    assert "[not_found] there is no quote 'Q-9'" in text
    assert "Known quotes: Q-1001." in text


@pytest.mark.anyio
async def test_a_crashing_tool_does_not_leak_its_exception_text(example) -> None:
    async with Client(example.sat.mcp_server) as client:
        result = await client.call_tool("cancel_quote", {"quote_id": "Q-1001"})
    assert result.is_error
    assert "hunter2" not in result.content[0].text


def test_the_app_record_is_built_from_the_declarations(example) -> None:
    record = example.sat.app_record("http://quotes.internal:8800/")
    assert isinstance(record, AppRecord)
    assert (record.slug, record.name, record.version) == ("quote-engine", "Quote Engine", "1.2.3")
    assert record.category == "sales"
    assert record.status is AppStatus.pending
    assert record.capability_names() == ["quote status lookup"]
    assert [(t.name, t.read_only) for t in record.tools] == [("quote_status", True), ("cancel_quote", False)]
    assert record.tools[0].description == "Status of one quote."
    assert record.subscribes_to == ["quote.requested", "instruction.created", "quote.accepted", "quote.failed"]
    assert record.message_types == ["query.quote"]
    ep = record.endpoints
    assert str(ep.mcp_url) == "http://quotes.internal:8800/mcp"
    assert str(ep.health_url) == "http://quotes.internal:8800/api/health"
    assert str(ep.webhook_url) == "http://quotes.internal:8800/api/webhooks/nexus"
    assert ep.token_env == "SATELLITE_QUOTE_ENGINE_TOKEN"


def test_the_app_record_round_trips_through_json(example) -> None:
    record = example.sat.app_record("http://127.0.0.1:8800", status=AppStatus.active, token_env="QUOTES_TOKEN")
    again = AppRecord.model_validate_json(record.model_dump_json(exclude_none=True))
    assert again == record
    assert again.endpoints.token_env == "QUOTES_TOKEN"


def test_a_bad_base_url_is_reported_as_invalid_input(example) -> None:
    with pytest.raises(InvalidInput, match="registration of 'quote-engine'"):
        example.sat.app_record("not a url")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"slug": "Quote Engine"}, "slug"),
        ({"slug": "ok", "name": ""}, "name"),
        ({"slug": "ok", "version": "x" * 60}, "version"),
    ],
)
def test_an_invalid_declaration_names_the_bad_field(kwargs, field) -> None:
    args = {"slug": "ok", "name": "OK"} | kwargs
    with pytest.raises(InvalidInput) as info:
        Satellite(args.pop("slug"), args.pop("name"), **args)
    assert field in str(info.value)


def test_duplicate_tools_handlers_and_checks_are_refused(example) -> None:
    sat = example.sat
    with pytest.raises(Conflict):
        sat.tool(name="quote_status")(lambda quote_id: quote_id)
    with pytest.raises(Conflict):
        sat.on_event("instruction.created")(lambda event: None)
    sat.health_check("db")(lambda: True)
    with pytest.raises(Conflict):
        sat.health_check("db")(lambda: True)
    with pytest.raises(Conflict):
        sat.health_check("webhooks")(lambda: True)


def test_an_event_type_must_be_dotted_lower_case(example) -> None:
    with pytest.raises(InvalidInput):
        example.sat.on_event("Instruction Created")


def test_the_public_names_are_listed_and_importable() -> None:
    for name in satellite_template.__all__:
        assert hasattr(satellite_template, name), name
    public = {n for n in vars(satellite_template) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(satellite_template.__all__)


@pytest.mark.anyio
async def test_the_kit_never_sends_a_command_in_its_self_registration() -> None:
    from nexus_agent.wire.errors import ConfigError
    from nexus_agent.wire.models import AppEndpoints, AppRecord
    from satellite_template.registration import register

    record = AppRecord(slug="sneaky", name="Sneaky", endpoints=AppEndpoints(mcp_command=["/bin/sh", "-c", "id"]))
    with pytest.raises(ConfigError, match="mcp_command"):
        await register(record, "http://127.0.0.1:9/mcp", "a-token-0123456789abcdef")
