"""The planner's MCP tools: instruct, plan_get, plan_approve, plan_reject, plan_resume.

Through the SDK's in-memory client: on Nexus's own server (pending-plan path)
and on a small server that hands the request context to the tools the way
``ToolCall.context`` will, to exercise approval by MCP elicitation on both
protocol generations (back-channel and ``input_required`` rounds).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import ElicitResult
from planner_catalogue import FakeSatellites
from planner_support import MakePlanner

from nexus_agent.planner import OfflineModel, Planner
from nexus_agent.planner.tools import PLANNER_TOOL_NAMES, PLANNER_TOOLS, make_planner_tools
from nexus_agent.server import build_mcp_server
from nexus_agent.services import NexusServices
from tools.base import ToolCall

pytestmark = pytest.mark.anyio

CHASER = "Send a chaser on quote Q-1043"


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return dict(result.structured_content)
    return json.loads(result.content[0].text)


async def test_planner_tools_on_nexus_server_plan_wait_approve_reject(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    planner = make_planner(OfflineModel())
    server = build_mcp_server(registered, tools=make_planner_tools(lambda services: planner))
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) >= PLANNER_TOOL_NAMES
        assert tools["plan_get"].annotations.read_only_hint is True
        assert tools["plan_approve"].annotations.destructive_hint is True
        assert {"instruction", "dry_run", "budget"} <= set(tools["instruct"].input_schema["properties"])

        pending = structured(await client.call_tool("instruct", {"instruction": CHASER}))
        assert pending["status"] == "awaiting_approval" and "plan_approve" in pending["next_action"]
        plan_id = pending["plan_id"]
        assert structured(await client.call_tool("plan_get", {"plan_id": plan_id}))["status"] == "awaiting_approval"
        done = structured(await client.call_tool("plan_approve", {"plan_id": plan_id, "note": "go"}))
        assert done["status"] == "succeeded" and satellites.calls["quote-engine__send_quote_chaser"] == 1

        again = await client.call_tool("plan_approve", {"plan_id": plan_id})
        assert again.is_error and "[conflict]" in again.content[0].text

        other = structured(await client.call_tool("instruct", {"instruction": CHASER, "budget": {"max_steps": 3}}))
        assert other["budget"]["max_steps"] == 3
        rejected = structured(await client.call_tool("plan_reject", {"plan_id": other["plan_id"], "reason": "no"}))
        assert rejected["status"] == "cancelled"
        resumed = await client.call_tool("plan_resume", {"plan_id": other["plan_id"]})
        assert resumed.is_error and "is cancelled" in resumed.content[0].text

        dry = structured(await client.call_tool("instruct", {"instruction": CHASER, "dry_run": True}))
        assert dry["status"] == "dry_run" and dry["calls"][0]["status"] == "would_run"
    assert satellites.calls["quote-engine__send_quote_chaser"] == 1


async def test_without_a_configured_planner_the_tools_say_how_to_fix_it(registered: NexusServices) -> None:
    async with Client(build_mcp_server(registered, tools=PLANNER_TOOLS)) as client:
        result = await client.call_tool("plan_get", {"plan_id": 1})
    assert result.is_error and "[config_error] the planner is not configured" in result.content[0].text


def context_server(services: NexusServices, planner: Planner) -> MCPServer[Any]:
    """A server that gives the planner tools the request context, as ``ToolCall.context`` will."""
    specs = {s.name: s for s in make_planner_tools(lambda _: planner)}
    server: MCPServer[Any] = MCPServer("planner-elicitation")

    @server.tool(name="instruct")
    async def instruct(instruction: str, ctx: Context) -> Any:
        call = ToolCall(services=services, actor="owner")
        call.context = ctx  # type: ignore[attr-defined]
        result = await specs["instruct"].invoke(call, {"instruction": instruction})
        return result.model_dump(mode="json") if hasattr(result, "plan_id") else result

    return server


def answering(action: str, approve: bool | None = None, asked: list[str] | None = None) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        if asked is not None:
            asked.append(params.message)
        content = {"approve": approve} if action == "accept" else None
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("answer", "expected_status", "sent"),
    [
        (("accept", True), "succeeded", 1),
        (("accept", False), None, 0),
        (("decline", None), None, 0),
        (("cancel", None), "awaiting_approval", 0),
    ],
)
async def test_instruct_asks_the_owner_by_elicitation(
    make_planner: MakePlanner,
    satellites: FakeSatellites,
    registered: NexusServices,
    mode: str,
    answer: tuple[str, bool | None],
    expected_status: str | None,
    sent: int,
) -> None:
    asked: list[str] = []
    server = context_server(registered, make_planner(OfflineModel()))
    async with Client(server, mode=mode, elicitation_callback=answering(*answer, asked=asked)) as client:  # type: ignore[arg-type]
        result = structured(await client.call_tool("instruct", {"instruction": CHASER}))
    assert asked and "quote-engine__send_quote_chaser" in asked[0] and "Q-1043" in asked[0]
    declined = "cancelled"  # declined inline or the plan rejected: either way nothing was done
    assert result["status"] == (expected_status or declined)
    assert satellites.calls["quote-engine__send_quote_chaser"] == sent
    if sent == 0 and expected_status != "awaiting_approval":
        assert result["calls"][0]["status"] == "rejected"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_that_cannot_elicit_gets_a_pending_plan(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices, mode: str
) -> None:
    server = context_server(registered, make_planner(OfflineModel()))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        result = structured(await client.call_tool("instruct", {"instruction": CHASER}))
    assert result["status"] == "awaiting_approval"
    assert not satellites.calls


async def test_nexus_server_elicits_once_tool_call_carries_the_context(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices
) -> None:
    if "context" not in getattr(ToolCall, "__dataclass_fields__", {}):
        pytest.skip("wire ToolCall.context (tools/base.py) and pass ctx in nexus_agent/server.py to enable this")
    planner = make_planner(OfflineModel())
    server = build_mcp_server(registered, tools=make_planner_tools(lambda services: planner))
    async with Client(server, mode="legacy", elicitation_callback=answering("accept", True)) as client:
        result = structured(await client.call_tool("instruct", {"instruction": CHASER}))
    assert result["status"] == "succeeded" and satellites.calls["quote-engine__send_quote_chaser"] == 1


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unclear_instruction_is_a_question_answered_by_elicitation_before_anything_is_done(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices, mode: str
) -> None:
    """'Send a chaser on the quote': which quote? The owner answers by elicitation; then the usual approval."""
    asked: list[str] = []

    async def owner(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        if "needs to know" in params.message:
            return ElicitResult(action="accept", content={"answer": "Q-1043"})
        return ElicitResult(action="accept", content={"approve": True})

    server = context_server(registered, make_planner(OfflineModel()))
    async with Client(server, mode=mode, elicitation_callback=owner) as client:  # type: ignore[arg-type]
        result = structured(await client.call_tool("instruct", {"instruction": "Send a chaser on the quote"}))
    assert "quote_id" in asked[0] and result["status"] == "succeeded"
    assert satellites.log == [("quote-engine__send_quote_chaser", {"quote_id": "Q-1043"})]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unclear_instruction_with_nobody_to_answer_waits_as_needs_input(
    make_planner: MakePlanner, satellites: FakeSatellites, registered: NexusServices, mode: str
) -> None:
    server = context_server(registered, make_planner(OfflineModel()))
    async with Client(server, mode=mode, elicitation_callback=answering("decline", asked=[])) as client:  # type: ignore[arg-type]
        result = structured(await client.call_tool("instruct", {"instruction": "Send a chaser on the quote"}))
    assert result["status"] == "needs_input" and "quote_id" in result["question"] and not result["calls"]
    assert not satellites.calls
