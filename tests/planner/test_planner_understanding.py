"""What the owner sees when the planner cannot, should not, or must not act (issue #11), in the demo world.

The demo's five satellites (in process, through their MCP server objects), Nexus's own tools and a
registry that also holds apps nobody can call: see ``demo_world.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from demo_world import World, open_world

from nexus_agent.auth import Principal, Role
from nexus_agent.planner import Budget, ModelTurn, OfferedTool, ToolCallRequest
from tools.base import ToolCall
from tools.gap_tools import GapsInput, gaps_analyse

pytestmark = pytest.mark.anyio

NOW = datetime.fromisoformat("2026-03-10T09:00:00+00:00")
CHASE = "quote-engine__chase_quote"
SECRET = "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"


class Scripted:
    """A planner model that asks for the given calls once, then answers."""

    name = "scripted"

    def __init__(self, *calls: ToolCallRequest) -> None:
        self.calls = list(calls)

    async def next_turn(self, system: str, messages: Sequence[Any], tools: Sequence[OfferedTool]) -> ModelTurn:
        if self.calls:
            calls, self.calls = self.calls, []
            return ModelTurn(tool_calls=calls)
        return ModelTurn(text="Done.")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await open_world(NOW, home=tmp_path)
    yield w
    w.database.close()


async def test_a_request_nothing_reachable_covers_is_answered_i_cant_and_reported_by_gaps(world: World) -> None:
    result = await world.planner.run("Reserve 40 lengths of the 50mm mullion for ORD-5540")
    assert result.status == "no_action" and not result.calls and not world.provider.calls
    assert "I can't" in result.answer and "stock-ledger" in result.answer  # registered, but cannot be called
    assert result.unmet

    report = await gaps_analyse(ToolCall(services=world.services, actor="owner"), GapsInput())
    assert any("reserve" in c for c in report.asked_not_covered)
    assert "Asked for, not covered" in report.to_text() and "asked by owner (owner)" in report.to_text()


async def test_an_ask_only_the_owners_tools_cover_is_the_roles_limit_not_a_gap(world: World) -> None:
    agent = Principal(name="bot", role=Role.AGENT)
    result = await world.planner.run("Chase quote Q-1043", principal=agent)
    assert not world.provider.calls
    assert CHASE in result.answer and "the agent role may not call" in result.answer and "owner can" in result.answer
    assert "none of the tools I can reach" not in result.answer
    report = await gaps_analyse(ToolCall(services=world.services, actor="owner"), GapsInput())
    assert not any("chase" in c.lower() for c in report.asked_not_covered)  # covered: not a gap


async def test_an_agents_ask_no_tool_covers_is_reported_as_the_agents(world: World) -> None:
    agent = Principal(name="bot", role=Role.AGENT)
    await world.planner.run("Reserve 40 lengths of the 50mm mullion for ORD-5540", principal=agent)
    report = await gaps_analyse(ToolCall(services=world.services, actor="owner"), GapsInput())
    assert any("reserve" in c and "asked by bot (agent)" in c for c in report.asked_not_covered)


async def test_an_order_with_no_target_is_a_question_not_a_guess(world: World) -> None:
    result = await world.planner.run("Chase the quote")
    assert result.status == "needs_input" and not result.calls and not world.provider.calls
    assert "quote_id" in result.question and result.question in result.answer


async def test_a_question_is_never_answered_with_a_side_effect(tmp_path: Path) -> None:
    model = Scripted(ToolCallRequest("w", CHASE, {"quote_id": "Q-1043"}))
    world = await open_world(NOW, home=tmp_path, model=model)
    try:
        result = await world.planner.run("Which quotes are still waiting for an answer?")
    finally:
        world.database.close()
    assert [(c.tool, c.status) for c in result.calls] == [(CHASE, "invalid")]
    assert "question" in result.calls[0].error and not world.provider.calls


async def test_a_secret_in_any_call_is_refused_and_never_shown(tmp_path: Path) -> None:
    search = "enquiries__search_enquiries"  # read-only: refused all the same
    model = Scripted(ToolCallRequest("s", search, {"query": f"token {SECRET}"}))
    world = await open_world(NOW, home=tmp_path, model=model)
    try:
        result = await world.planner.run("Find the enquiry about the token")
        shown = await world.planner.get(result.plan_id)
    finally:
        world.database.close()
    assert result.calls[0].status == "invalid" and "secret" in result.calls[0].error
    assert not world.provider.calls
    assert SECRET not in shown.model_dump_json() and SECRET not in result.answer


async def test_calls_per_turn_are_capped_and_the_same_side_effect_is_made_once(tmp_path: Path) -> None:
    same = [ToolCallRequest(f"c{i}", CHASE, {"quote_id": "Q-1043"}) for i in range(3)]
    world = await open_world(NOW, home=tmp_path, model=Scripted(*same))
    try:
        result = await world.planner.run("Chase Q-1043", budget=Budget(max_calls_per_turn=2))
    finally:
        world.database.close()
    assert [c.status for c in result.calls] == ["awaiting_approval", "invalid"]
    assert "made once" in result.calls[1].error
    assert "over the cap of 2 calls per turn" in result.answer


async def test_portfolio_questions_use_the_registry_with_their_filters(world: World) -> None:
    stock = await world.planner.run("Which apps can reserve stock for an order?")
    assert [(c.tool, c.arguments) for c in stock.calls] == [("registry_list", {"text": "reserve stock order"})]
    assert stock.status == "succeeded" and "stock-ledger" in stock.answer
    suspended = await world.planner.run("Which of our apps are suspended?")
    assert [(c.tool, c.arguments) for c in suspended.calls] == [("registry_list", {"status": ["suspended"]})]
    assert "glazing-portal" in suspended.answer


async def test_names_in_memory_are_recalled_and_the_answer_cites_them_with_dates(tmp_path: Path) -> None:
    note = {"text": "Kawneer raised prices 8% from 1 April", "date": "2026-03-02"}
    world = await open_world(NOW, home=tmp_path, notes=[note])
    try:
        result = await world.planner.run("Anything from Kawneer lately?")
    finally:
        world.database.close()
    assert [(c.tool, c.arguments) for c in result.calls] == [("memory_search", {"query": "Kawneer"})]
    assert "(2026-03-02): Kawneer raised prices 8%" in result.answer


async def test_done_nothing_is_never_success(world: World) -> None:
    result = await world.planner.run("Run payroll for the fitters")
    assert result.status == "no_action" and "Done (0): nothing" in result.answer
