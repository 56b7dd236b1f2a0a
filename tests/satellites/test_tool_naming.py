"""The <app>__<tool> naming rule (unambiguous for any tool name, collisions resolved, stable) and what is listed."""

from __future__ import annotations

import mcp_types as types

from nexus_agent.satellites import split_qualified
from nexus_agent.satellites.discovery import build_listing


def _tool(name: str) -> types.Tool:
    return types.Tool(name=name, input_schema={"type": "object"})


def test_a_tool_name_holding_double_underscores_maps_back_to_that_tool() -> None:
    listing = build_listing("crm", [_tool("find__by__name"), _tool("find"), _tool("by__name")], 0.0)
    assert sorted(listing.by_qualified) == ["crm__by__name", "crm__find", "crm__find__by__name"]
    for qualified, tool in listing.by_qualified.items():
        assert split_qualified(qualified)[0] == "crm"  # a slug has no '_': the first '__' ends it
        assert qualified == f"crm__{tool.name}"


def test_a_plain_name_keeps_its_name_whatever_the_listing_order() -> None:
    for order in (["a b", "a_b"], ["a_b", "a b"]):
        listing = build_listing("crm", [_tool(n) for n in order], 0.0)
        assert listing.by_qualified["crm__a_b"].name == "a_b"
        (other,) = [q for q, t in listing.by_qualified.items() if t.name == "a b"]
        assert other.startswith("crm__a_b-") and other != "crm__a_b"


def test_a_tool_that_runs_only_as_a_task_is_not_listed_and_says_why() -> None:
    task_only = types.Tool(
        name="long_report", input_schema={"type": "object"}, execution=types.ToolExecution(task_support="required")
    )
    maybe_task = types.Tool(
        name="quick_report", input_schema={"type": "object"}, execution=types.ToolExecution(task_support="optional")
    )
    listing = build_listing("crm", [task_only, maybe_task], 0.0)
    assert list(listing.by_qualified) == ["crm__quick_report"]  # an optional task runs as an ordinary call
    assert any("long_report" in w and "task" in w for w in listing.warnings)
