"""An app whose secret variable is not set is not offered to the planner; the planner is told which variable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from nexus_agent.planner import StaticApprover
from nexus_agent.planner.build import build_planner
from nexus_agent.planner.llm import ModelTurn
from nexus_agent.planner.satellite_provider import SatelliteToolProvider
from nexus_agent.satellites import SatellitePool
from nexus_agent.services import NexusServices
from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from nexus_agent.wire.models import AppEndpoints, AppRecord, AppStatus

SECRET = "ledger-secret-0123456789abcdef"
VARIABLE = "SATELLITE_STOCK_LEDGER_WEBHOOK_SECRET"
TOOL = "stock-ledger__action_reserve_stock"


class Recording:
    """A planner model that records what it was offered and told, and answers without calling anything."""

    name = "recording"

    def __init__(self) -> None:
        self.offered: list[str] = []
        self.told = ""

    async def next_turn(self, system: str, messages: Sequence[Any], tools: Sequence[Any]) -> ModelTurn:
        self.offered = [t.name for t in tools]
        self.told = system + "\n" + "\n".join(str(m) for m in messages)
        return ModelTurn(text="I can't", stop_reason="end_turn")


@pytest.mark.anyio
async def test_a_legacy_app_without_its_webhook_secret_is_left_out_naming_the_variable(
    services: NexusServices,
) -> None:
    with FakeLegacyApp("stock-ledger", SECRET) as app:
        record = app.record()
        await services.registry.register(record, actor="test")
        async with SatellitePool([record], secrets={}) as pool:
            provider = SatelliteToolProvider(pool)
            assert TOOL in {d.name for d in await provider.descriptors()}  # its tools list without the secret
            available = provider.is_available(TOOL)
            assert isinstance(available, str) and f"its secret {VARIABLE} is not set" in available
            model = Recording()
            planner = build_planner(services, model=model, providers=[provider])
            await planner.run("reserve 5 of EXT-6063-50x50 for order ORD-2025-118", approver=StaticApprover(None))
        assert TOOL not in model.offered
        assert f"stock-ledger is UNAVAILABLE right now (its secret {VARIABLE} is not set" in model.told

        async with SatellitePool([record], secrets={VARIABLE: SECRET}) as pool:
            assert pool.unset_secret("stock-ledger") is None
            assert SatelliteToolProvider(pool).is_available(TOOL) is True


@pytest.mark.anyio
async def test_only_a_live_app_that_names_a_token_variable_needs_it() -> None:
    def app(slug: str, status: AppStatus, token_env: str | None) -> AppRecord:
        ep = AppEndpoints(mcp_url=f"https://{slug}.example.test/mcp", token_env=token_env)
        return AppRecord(slug=slug, name=slug, status=status, endpoints=ep)

    records = [
        app("quotes", AppStatus.active, "SATELLITE_QUOTES_TOKEN"),
        app("open", AppStatus.active, None),
        app("draft", AppStatus.placeholder, "SATELLITE_DRAFT_TOKEN"),
        app("paid", AppStatus.active, "SATELLITE_PAID_TOKEN"),
    ]
    async with SatellitePool(records, secrets={"SATELLITE_PAID_TOKEN": "t" * 32}) as pool:
        assert {r.slug: pool.unset_secret(r.slug) for r in records} == {
            "quotes": "SATELLITE_QUOTES_TOKEN",
            "open": None,
            "draft": None,
            "paid": None,
        }
