"""Nexus's MCP server through the SDK's in-memory client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from nexus_agent.server import build_mcp_server
from nexus_agent.services import NexusServices

pytestmark = pytest.mark.anyio

QUOTE_ENGINE: dict[str, Any] = {
    "slug": "quote-engine",
    "name": "Quote Engine",
    "category": "sales",
    "description": "Prices aluminium windows, doors and curtain walling and issues quotes.",
    "status": "active",
    "capabilities": ["quote generation", {"name": "margin calculation", "description": "gross margin per job"}],
    "endpoints": {"mcp_url": "http://127.0.0.1:9001/mcp", "health_url": "http://127.0.0.1:9001/api/health"},
}


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def test_lists_every_nexus_tool_with_schemas_and_annotations(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in [
        "registry_list",
        "registry_get",
        "registry_register",
        "registry_set_status",
        "memory_remember",
        "memory_search",
        "memory_log_decision",
        "memory_get_conversation",
        "memory_recent_activity",
        "gaps_analyse",
        "nexus_health",
    ]:
        assert name in tools, name
        assert tools[name].description and len(tools[name].description) > 40
        assert tools[name].input_schema["type"] == "object"
        assert tools[name].output_schema is not None
    assert tools["registry_list"].annotations.read_only_hint is True
    assert tools["registry_register"].annotations.read_only_hint is False
    assert "slug" in tools["registry_get"].input_schema["properties"]


async def test_register_then_get_and_list_round_trip(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        created = await client.call_tool("registry_register", {"record": QUOTE_ENGINE, "reason": "first deploy"})
        assert not created.is_error, text_of(created)
        assert created.structured_content["action"] == "created"
        got = await client.call_tool("registry_get", {"slug": "quote-engine"})
        assert got.structured_content["app"]["name"] == "Quote Engine"
        assert got.structured_content["history"][0]["new_status"] == "active"
        listed = await client.call_tool("registry_list", {"capability": "margin"})
        assert [a["slug"] for a in listed.structured_content["items"]] == ["quote-engine"]


async def test_invalid_registration_names_each_bad_field(services: NexusServices) -> None:
    bad = {**QUOTE_ENGINE, "slug": "Quote Engine!", "status": "live", "endpoints": {"mcp_url": "not a url"}}
    async with Client(build_mcp_server(services)) as client:
        result = await client.call_tool("registry_register", {"record": bad})
    assert result.is_error
    text = text_of(result)
    assert "invalid_input" in text
    for field in ["record.slug", "record.status", "record.endpoints.mcp_url"]:
        assert field in text, (field, text)
    assert "How to fix" in text
    assert "errors.pydantic.dev" not in text


async def test_unknown_slug_is_a_tool_error_with_a_suggestion(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        await client.call_tool("registry_register", {"record": QUOTE_ENGINE})
        result = await client.call_tool("registry_get", {"slug": "quote-engin"})
    assert result.is_error
    assert "not_found" in text_of(result)
    assert "quote-engine" in text_of(result)


async def test_every_tool_error_has_one_format_without_the_sdk_prefix(services: NexusServices) -> None:
    """Refused by the tool (not found), by argument parsing (invalid input) or unknown tool: one shape."""
    async with Client(build_mcp_server(services)) as client:
        results = {
            "not_found": await client.call_tool("registry_get", {"slug": "no-such-app"}),
            "invalid_input": await client.call_tool("memory_search", {"query": "   "}),
            "unknown tool": await client.call_tool("no_such_tool", {}),
        }
    for case, result in results.items():
        text = text_of(result)
        assert result.is_error, case
        assert text.startswith("[") and "\nHow to fix: " in text, (case, text)
        assert "Error executing tool" not in text, (case, text)
    assert text_of(results["not_found"]).startswith("[not_found] ")


async def test_remember_search_and_decisions_through_mcp(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        note = await client.call_tool(
            "memory_remember",
            {
                "text": "Kawneer glass supplier raised prices 8% from March",
                "tags": ["pricing"],
                "apps": ["quote-engine"],
            },
        )
        assert not note.is_error, text_of(note)
        first = await client.call_tool(
            "memory_log_decision",
            {"decision": "Use Kawneer for curtain walling", "rationale": "best lead times", "apps": ["quote-engine"]},
        )
        second = await client.call_tool(
            "memory_log_decision",
            {
                "decision": "Use Schueco for curtain walling",
                "rationale": "Kawneer price rise",
                "supersedes": first.structured_content["id"],
            },
        )
        assert second.structured_content["supersedes"] == first.structured_content["id"]
        found = await client.call_tool("memory_search", {"query": "Kawneer prices"})
        hits = found.structured_content["hits"]
        assert ("note", note.structured_content["id"]) in {(h["kind"], h["id"]) for h in hits}
        decisions = await client.call_tool("memory_search", {"query": "curtain walling", "kinds": ["decision"]})
        assert {h["id"] for h in decisions.structured_content["hits"]} == {
            first.structured_content["id"],
            second.structured_content["id"],
        }
        recent = await client.call_tool("memory_recent_activity", {"limit": 5})
        assert len(recent.structured_content["items"]) == 3


async def test_empty_and_oversized_input_get_clear_errors(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        empty = await client.call_tool("memory_search", {"query": "   "})
        huge = await client.call_tool("memory_remember", {"text": "x" * (300 * 1024)})
        unknown_tool = await client.call_tool("no_such_tool", {})
        extra = await client.call_tool("memory_search", {"query": "x", "colour": "red"})
    assert empty.is_error and "query" in text_of(empty)
    assert huge.is_error and ("limit" in text_of(huge) or "at most" in text_of(huge))
    assert unknown_tool.is_error and "tools/list" in text_of(unknown_tool)
    assert extra.is_error and "colour" in text_of(extra)


async def test_gap_analysis_over_mcp(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        await client.call_tool("registry_register", {"record": QUOTE_ENGINE})
        result = await client.call_tool("gaps_analyse", {"capabilities": ["quotation", "payroll"]})
    assert not result.is_error, text_of(result)
    report = result.structured_content
    assert "payroll" in json.dumps(report["gaps"])
    assert "quote-engine" in json.dumps(report)


async def test_health_tool_reports_ok(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        result = await client.call_tool("nexus_health", {})
    assert result.structured_content["status"] == "ok"
    assert {c["name"] for c in result.structured_content["checks"]} >= {"database", "registry"}


async def test_resources_and_prompts(services: NexusServices) -> None:
    async with Client(build_mcp_server(services)) as client:
        await client.call_tool("registry_register", {"record": QUOTE_ENGINE})
        registry = await client.read_resource("nexus://registry")
        assert json.loads(registry.contents[0].text)[0]["slug"] == "quote-engine"
        app = await client.read_resource("nexus://apps/quote-engine")
        assert json.loads(app.contents[0].text)["name"] == "Quote Engine"
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert {"find_gaps", "portfolio_review", "record_decision"} <= prompts
        rendered = await client.get_prompt("find_gaps", {"capabilities": "credit checks"})
        assert "credit checks" in rendered.messages[0].content.text
