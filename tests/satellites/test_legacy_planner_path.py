"""A legacy app's side-effect message goes through the planner's approval like any satellite tool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from nexus_agent.planner import StaticApprover
from nexus_agent.planner.build import build_planner
from nexus_agent.planner.llm import ModelTurn, ToolCallRequest
from nexus_agent.planner.satellite_provider import SatelliteToolProvider
from nexus_agent.satellites import SatellitePool
from nexus_agent.services import NexusServices
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp

SECRET = "ledger-secret-0123456789abcdef"
RESERVE = {"sku": "EXT-6063-50x50", "qty": 5, "order_id": "ORD-2025-118"}


class Scripted:
    """A planner model that asks for one call, then answers."""

    name = "scripted"

    def __init__(self, call: ToolCallRequest) -> None:
        self.call = call
        self.offered: list[str] = []

    async def next_turn(self, system: str, messages: Sequence[Any], tools: Sequence[Any]) -> ModelTurn:
        if not self.offered:
            self.offered = [t.name for t in tools]
            return ModelTurn(tool_calls=[self.call], stop_reason="tool_use")
        return ModelTurn(text="done", stop_reason="end_turn")


@pytest.mark.anyio
async def test_a_legacy_action_waits_for_approval_and_runs_signed_once_approved(services: NexusServices) -> None:
    with FakeLegacyApp("stock-ledger", SECRET) as app:
        record = app.record()
        await services.registry.register(record, actor="test")
        secrets = {"SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET": SECRET}
        async with SatellitePool([record], secrets=secrets) as pool:
            model = Scripted(ToolCallRequest("c1", "stock-ledger__action_reserve_stock", RESERVE))
            planner = build_planner(services, model=model, providers=[SatelliteToolProvider(pool)])
            waiting = await planner.run("reserve stock for order ORD-2025-118", approver=StaticApprover(None))
            assert waiting.status == "awaiting_approval"
            assert app.messages == []  # nothing with a side effect ran unasked
            done = await planner.approve(waiting.plan_id, actor="owner")
    assert "stock-ledger__action_reserve_stock" in model.offered
    assert done.status == "succeeded", done
    assert [(m.type, m.params, m.signed_ok) for m in app.messages] == [("action.reserve_stock", RESERVE, True)]
