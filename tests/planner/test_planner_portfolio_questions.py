"""Questions about apps, capabilities and memory, counts and record ids, and tools that document no parameters
(issue #11, found on a portfolio imported from legacy registrations)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from demo_world import World, open_world
from planner_catalogue import obj, s

from nexus_agent.planner import OfferedTool
from nexus_agent.planner.catalogue import ToolDescriptor
from nexus_agent.planner.offline import OfflineModel

pytestmark = pytest.mark.anyio

NOW = datetime.fromisoformat("2026-03-10T09:00:00+00:00")
LEDGER = "- stock-ledger (Stock Ledger, placeholder, inventory) [not reachable]: Stock levels per yard; Reservations"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await open_world(NOW, home=tmp_path)
    yield w
    w.database.close()


async def test_what_a_named_app_can_do_is_its_registry_record_not_one_of_its_tools(world: World) -> None:
    result = await world.planner.run("What is the fabrication scheduler able to do?")
    assert [(c.tool, c.arguments) for c in result.calls] == [("registry_get", {"slug": "fabrication-scheduler"})]
    assert result.status == "succeeded" and "Workshop capacity" in result.answer


async def test_whether_anything_covers_a_capability_is_a_gap_question(world: World) -> None:
    result = await world.planner.run("Is there anything that handles workshop capacity?")
    assert [c.tool for c in result.calls] == ["gaps_analyse"]
    assert "workshop capacity" in result.calls[0].arguments["capabilities"]


async def test_what_nexus_knows_is_a_memory_search_never_an_unmet_capability(world: World) -> None:
    result = await world.planner.run("What do you remember about scaffolding hire?")
    assert [(c.tool, c.arguments) for c in result.calls] == [("memory_search", {"query": "scaffolding hire"})]
    assert result.status != "no_action" and not result.unmet


def test_i_cant_names_the_registered_app_that_has_it_even_when_no_tool_was_offered() -> None:
    turn = OfflineModel(clock=lambda: NOW).plan("How much EXT-4040 is in the south yard?", [], LEDGER)
    assert not turn.tool_calls and turn.unmet
    assert "Stock Ledger (stock-ledger) is in the registry as placeholder" in (turn.text or "")


def test_i_cant_says_why_an_app_cannot_be_called() -> None:
    context = f"- stock-ledger is UNAVAILABLE right now (its secret S is not set): its tools were left out\n{LEDGER}"
    turn = OfflineModel(clock=lambda: NOW).plan("How much EXT-4040 is in the south yard?", [], context)
    assert "its secret S is not set" in (turn.text or "")


def _tool(name: str, schema: dict[str, object], *, read_only: bool) -> OfferedTool:
    d = ToolDescriptor(name, f"{name.split('__')[1].replace('_', ' ')} for orders", schema, read_only=read_only,
                       source=name.split("__")[0], app_capabilities=("Reservations against orders",))  # fmt: skip
    return OfferedTool(d, 1.0)


def test_a_count_and_an_order_named_by_its_noun_fill_a_reservation() -> None:
    schema = obj(("sku", "qty", "order_id"), sku=s(), qty=s("integer", minimum=1), order_id=s())
    tools = [_tool("stock-ledger__reserve_stock", schema, read_only=False)]
    turn = OfflineModel(clock=lambda: NOW).plan("Reserve 6 of EXT-4040-20 against order K-19", tools)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [
        ("stock-ledger__reserve_stock", {"sku": "EXT-4040-20", "qty": 6, "order_id": "K-19"})
    ]


def test_a_tool_that_documents_no_parameters_is_not_called_blind_with_stated_values() -> None:
    free = {"type": "object", "properties": {"params": {"type": "object", "additionalProperties": True}}}
    tools = [_tool("yard-app__query_order_status", free, read_only=True)]
    turn = OfflineModel(clock=lambda: NOW).plan("What's the order status of order K-19?", tools)
    assert not turn.tool_calls and turn.question and "K-19" in turn.question
    plain = OfflineModel(clock=lambda: NOW).plan("What's the order status?", tools)
    assert [c.name for c in plain.tool_calls] == ["yard-app__query_order_status"]  # nothing stated, nothing lost


def test_i_cant_names_the_app_whose_capability_shares_the_orders_verb() -> None:
    turn = OfflineModel(clock=lambda: NOW).plan("Reserve 3 of EXT-4040 for order K-2", [], LEDGER)
    assert not turn.tool_calls and "Stock Ledger (stock-ledger)" in (turn.text or "")
