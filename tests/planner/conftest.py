from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # planner_catalogue, shared with benchmarks/

from planner_catalogue import FakeSatellites, records
from planner_support import MakePlanner

from nexus_agent.planner import (
    PLANNER_MIGRATIONS,
    CompositeProvider,
    NexusToolProvider,
    Planner,
    PlannerModel,
    SqlitePlanStateStore,
)
from nexus_agent.services import NexusServices
from nexus_agent.testing.fake_anthropic import FakeAnthropic, client_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def satellites() -> FakeSatellites:
    return FakeSatellites()


@pytest.fixture
def registered(services: NexusServices) -> NexusServices:
    """Services whose registry holds the sixteen satellites (one suspended)."""
    for record in records():
        services.registry.register_sync(record, actor="test")  # type: ignore[attr-defined]
    services.database.migrate([PLANNER_MIGRATIONS])
    return services


@pytest.fixture
def make_planner(registered: NexusServices, satellites: FakeSatellites) -> MakePlanner:
    def make(model: PlannerModel, **options: Any) -> Planner:
        deps: dict[str, Any] = {
            "memory": registered.memory,
            "registry": registered.registry,
            "provider": CompositeProvider([NexusToolProvider(registered), options.pop("satellites", satellites)]),
            "states": SqlitePlanStateStore(registered.database),
        }
        return Planner(model=model, **{**deps, **options})

    return make


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
async def fake_api(fake_server: tuple[FakeAnthropic, str]) -> AsyncIterator[tuple[FakeAnthropic, Any]]:
    """The scripted Anthropic API on 127.0.0.1 and a real AsyncAnthropic client pointed at it."""
    fake, base_url = fake_server
    async with client_for(base_url) as client:
        yield fake, client
