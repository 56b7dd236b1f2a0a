"""Tool discovery: unique names, schemas and annotations, per-satellite failures, caching."""

from __future__ import annotations

import re

import anyio
import mcp_types as types
import pytest

from nexus_agent.satellites import qualify, split_qualified
from nexus_agent.satellites.discovery import build_listing

pytestmark = pytest.mark.anyio
MCP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def test_qualified_names_use_slug_and_mcp_characters():
    assert qualify("quote-engine", "get_quote") == "quote-engine__get_quote"
    assert qualify("crm", "find customer/by:name") == "crm__find_customer_by_name"
    assert split_qualified("quote-engine__get__quote") == ("quote-engine", "get__quote")


def test_qualified_names_stay_short_and_unique():
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    a, b = qualify("crm", long_a), qualify("crm", long_b)
    assert a != b and len(a) <= 128 and len(b) <= 128
    assert MCP_NAME.match(a) and MCP_NAME.match(b)
    first = qualify("crm", "a b")
    second = qualify("crm", "a_b", taken={first})
    assert first == "crm__a_b" and second != first and MCP_NAME.match(second)


def test_tool_with_an_invalid_json_schema_is_skipped_with_a_warning():
    tools = [
        types.Tool(name="fine", input_schema={"type": "object"}),
        types.Tool(name="broken", input_schema={"type": "object", "properties": {"a": {"type": "strang"}}}),
    ]
    listing = build_listing("crm", tools, 0.0)
    assert [t.name for t in listing.tools] == ["fine"]
    assert "broken" in listing.warnings[0]


async def test_lists_tools_with_qualified_names_schemas_and_annotations(sats, make_pool):
    async with make_pool([sats.record("good")]) as pool:
        with anyio.fail_after(10):
            listing = await pool.list_tools()
    tools = {t.qualified_name: t for t in listing.tools}
    assert set(tools) == {"good__echo", "good__peek", "good__poke", "good__count", "good__odd_name_with_chars"}
    assert all(MCP_NAME.match(name) for name in tools)
    echo = tools["good__echo"]
    assert echo.input_schema["required"] == ["text"]
    assert echo.description == "Repeat text."
    assert tools["good__peek"].read_only and tools["good__peek"].retryable
    assert not echo.retryable
    mcp_tool = echo.to_mcp_tool()
    assert mcp_tool.name == "good__echo" and mcp_tool.input_schema == echo.input_schema
    assert listing.errors == {}


async def test_one_broken_satellite_never_hides_the_others(sats, make_pool):
    records = [
        sats.record("good"),
        sats.record("badlist"),
        sats.record("junk"),
        sats.record("gone", "down"),
        sats.record("legacy"),
    ]
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            listing = await pool.list_tools()
    slugs = {t.slug for t in listing.tools}
    assert slugs == {"good", "legacy"}
    assert set(listing.errors) == {"badlist", "junk", "gone"}
    assert "could not understand" in listing.errors["badlist"]
    assert "inputSchema" in listing.errors["badlist"]
    assert "did not answer with MCP" in listing.errors["junk"]
    assert "unreachable" in listing.errors["gone"]
    assert [t.name for t in listing.tools if t.slug == "legacy"] == ["echo"]
    assert "broken" in listing.warnings["legacy"][0]


async def test_filters_by_satellite_capability_and_text(sats, make_pool):
    records = [sats.record("good", capabilities=["echoing"]), sats.record("legacy", capabilities=["history"])]
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            only_good = await pool.list_tools("good")
            by_capability = await pool.list_tools(capability="History")
            by_text = await pool.list_tools(text="repeat")
    assert {t.slug for t in only_good.tools} == {"good"}
    assert {t.slug for t in by_capability.tools} == {"legacy"}
    assert [t.qualified_name for t in by_text.tools] == ["good__echo"]


async def test_tool_list_is_cached_until_its_ttl_passes(sats, make_pool, clock):
    async with make_pool([sats.record("good")], clock=clock, tools_ttl=60) as pool:
        with anyio.fail_after(10):
            await pool.list_tools()
            await pool.call("good__echo", {"text": "x"})
            await pool.list_tools()
            assert sats.traffic.count("good", "tools/list") == 1
            clock.advance(61)
            await pool.list_tools()
            assert sats.traffic.count("good", "tools/list") == 2


async def test_tools_list_changed_refreshes_the_cache(sats, make_pool, clock):
    async with make_pool([sats.record("dyn")], clock=clock, tools_ttl=3600) as pool:
        with anyio.fail_after(10):
            before = await pool.list_tools()
            assert "dyn__fresh" not in {t.qualified_name for t in before.tools}
            await pool.connection("dyn").raw.wait_listening()  # a change before this could be missed
            async with anyio.create_task_group() as tg:
                tg.start_soon(pool.wait_tools_changed)
                await pool.call("dyn__grow")
            after = await pool.list_tools()
    assert "dyn__fresh" in {t.qualified_name for t in after.tools}


async def test_satellites_that_are_not_live_are_not_connected(sats, make_pool):
    records = [sats.record("good", status="pending"), sats.record("legacy")]
    async with make_pool(records) as pool:
        with anyio.fail_after(10):
            listing = await pool.list_tools()
    assert {t.slug for t in listing.tools} == {"legacy"}
    assert sats.traffic.opens("good") == 0
